"""Chunk-by-chunk reads of unsharded zarr arrays, without zarr's per-read machinery.

zarr-python's ``array[key]`` costs about 0.5 ms of CPU per chunk on a local store (its
indexers, buffer prototypes, codec pipeline and one event-loop task per chunk), ten times
the read and the decode themselves; over HTTP it is 16 ms of CPU for a 256² tile of 64²
chunks where fetching and decoding the same chunks costs 10 ms. Those milliseconds hold the
GIL that the main thread needs to draw, so a pan over many chunks stutters.

:class:`ChunkReader` reads a basic selection (integers and unit-step slices) itself: the
covered chunks' keys from the array's own metadata, their bytes from the array's own store
(files read directly for a :class:`~zarr.storage.LocalStore`; ``store.get`` on zarr's event
loop, all chunks at once within zarr's concurrency limit, for every other store, so HTTP
goes through the same fsspec code and its timeouts), decoded with numcodecs in the calling
worker thread. Missing chunks are the fill value. It handles the layouts zarr writes by
default and the common compressors; anything else (sharding, transposes, filters, other
codecs, non-numeric dtypes, fancy indexing) returns ``None`` from :meth:`ChunkReader.for_array`
or :meth:`ChunkReader.read`, and the caller reads through zarr as before. A chunk whose
decoded size is not its shape's is an error (truncated or corrupt), never a wrong picture.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ChunkReader", "CorruptChunkError"]

#: numcodecs codec ids whose ``decode`` returns the raw chunk bytes (zarr v2 compressors).
_V2_COMPRESSORS = frozenset({"zstd", "blosc", "gzip", "zlib", "lz4", "bz2", "lzma"})

Decode = Callable[[Any], Any]


class CorruptChunkError(ValueError):
    """A chunk decoded to the wrong number of bytes: the stored chunk is truncated or corrupt."""


@dataclass(frozen=True, slots=True)
class _Axis:
    """One axis of a selection: its data range, chunk size and whether it is kept."""

    start: int
    stop: int
    chunk: int
    keep: bool  # a slice (kept in the result) rather than an integer (dropped)

    def chunks(self) -> range:
        if self.stop <= self.start:
            return range(0)
        return range(self.start // self.chunk, (self.stop - 1) // self.chunk + 1)

    def part(self, c: int) -> tuple[slice | int, slice | int]:
        """Where chunk ``c`` meets the range: (index into the chunk, index into the result)."""
        lo = max(self.start, c * self.chunk)
        hi = min(self.stop, (c + 1) * self.chunk)
        if not self.keep:
            return lo - c * self.chunk, 0
        return slice(lo - c * self.chunk, hi - c * self.chunk), slice(
            lo - self.start, hi - self.start
        )


class ChunkReader:
    """Reads basic selections of one unsharded zarr array chunk by chunk (see the module)."""

    __slots__ = (
        "_chunk_key",
        "_chunks",
        "_decoders",
        "_fill",
        "_order",
        "_out_dtype",
        "_root",
        "_shape",
        "_store",
        "_stored_dtype",
    )

    def __init__(
        self,
        array: Any,
        decoders: Sequence[Decode],
        stored_dtype: np.dtype[Any],
        order: str,
        fill: Any,
    ) -> None:
        self._shape = tuple(int(n) for n in array.shape)
        self._chunks = tuple(int(c) for c in array.chunks)
        self._decoders = tuple(decoders)
        self._stored_dtype = stored_dtype
        # native byte order: what the texture upload and numpy's fast paths want
        self._out_dtype = np.dtype(array.dtype).newbyteorder("=")
        self._order: Any = order
        self._fill = fill
        self._store = array.store_path.store
        prefix = str(array.store_path.path).strip("/")
        encode = array.metadata.encode_chunk_key
        self._chunk_key: Callable[[tuple[int, ...]], str] = (
            (lambda c: f"{prefix}/{encode(c)}") if prefix else encode
        )
        self._root: Path | None = _local_root(self._store)

    @classmethod
    def for_array(cls, array: Any) -> ChunkReader | None:
        """A reader for ``array`` (a :class:`zarr.Array`), or None when its layout is not one
        this module decodes (zarr reads it then)."""
        try:
            return cls._for_array(array)
        except Exception:  # an unexpected metadata shape (another zarr version): use zarr
            return None

    @classmethod
    def _for_array(cls, array: Any) -> ChunkReader | None:
        dtype = np.dtype(array.dtype)
        if dtype.kind not in "biuf":  # numbers and bools: what a layer can show
            return None
        meta = array.metadata
        fmt = int(meta.zarr_format)
        if fmt == 2:
            if meta.filters:
                return None
            decoders: list[Decode] = []
            if meta.compressor is not None:
                if meta.compressor.codec_id not in _V2_COMPRESSORS:
                    return None
                decoders.append(meta.compressor.decode)
            fill = 0 if meta.fill_value is None else meta.fill_value
            order = getattr(meta.order, "value", meta.order)
            return cls(array, decoders, dtype, str(order), fill)
        if fmt != 3:
            return None
        stored, decoders = _v3_codecs(meta.codecs, dtype)
        if stored is None:
            return None
        return cls(array, decoders, stored, "C", meta.fill_value)

    def read(self, key: Any) -> npt.NDArray[Any] | None:
        """``array[key]`` for a basic ``key`` (integers, unit-step slices, one Ellipsis), or
        None for any other key. Raises IndexError for an out-of-range integer, like numpy;
        any store or decode error propagates."""
        axes = self._axes(key)
        if axes is None:
            return None
        out_shape = tuple(a.stop - a.start for a in axes if a.keep)
        out = np.empty(out_shape, dtype=self._out_dtype)
        coords = list(itertools.product(*(a.chunks() for a in axes)))
        if not coords:
            return out
        blobs = self._fetch([self._chunk_key(c) for c in coords])
        for c, blob in zip(coords, blobs, strict=True):
            parts = [a.part(i) for a, i in zip(axes, c, strict=True)]
            dst = tuple(p[1] for p in parts if isinstance(p[1], slice))
            if blob is None:
                out[dst] = self._fill
                continue
            src = tuple(p[0] for p in parts)
            out[dst] = self._decode(blob, c)[src]
        return out

    def _axes(self, key: Any) -> list[_Axis] | None:
        items = key if isinstance(key, tuple) else (key,)
        n_ellipsis = sum(1 for k in items if k is Ellipsis)
        if n_ellipsis > 1:
            return None
        if n_ellipsis:
            i = next(j for j, k in enumerate(items) if k is Ellipsis)
            fill = (slice(None),) * (len(self._shape) - len(items) + 1)
            items = items[:i] + fill + items[i + 1 :]
        if len(items) > len(self._shape):
            return None
        items = items + (slice(None),) * (len(self._shape) - len(items))
        axes: list[_Axis] = []
        for k, n, ch in zip(items, self._shape, self._chunks, strict=True):
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                if step != 1:
                    return None
                axes.append(_Axis(start, max(start, stop), ch, True))
                continue
            if isinstance(k, bool | np.bool_):
                return None
            try:
                i = operator.index(k)
            except TypeError:
                return None  # arrays, lists, None: zarr's (or the caller's) business
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for an axis of size {n}")
            i %= n
            axes.append(_Axis(i, i + 1, ch, False))
        return axes

    def _decode(self, blob: Any, coords: tuple[int, ...]) -> npt.NDArray[Any]:
        data = blob
        for decode in self._decoders:
            data = decode(data)
        raw = np.frombuffer(data, dtype=np.uint8)
        expected = math.prod(self._chunks) * self._stored_dtype.itemsize
        if raw.size != expected:
            raise CorruptChunkError(
                f"chunk {coords} holds {raw.size} bytes once decoded, not {expected}: it is "
                "truncated or corrupt; rewrite it"
            )
        return raw.view(self._stored_dtype).reshape(self._chunks, order=self._order)

    def _fetch(self, keys: list[str]) -> list[Any]:
        """Each key's bytes, or None where the store has no such chunk (the fill value)."""
        if self._root is not None:
            return [_read_file(self._root / k) for k in keys]
        import zarr
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        store = self._store
        prototype = default_buffer_prototype()
        limit = max(1, int(zarr.config.get("async.concurrency") or 10))

        async def fetch_all() -> list[Any]:
            gate = asyncio.Semaphore(limit)

            async def one(k: str) -> Any:
                async with gate:
                    buf = await store.get(k, prototype)
                return None if buf is None else buf.as_numpy_array()

            return list(await asyncio.gather(*(one(k) for k in keys)))

        result: list[Any] = sync(fetch_all())
        return result


def _v3_codecs(
    codecs: Sequence[Any], dtype: np.dtype[Any]
) -> tuple[np.dtype[Any] | None, list[Decode]]:
    """The stored dtype and the bytes decoders for a v3 codec chain, or (None, []) when it has
    a codec this module does not decode (sharding, transpose, checksums, others)."""
    import numcodecs
    from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec

    if not codecs or type(codecs[0]) is not BytesCodec:
        return None, []
    endian = codecs[0].endian
    stored = dtype
    if dtype.itemsize > 1:
        if endian is None:
            return None, []
        stored = dtype.newbyteorder("<" if endian.value == "little" else ">")
    decoders: list[Decode] = []
    for codec in codecs[1:]:
        if type(codec) is ZstdCodec:
            decoders.append(numcodecs.Zstd().decode)
        elif type(codec) is BloscCodec:
            decoders.append(numcodecs.Blosc().decode)
        elif type(codec) is GzipCodec:
            decoders.append(numcodecs.GZip().decode)
        else:
            return None, []
    # bytes-to-bytes codecs are undone last-applied first
    return stored, decoders[::-1]


def _local_root(store: Any) -> Path | None:
    """A LocalStore's root directory (its chunks are plain files), else None."""
    from zarr.storage import LocalStore

    if type(store) is LocalStore:
        return Path(store.root)
    return None


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
