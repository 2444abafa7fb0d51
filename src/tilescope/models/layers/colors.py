"""Colour parsing for layer models, and the default label colours.

Colours are RGBA floats in [0, 1].  Anything the ``cmap`` library understands is
accepted (names like ``'red'``, hex strings, RGB/RGBA tuples in 0-1 or 0-255).
Errors raise :class:`~tilescope.errors.LayerPropertyError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from cmap import Color, Colormap

from tilescope.errors import LayerPropertyError

__all__ = [
    "RGBA",
    "coerce_colormap",
    "default_label_colors",
    "to_rgba",
    "to_rgba_array",
]

RGBA = tuple[float, float, float, float]


def to_rgba(value: Any, name: str = "color") -> RGBA:
    """One colour as an RGBA tuple of floats in [0, 1]."""
    if _is_numeric_color(value):
        return _numeric_rgba([float(v) for v in value], value, name)
    try:
        c = Color(value)
    except (ValueError, TypeError) as e:
        raise LayerPropertyError(
            f"{name} {value!r} is not a colour: use a name ('red'), a hex string "
            f"('#ff0000'), or an RGB/RGBA tuple ({e})"
        ) from e
    r, g, b, a = (float(v) for v in c.rgba)
    return (r, g, b, a)


def _is_numeric_color(value: Any) -> bool:
    return (
        isinstance(value, np.ndarray | tuple | list)
        and len(value) in (3, 4)
        and all(isinstance(v, int | float | np.number) for v in value)
    )


def _numeric_rgba(vals: list[float], value: Any, name: str) -> RGBA:
    """RGB(A) numbers: floats in [0, 1], or 0-255 when any value exceeds 1 (like cmap)."""
    if not all(np.isfinite(vals)) or min(vals) < 0:
        raise LayerPropertyError(f"{name} {value!r} must hold finite, non-negative numbers")
    if max(vals) > 1:
        if max(vals) > 255:
            raise LayerPropertyError(f"{name} {value!r}: 0-255 values cannot exceed 255")
        vals = [v / 255.0 for v in vals]
    if len(vals) == 3:
        vals.append(1.0)
    return (vals[0], vals[1], vals[2], vals[3])


def to_rgba_array(value: Any, n: int, name: str = "color") -> npt.NDArray[np.float32]:
    """``n`` colours as a read-only ``(n, 4)`` float32 array.

    ``value`` is one colour (broadcast to all ``n``), a sequence of ``n`` colours,
    or an ``(n, 3)`` / ``(n, 4)`` float array.
    """
    if isinstance(value, np.ndarray) and value.ndim == 2:
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape[1] not in (3, 4) or arr.shape[0] not in (n, 1):
            raise LayerPropertyError(
                f"{name} array must be ({n}, 3) or ({n}, 4) (one colour per point), "
                f"got shape {arr.shape}"
            )
        if arr.shape[1] == 3:
            arr = np.concatenate([arr, np.ones((arr.shape[0], 1))], axis=1)
        if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
            raise LayerPropertyError(f"{name} values must be finite and within [0, 1]")
        out = np.broadcast_to(arr, (n, 4)).astype(np.float32)
    else:
        single = _maybe_single(value, name)
        if single is not None:
            out = np.tile(np.asarray(single, dtype=np.float32), (n, 1))
        else:
            seq = list(value)
            if len(seq) != n:
                raise LayerPropertyError(
                    f"{name} has {len(seq)} colours but there are {n} points; give one colour "
                    "or one per point"
                )
            out = np.array([to_rgba(v, name) for v in seq], dtype=np.float32).reshape(n, 4)
    out.setflags(write=False)
    return out


def _maybe_single(value: Any, name: str) -> RGBA | None:
    """``value`` as one colour, or ``None`` when it is a sequence of colours."""
    if isinstance(value, str | Color):
        return to_rgba(value, name)
    if _is_numeric_color(value):
        return to_rgba(tuple(value), name)
    if isinstance(value, tuple | list | np.ndarray):
        return None
    return to_rgba(value, name)


def coerce_colormap(value: Any) -> Colormap:
    """A :class:`cmap.Colormap` from a name, a Colormap, or any ``cmap`` colormap-like."""
    if isinstance(value, Colormap):
        return value
    try:
        cm = Colormap(value)
        lut = np.asarray(cm.lut(8), dtype=np.float64)  # cmap accepts [] and {}; drawing fails
        if lut.shape != (8, 4) or not np.all(np.isfinite(lut)):
            raise ValueError(f"it gives a colour table of shape {lut.shape}")
    except Exception as e:  # cmap raises ValueError/TypeError/KeyError depending on input
        raise LayerPropertyError(
            f"colormap {value!r} is not known: use a name such as 'gray', 'viridis', "
            f"'magma', 'green', a list of at least 2 colours, or a cmap.Colormap ({e})"
        ) from e
    return cm


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    out: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return out


def default_label_colors(labels: npt.ArrayLike, seed: float = 0.5) -> npt.NDArray[np.float32]:
    """Deterministic pseudo-random, well-saturated colours for integer labels.

    Vectorised: ``labels (K,) -> (K, 4)`` float32 RGBA, alpha 1 (the background
    label is made transparent by the caller).  The same ``(label, seed)`` always
    gives the same colour, in any process; neighbouring labels get unrelated hues.
    """
    lab = np.atleast_1d(np.asarray(labels)).astype(np.int64).ravel()
    seed_bits = np.uint64(int(seed * (1 << 32)) & 0xFFFFFFFF)
    h = _splitmix64(lab.view(np.uint64) ^ (seed_bits << np.uint64(32)))
    hue = (h & np.uint64(0xFFFF)).astype(np.float64) / 65536.0
    sat = 0.55 + 0.45 * ((h >> np.uint64(16)) & np.uint64(0xFF)).astype(np.float64) / 255.0
    val = 0.65 + 0.35 * ((h >> np.uint64(24)) & np.uint64(0xFF)).astype(np.float64) / 255.0
    rgb = _hsv_to_rgb(hue, sat, val)
    out = np.empty((lab.size, 4), dtype=np.float32)
    out[:, :3] = rgb
    out[:, 3] = 1.0
    return out


def _hsv_to_rgb(
    h: npt.NDArray[np.float64], s: npt.NDArray[np.float64], v: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    table = np.stack(
        [
            np.stack([v, t, p], axis=-1),
            np.stack([q, v, p], axis=-1),
            np.stack([p, v, t], axis=-1),
            np.stack([p, q, v], axis=-1),
            np.stack([t, p, v], axis=-1),
            np.stack([v, p, q], axis=-1),
        ]
    )
    out: npt.NDArray[np.float64] = table[i, np.arange(h.size)]
    return out
