"""Tile shapes that follow the store's chunks, so a tile never fetches a chunk twice.

A stored level read through zarr, dask or a TIFF's tiles is fetched chunk by chunk. When a
tile spans whole chunks (its size a multiple of the chunk size, its origin on a chunk
boundary), each chunk is fetched for exactly one tile and a pan fetches only newly exposed
chunks. Chunks far larger than a tile are split into tiles that divide them evenly (each read
is then a part of one chunk; the store may fetch the chunk for each part).

Pure functions on shapes; any thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["chunk_shape_2d", "tile_shape_for_chunks"]


def chunk_shape_2d(array: Any, displayed: Sequence[int]) -> tuple[int, int] | None:
    """The chunk size of ``array`` along its two displayed axes, or None when unknown.

    Understands zarr (``chunks`` as a tuple of ints) and dask (``chunks`` as a tuple of
    per-axis block sizes: the first block is the regular size).
    """
    chunks = getattr(array, "chunks", None)
    if not isinstance(chunks, tuple) or len(chunks) <= max(displayed):
        return None
    out: list[int] = []
    for axis in displayed:
        c = chunks[axis]
        if isinstance(c, tuple):
            c = c[0] if c else None
        if not isinstance(c, int) or isinstance(c, bool) or c < 1:
            return None
        out.append(int(c))
    return (out[0], out[1])


def tile_shape_for_chunks(
    chunks: tuple[int, int] | None, default: int = 256, maximum: int = 1024
) -> tuple[int, int]:
    """A tile shape aligned to ``chunks`` (per axis), near ``default`` and at most ``maximum``.

    Small chunks: the smallest multiple of the chunk that reaches ``default`` (capped at the
    largest multiple within ``maximum``). Chunks up to ``maximum``: the chunk itself. Larger
    chunks: the largest divisor of the chunk that is at most ``default`` and at least a
    quarter of it, else ``default`` (reads are then unaligned, but bounded).
    """
    if chunks is None:
        return (default, default)
    return (_axis(chunks[0], default, maximum), _axis(chunks[1], default, maximum))


def _axis(chunk: int, default: int, maximum: int) -> int:
    if chunk >= default:
        if chunk <= maximum:
            return chunk
        for size in range(default, max(default // 4, 1) - 1, -1):
            if chunk % size == 0:
                return size
        return default
    k = math.ceil(default / chunk)
    while k > 1 and k * chunk > maximum:
        k -= 1
    return k * chunk
