"""Checking what a read returned before it goes anywhere near the renderer.

A data source is user code: its ``__getitem__`` may return the wrong shape (an off-by-one in
a custom reader, a truncated chunk), or values that cannot be drawn (complex, object, str).
Such a result must become a visible failed read, not a "ready" layer whose draw later fails
far from its cause. :func:`validate_read` is pure and cheap (no copy unless the input is not
an ndarray) and is run in the worker, for slices and tiles alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tilescope.errors import ReadValidationError

__all__ = ["drawable_dtype_problem", "indexed_shape", "validate_read"]

_ADVICE = (
    "convert the data to a real numeric type first "
    "(e.g. np.abs(z) or z.real for complex values, arr.astype(np.float32) for objects)"
)


def drawable_dtype_problem(dtype: Any) -> str | None:
    """Why ``dtype`` cannot be drawn, or None when it can (numeric or bool)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return f"{dtype!r} is not a numpy dtype"
    if dt.kind in "biuf":
        return None
    if dt.kind == "c":
        return f"complex values ({dt}), which have no single brightness"
    return f"values of dtype {dt}, which are not numbers"


def indexed_shape(shape: tuple[int, ...], key: tuple[int | slice, ...]) -> tuple[int, ...]:
    """The shape ``array[key]`` has for an array of ``shape`` (ints drop their axis, slices
    keep ``len(range(...))``, axes past ``key`` are kept whole): what a read must return."""
    out: list[int] = []
    for i, n in enumerate(shape):
        k = key[i] if i < len(key) else slice(None)
        if isinstance(k, slice):
            out.append(len(range(*k.indices(n))))
    return tuple(out)


def validate_read(result: Any, expected_shape: tuple[int, ...], *, what: str) -> np.ndarray:
    """``result`` as an ndarray if it has ``expected_shape`` and a drawable dtype.

    ``what`` names the read in the message (e.g. ``"layer 'cells' (level 2)"``). Raises
    :class:`~tilescope.errors.ReadValidationError` otherwise. Call in the worker.
    """
    try:
        arr = np.asarray(result)
    except Exception as e:  # e.g. a ragged sequence
        raise ReadValidationError(
            f"reading {what} returned a {type(result).__name__} that is not an array ({e}); "
            "the data source's __getitem__ must return an array"
        ) from e
    problem = drawable_dtype_problem(arr.dtype)
    if problem is not None:
        raise ReadValidationError(f"reading {what} returned {problem}; {_ADVICE}")
    if arr.shape != tuple(expected_shape):
        raise ReadValidationError(
            f"reading {what} returned shape {arr.shape}, expected {tuple(expected_shape)}; "
            "the data source's __getitem__ does not return what its shape promises "
            "(check its shape and indexing)"
        )
    return arr
