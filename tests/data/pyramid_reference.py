"""Independent references for pyramid tests: loops over output pixels (numpy slicing
truncates at the edge, so an edge group holds only the pixels present)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def _blocks(a: np.ndarray[Any, Any], axes: tuple[int, ...]) -> Any:
    out_shape = tuple(-(-s // 2) if i in axes else s for i, s in enumerate(a.shape))
    for idx in np.ndindex(*out_shape):
        region = tuple(
            slice(2 * j, 2 * j + 2) if i in axes else slice(j, j + 1) for i, j in enumerate(idx)
        )
        yield idx, a[region].ravel()


def brute_mean(a: np.ndarray[Any, Any], axes: tuple[int, ...]) -> np.ndarray[Any, Any]:
    out = np.empty(tuple(-(-s // 2) if i in axes else s for i, s in enumerate(a.shape)), a.dtype)
    for idx, values in _blocks(a, axes):
        m = sum(float(v) for v in values) / len(values)
        out[idx] = round(m) if np.issubdtype(a.dtype, np.integer) else m  # round(): half to even
    return out


def brute_mode(a: np.ndarray[Any, Any], axes: tuple[int, ...]) -> np.ndarray[Any, Any]:
    out = np.empty(tuple(-(-s // 2) if i in axes else s for i, s in enumerate(a.shape)), a.dtype)
    for idx, values in _blocks(a, axes):
        counts = Counter(values.tolist())
        best = max(counts.values())
        out[idx] = min(v for v, c in counts.items() if c == best)
    return out
