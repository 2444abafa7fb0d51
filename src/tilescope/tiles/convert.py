"""What workers turn tile pixels into before they reach the renderer.

The renderer only copies tiles into texture pages; every conversion happens where the
pixels are read, in loader workers:

- scalar images stay uint8 or uint16 when every level is of that one dtype (a texture
  holds them as they are, at a quarter or half the bytes of float32: the page memory, the
  uploads and the RAM cache shrink alike; computed mean levels round to the dtype); any
  other scalar image becomes float32 (exact for every integer up to 2**24);
- RGB(A) becomes float32 RGBA (a missing alpha channel is "opaque at any contrast
  limits": the largest float32, which the shader clamps to 1);
- labels become float32 *indices* into the layer's colour table: small unsigned labels
  (uint8, uint16, bool) are their own index; any other labels get an index on first sight
  from a :class:`LabelIndex` shared by the layer's workers, so 64-bit label ids colour
  exactly without the renderer ever running ``np.unique``.

:class:`ConvertedArray` wraps one pyramid level so that every read through it is already
converted; a :class:`~tilescope.tiles.source.TileSource` over converted levels therefore
caches, downsamples and posts converted tiles only (coarse levels built from cached
children and those built from a stored region agree).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tilescope.data.protocol import ArrayLike, shape_of
from tilescope.data.validate import indexed_shape, validate_read
from tilescope.tiles.source import materialize

__all__ = [
    "DIRECT_LABEL_DTYPES",
    "GPU_DTYPES",
    "INTEGER_TEXELS",
    "MAX_LABEL_INDICES",
    "ConvertedArray",
    "LabelIndex",
    "TileKind",
    "convert_tile",
    "for_texture",
    "texel_dtype",
    "label_indices",
    "stride_transform",
]

TileKind = Literal["image", "rgb", "labels"]

#: Label dtypes whose values are used as colour-table indices directly.
DIRECT_LABEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.bool_))

#: float32 holds every integer below 2**24 exactly: the most labels a layer can colour.
MAX_LABEL_INDICES = 1 << 24

_OPAQUE = np.float32(np.finfo(np.float32).max)

#: dtypes a texture takes as they are; anything else becomes float32.
GPU_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))

#: Labels in [0, _DIRECT_LABEL_MAX) index the colour table directly.
_DIRECT_LABEL_MAX = 1 << 16


def label_indices(data: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Exact float32 colour-table indices of a whole labels slice, and the label of each entry.

    Small non-negative labels index the table directly (the table then only changes with the
    colours); others are mapped through ``np.unique``. Worker threads: this is the expensive
    part of drawing labels (about a second for 2048² of 64-bit labels).
    """
    if data.size == 0:
        return data.astype(np.float32), np.zeros(1, np.int64)
    lo, hi = int(data.min()), int(data.max())
    if lo >= 0 and hi < _DIRECT_LABEL_MAX:
        size = max(256, 1 << math.ceil(math.log2(hi + 1)))
        return data.astype(np.float32), np.arange(size, dtype=np.int64)
    labels, inverse = np.unique(data, return_inverse=True)
    if labels.size > MAX_LABEL_INDICES:
        raise ValueError(
            f"a labels slice with {labels.size} distinct labels cannot be drawn exactly "
            f"(at most {MAX_LABEL_INDICES})"
        )
    return inverse.reshape(data.shape).astype(np.float32), labels.astype(np.int64)


def for_texture(
    data: npt.NDArray[Any], rgb: bool, limit: int, convert: bool = True
) -> tuple[npt.NDArray[Any], tuple[int, ...]]:
    """Data strided down to fit ``limit`` texels per axis and, when ``convert``, in a dtype a
    texture takes (:data:`GPU_DTYPES`); returns the array and the stride per spatial axis.

    Worker threads (slices are made texture-ready where they are read); the renderer only
    repeats it, as a no-op, for data that is ready already.
    """
    spatial = data.shape[:-1] if rgb else data.shape
    strides = tuple(max(1, math.ceil(s / limit)) for s in spatial)
    if any(s > 1 for s in strides):
        data = data[tuple(slice(None, None, s) for s in strides)]
    if convert and data.dtype not in GPU_DTYPES:
        data = data.astype(np.float32)
    return np.ascontiguousarray(data), strides


class LabelIndex:
    """Label value -> colour-table index, assigned on first sight; thread-safe.

    ``table()`` gives the label of every index so far (the renderer colours them) and a
    version that changes whenever new labels were indexed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: dict[int, int] = {}
        self._labels: list[int] = []

    def indices(self, labels: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """float32 indices of ``labels`` (same shape).  Worker threads."""
        values, inverse = np.unique(labels, return_inverse=True)
        with self._lock:
            index = self._index
            for v in values.tolist():
                if v not in index:
                    if len(self._labels) >= MAX_LABEL_INDICES:
                        raise ValueError(
                            f"more than {MAX_LABEL_INDICES} distinct labels cannot be "
                            "coloured exactly"
                        )
                    index[v] = len(self._labels)
                    self._labels.append(v)
            mapped = np.fromiter((index[v] for v in values.tolist()), np.float32, values.size)
        return mapped[inverse.reshape(labels.shape)]

    def table(self) -> tuple[npt.NDArray[np.int64], int]:
        """``(labels, version)``: the label of each index, and how many there are."""
        with self._lock:
            labels = np.array(self._labels, dtype=np.int64)
        return labels, int(labels.size)

    def __getstate__(self) -> None:
        raise TypeError(
            "a LabelIndex is shared by threads of one process; labels of this dtype "
            "cannot be loaded with a process executor (use threads)"
        )


#: scalar-image dtypes tiles keep as they are (:func:`texel_dtype`).
INTEGER_TEXELS = (np.dtype(np.uint8), np.dtype(np.uint16))


def texel_dtype(kind: TileKind, level_dtypes: Sequence[Any]) -> np.dtype[Any]:
    """The dtype a layer's tiles are converted to: its own for a scalar image whose levels
    are all uint8 or all uint16, float32 otherwise."""
    dtypes = {np.dtype(d) for d in level_dtypes}
    if kind == "image" and len(dtypes) == 1 and next(iter(dtypes)) in INTEGER_TEXELS:
        return next(iter(dtypes))
    return np.dtype(np.float32)


def convert_tile(
    pixels: npt.NDArray[Any],
    kind: TileKind,
    labels: LabelIndex | None = None,
    texel: npt.DTypeLike = np.float32,
) -> npt.NDArray[Any]:
    """Convert raw pixels ``(h, w)`` / ``(h, w, c)`` for upload (see the module docstring).

    A scalar image's tile becomes ``texel`` (:func:`texel_dtype`). An integer texel is
    kept only from pixels of that same dtype: a read of another dtype raises
    ``ValueError`` (converting would wrap or truncate its values: a wrong picture).
    """
    if kind == "labels":
        if pixels.dtype in DIRECT_LABEL_DTYPES or labels is None:
            return np.ascontiguousarray(pixels, dtype=np.float32)
        return np.ascontiguousarray(labels.indices(pixels))
    if kind == "rgb":
        out = np.empty((*pixels.shape[:-1], 4), dtype=np.float32)
        c = pixels.shape[-1]
        out[..., :c] = pixels
        if c == 3:
            out[..., 3] = _OPAQUE
        return out
    target = np.dtype(texel)
    if target in INTEGER_TEXELS and pixels.dtype != target:
        raise ValueError(
            f"the read returned {pixels.dtype} pixels where the layer's data is {target}; "
            "return the array's own dtype"
        )
    return np.ascontiguousarray(pixels, dtype=target)


@dataclass(frozen=True, slots=True, eq=False)
class ConvertedArray:
    """One level of layer data whose reads come back converted (``convert_tile``).

    Has the array protocol (``shape``, ``dtype``, ``ndim``, ``__getitem__``) so a
    :class:`~tilescope.tiles.source.TileSource` reads it like any level; reading
    materialises the region first (dask is computed in the calling worker).
    """

    array: ArrayLike
    kind: TileKind
    labels: LabelIndex | None = field(default=None)
    texel: np.dtype[Any] = field(default=np.dtype(np.float32))
    """What scalar-image tiles become (:func:`texel_dtype`)."""

    @property
    def shape(self) -> tuple[int, ...]:
        shape = tuple(int(s) for s in self.array.shape)
        return (*shape[:-1], 4) if self.kind == "rgb" else shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.texel if self.kind == "image" else np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return len(self.array.shape)

    def __getitem__(self, index: Any) -> npt.NDArray[Any]:
        """Read, validate and convert a region.  Worker threads only.

        What the source returned is checked first (the shape asked for, a numeric or bool
        dtype): a bad result is a failed load with a message saying so, not a conversion
        error (or, worse, a drawn tile).
        """
        key = index if isinstance(index, tuple) else (index,)
        raw = validate_read(
            materialize(self.array[index]),
            indexed_shape(shape_of(self.array), key),
            what="a tile region",
        )
        return convert_tile(raw, self.kind, self.labels, self.texel)


def stride_transform(
    transform: npt.NDArray[np.float64], strides: tuple[int, ...]
) -> npt.NDArray[np.float64]:
    """``transform`` (index -> world) of an array strided by ``strides`` (see
    :func:`for_texture`): texel i stands for source pixels ``i*s .. i*s + s - 1``."""
    if all(s == 1 for s in strides):
        return transform
    n = len(strides)
    scale = np.diag([*map(float, strides), 1.0])
    scale[:n, n] = [(s - 1) / 2.0 for s in strides]
    result: npt.NDArray[np.float64] = transform @ scale
    return result
