"""Downsampling by 2 for pyramids: the block kernels (mean, mode) and the level shapes.

Pure functions over numpy arrays, run by dask on each block of a level (see
:mod:`tilescope.data.pyramid`). A level-``n+1`` pixel is the statistic of the 2×2 (×2) group
of level-``n`` pixels it covers; at an odd edge the group holds only the pixels present, so a
level's size is ``ceil(n / 2)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from tilescope.errors import PyramidError

__all__ = ["Method", "downsample_block", "level_shapes"]

#: ``"mean"`` for images, ``"mode"`` for labels.
Method = Literal["mean", "mode"]


def downsample_block(block: np.ndarray[Any, Any], axes: Sequence[int], method: Method) -> Any:
    """Reduce ``block`` by 2 along ``axes``: the mean (integers rounded half-to-even back to
    the dtype) or the mode (ties go to the smallest value) of each 2×…×2 group of pixels.

    An odd-sized axis ends in a group of the pixels present (output size ``ceil(n / 2)``):
    the block is edge-padded, which repeats each present pixel of an edge group equally often,
    so neither the mean nor the mode changes.
    """
    axes = sorted(set(axes))
    pad = [(0, s % 2) if i in axes else (0, 0) for i, s in enumerate(block.shape)]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")
    if method == "mean":
        # the sum of the 2**k strided views, in float64 (exact for integers up to 2**53):
        # three times faster than a mean over reshaped axes
        total: np.ndarray[Any, Any] | None = None
        for offsets in itertools.product((0, 1), repeat=len(axes)):
            index = [slice(None)] * block.ndim
            for axis, offset in zip(axes, offsets, strict=True):
                index[axis] = slice(offset, None, 2)
            part = block[tuple(index)]
            total = part.astype(np.float64) if total is None else total + part
        assert total is not None
        total /= 2 ** len(axes)
        if np.issubdtype(block.dtype, np.integer) or block.dtype == np.bool_:
            np.rint(total, out=total)
        return total.astype(block.dtype)
    split: list[int] = []
    group_axes: list[int] = []
    for i, s in enumerate(block.shape):
        if i in axes:
            split += [s // 2, 2]
            group_axes.append(len(split) - 1)
        else:
            split.append(s)
    groups = block.reshape(split)
    if method != "mode":
        raise PyramidError(f"downsampling method must be 'mean' or 'mode', not {method!r}.")
    k = len(group_axes)
    flat = np.moveaxis(groups, group_axes, range(-k, 0))
    flat = np.sort(flat.reshape((*flat.shape[:-k], -1)), axis=-1)
    counts = (flat[..., :, None] == flat[..., None, :]).sum(axis=-1)
    first_max = counts.argmax(axis=-1)[..., None]  # sorted, so the smallest most common value
    return np.take_along_axis(flat, first_max, axis=-1)[..., 0]


def level_shapes(
    shape: Sequence[int],
    chunks: Sequence[int],
    axes: Sequence[int],
    levels: int | None = None,
    *,
    until: Sequence[int] | None = None,
) -> list[tuple[int, ...]]:
    """Shapes of the pyramid's levels, finest first, halving (rounding up) along ``axes``.

    ``levels=None``: until a level fits in one chunk along each of the ``until`` axes (default
    ``axes``; the writer passes y and x, so a z halved too never adds levels of its own). An
    explicit count is refused when a level would repeat the one before (1 pixel everywhere).
    """
    shapes = [tuple(int(s) for s in shape)]
    stop_axes = axes if until is None else until

    def smaller(s: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(-(-n // 2) if i in axes else n for i, n in enumerate(s))

    if levels is None:
        while any(shapes[-1][i] > chunks[i] for i in stop_axes):
            shapes.append(smaller(shapes[-1]))
        return shapes
    if levels < 1:
        raise PyramidError(f"levels must be at least 1, not {levels}.")
    while len(shapes) < levels:
        if all(shapes[-1][i] == 1 for i in axes):
            raise PyramidError(
                f"{levels} levels is too many for shape {tuple(shape)}: level {len(shapes) - 1} "
                f"is already 1 pixel wide; use --levels {len(shapes)} or fewer."
            )
        shapes.append(smaller(shapes[-1]))
    return shapes
