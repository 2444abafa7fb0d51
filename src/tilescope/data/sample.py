"""Built-in sample data that needs no download.

:func:`procedural_pyramid` is a huge (default 16 × 131072 × 131072 uint16) multiscale z-stack
whose pixels are computed on demand, at any level, from a closed-form function: a sum of
plane waves over many octaves ("cloud" texture). Each coarser level is the exact box-filtered
mean of the level below — a plane wave averaged over an ``f × f`` pixel box is the same wave at
the box centre scaled by ``sinc(u_y f) · sinc(u_x f)`` — so the pyramid is a true mean pyramid
and zooming never changes the picture's brightness, only its detail. It exercises everything a
user's lazily computed or remote pyramid does: reads cost real time and nothing is in RAM.

:func:`small_real_image` is a real RGB microscopy image (immunohistochemistry) shipped inside
scikit-image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ProceduralArray", "procedural_pyramid", "small_real_image"]

# The wave sum is a sum of many random-phase waves whose amplitudes add up to 1: it stays
# within [-1, 1] but spreads only ~0.05, so scale it to use most of uint16 (clipping is rare).
_COUNTS_PER_UNIT = 150000.0


@dataclass(frozen=True, slots=True)
class _Waves:
    """Plane waves ``amp · cos(2π (fy·y + fx·x) + phase + dphase·z)`` in level-0 pixels."""

    fy: npt.NDArray[np.float64]
    fx: npt.NDArray[np.float64]
    amp: npt.NDArray[np.float64]
    phase: npt.NDArray[np.float64]
    dphase: npt.NDArray[np.float64]


def _make_waves(size: int, seed: int, finest_period: float = 6.0, per_octave: int = 12) -> _Waves:
    rng = np.random.default_rng(seed)
    n_oct = max(1, int(np.floor(np.log2(size / 2 / finest_period))) + 1)
    periods = (size / 2) / 2.0 ** np.arange(n_oct)
    period = np.repeat(periods, per_octave) * rng.uniform(0.8, 1.25, n_oct * per_octave)
    theta = rng.uniform(0, np.pi, period.size)
    freq = 1.0 / period
    # Slightly pink spectrum: fine detail stays visible when zoomed in.
    amp = (period / period.max()) ** 0.15
    amp = amp / amp.sum()
    return _Waves(
        fy=freq * np.sin(theta),
        fx=freq * np.cos(theta),
        amp=amp,
        phase=rng.uniform(0, 2 * np.pi, period.size),
        dphase=rng.uniform(0.2, 0.6, period.size),
    )


def _index_list(key: Any, n: int) -> tuple[npt.NDArray[np.int64], bool]:
    """Indices selected by one basic-indexing key on an axis of length ``n``; bool = keep axis."""
    if isinstance(key, slice):
        return np.arange(*key.indices(n), dtype=np.int64), True
    if isinstance(key, (int, np.integer)):
        i = int(key)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis with size {n}")
        return np.array([i % n], dtype=np.int64), False
    raise TypeError(
        f"ProceduralArray supports integer and slice indexing only, not {type(key).__name__}"
    )


class ProceduralArray:
    """One pyramid level of the procedural sample: an array-like computed on demand.

    Satisfies tilescope's array protocol (``shape``, ``dtype``, ``ndim``, ``__getitem__`` with
    basic indexing) and ``__array__`` so ``np.asarray`` works on small levels. Reading is
    thread-safe (pure computation).
    """

    def __init__(self, shape: tuple[int, int, int], factor: int, waves: _Waves) -> None:
        self._shape = shape
        self._factor = factor
        self._waves = waves

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[np.uint16]:
        return np.dtype(np.uint16)

    @property
    def ndim(self) -> int:
        return 3

    @property
    def size(self) -> int:
        return int(np.prod(self._shape))

    @property
    def downsample_factor(self) -> int:
        """Level-0 pixels per pixel of this level, along y and x."""
        return self._factor

    def __repr__(self) -> str:
        return f"ProceduralArray(shape={self._shape}, factor={self._factor})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        out = self[...]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key: Any) -> npt.NDArray[np.uint16]:
        keys = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in keys):
            i = next(j for j, k in enumerate(keys) if k is Ellipsis)
            fill = (slice(None),) * (3 - (len(keys) - 1))
            keys = keys[:i] + fill + keys[i + 1 :]
        if len(keys) > 3:
            raise IndexError(f"too many indices: array is 3-dimensional, {len(keys)} given")
        keys = keys + (slice(None),) * (3 - len(keys))
        (zi, zkeep), (yi, ykeep), (xi, xkeep) = (
            _index_list(k, n) for k, n in zip(keys, self._shape, strict=True)
        )
        if zi.size:
            planes = np.stack([self._plane(int(z), yi, xi) for z in zi])
        else:
            planes = np.zeros((0, yi.size, xi.size), dtype=np.uint16)
        out = planes[(slice(None) if zkeep else 0, slice(None) if ykeep else 0)]
        if not xkeep:
            out = out[..., 0]
        return np.ascontiguousarray(out)

    def _plane(
        self, z: int, yi: npt.NDArray[np.int64], xi: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.uint16]:
        f = self._factor
        w = self._waves
        # Level-k pixel i is the mean of level-0 pixels [i·f, (i+1)·f): centre i·f + (f-1)/2.
        yc = yi * f + (f - 1) / 2.0
        xc = xi * f + (f - 1) / 2.0
        gain = w.amp * np.sinc(w.fy * f) * np.sinc(w.fx * f)
        # Waves finer than this level average out: skip those worth under 0.01 of a count.
        live = np.abs(gain) * _COUNTS_PER_UNIT > 0.01
        g = gain[live]
        ay = 2 * np.pi * np.outer(yc, w.fy[live])  # (H, K) phase along y of each live wave
        bx = 2 * np.pi * np.outer(xc, w.fx[live]) + (w.phase + w.dphase * z)[live]  # (W, K)
        # cos(a + b) = cos a cos b − sin a sin b, summed over the K waves: two matrix products
        # (BLAS) instead of H·W·K cosines.
        acc = (np.cos(ay) * g) @ np.cos(bx).T - (np.sin(ay) * g) @ np.sin(bx).T
        return np.clip(32768.0 + _COUNTS_PER_UNIT * acc, 0, 65535).astype(np.uint16)


def procedural_pyramid(
    size: int = 131072, depth: int = 16, tile: int = 256, seed: int = 0
) -> list[ProceduralArray]:
    """Levels of a ``depth × size × size`` procedural uint16 pyramid, halving y/x down to ≤ tile.

    Level ``k`` has shape ``(depth, ceil(size / 2**k), ceil(size / 2**k))``. Nothing is computed
    until indexed.
    """
    if size < 1 or depth < 1 or tile < 1:
        raise ValueError(f"size, depth and tile must be positive, got {size}, {depth}, {tile}")
    waves = _make_waves(size, seed)
    levels: list[ProceduralArray] = []
    factor = 1
    while True:
        n = -(-size // factor)
        levels.append(ProceduralArray((depth, n, n), factor, waves))
        if n <= tile:
            return levels
        factor *= 2


def small_real_image() -> npt.NDArray[np.uint8]:
    """A real 512 × 512 RGB immunohistochemistry image bundled with scikit-image."""
    from skimage import data

    return np.asarray(data.immunohistochemistry(), dtype=np.uint8)  # type: ignore[no-untyped-call]
