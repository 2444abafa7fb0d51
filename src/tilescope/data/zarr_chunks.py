"""Chunk-by-chunk reads of zarr arrays, without zarr's per-read machinery.

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
default and the common compressors, and sharded arrays (OME-Zarr 0.5's usual layout: each
shard's index is read with one ranged request, its checksum verified, then each covered
inner chunk with one ranged request); anything else (transposes, filters, other codecs,
non-numeric dtypes, fancy indexing) returns ``None`` from :meth:`ChunkReader.for_array` or
:meth:`ChunkReader.read`, and the caller reads through zarr as before. A chunk whose decoded
size is not its shape's, or a shard index whose checksum or size is wrong, is an error
(truncated or corrupt), never a wrong picture.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import operator
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tilescope.data.priority import lower_thread_priority

__all__ = ["ChunkReader", "CorruptChunkError"]

#: numcodecs codec ids whose ``decode`` returns the raw chunk bytes (zarr v2 compressors).
_V2_COMPRESSORS = frozenset({"zstd", "blosc", "gzip", "zlib", "lz4", "bz2", "lzma"})

Decode = Callable[[Any], Any]


class CorruptChunkError(ValueError):
    """A chunk decoded to the wrong number of bytes, or a shard index of the wrong size or
    checksum: what is stored is truncated or corrupt."""


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


#: A byte range of a stored object: (start, stop), or (-n, None) for its last n bytes.
ByteRange = tuple[int, int | None]
#: An index entry of a missing inner chunk (offset and size both 2**64 - 1).
_EMPTY = np.uint64(2**64 - 1)


@dataclass(frozen=True, slots=True)
class _Sharding:
    """Where a sharded array's inner chunks are: shards of ``per_shard`` chunks each, whose
    index (offset, size per chunk, uint64 little-endian, then a crc32c when ``checksum``)
    is at the shard's end or start."""

    per_shard: tuple[int, ...]
    at_end: bool
    checksum: bool

    @property
    def index_bytes(self) -> int:
        return 16 * math.prod(self.per_shard) + (4 if self.checksum else 0)

    def index_range(self) -> ByteRange:
        n = self.index_bytes
        return (-n, None) if self.at_end else (0, n)

    def parse_index(self, blob: Any, where: tuple[int, ...]) -> npt.NDArray[np.uint64]:
        raw = np.frombuffer(blob, dtype=np.uint8)
        if raw.size != self.index_bytes:
            raise CorruptChunkError(
                f"shard {where} has an index of {raw.size} bytes, not {self.index_bytes}: the "
                "shard is truncated or corrupt; rewrite it"
            )
        if self.checksum:
            import google_crc32c

            body, stored = raw[:-4], raw[-4:].tobytes()
            if np.uint32(google_crc32c.value(body.tobytes())).tobytes() != stored:
                raise CorruptChunkError(
                    f"shard {where}'s index fails its checksum: the shard is corrupt; rewrite it"
                )
            raw = body
        return raw.view("<u8").reshape((*self.per_shard, 2))


class ChunkReader:
    """Reads basic selections of one zarr array chunk by chunk (see the module)."""

    __slots__ = (
        "_chunk_key",
        "_chunks",
        "_decoders",
        "_fill",
        "_order",
        "_out_dtype",
        "_root",
        "_shape",
        "_sharding",
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
        sharding: _Sharding | None = None,
    ) -> None:
        self._shape = tuple(int(n) for n in array.shape)
        self._chunks = tuple(int(c) for c in array.chunks)  # inner chunks when sharded
        self._sharding = sharding
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
        from zarr.codecs import ShardingCodec

        sharding = None
        codecs = meta.codecs
        if len(codecs) == 1 and type(codecs[0]) is ShardingCodec:
            sharding = _sharding(codecs[0], meta.chunk_grid.chunk_shape)
            if sharding is None:
                return None
            codecs = codecs[0].codecs
        stored, decoders = _v3_codecs(codecs, dtype)
        if stored is None:
            return None
        return cls(array, decoders, stored, "C", meta.fill_value, sharding)

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
        blobs = self._chunk_blobs(coords)
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

    def _chunk_blobs(self, coords: list[tuple[int, ...]]) -> list[Any]:
        """Each chunk's stored bytes, or None for a chunk never written (the fill value)."""
        sharding = self._sharding
        if sharding is None:
            return self._fetch([(self._chunk_key(c), None) for c in coords])
        per = sharding.per_shard
        shard_of = [tuple(i // n for i, n in zip(c, per, strict=True)) for c in coords]
        shards = list(dict.fromkeys(shard_of))
        raw = self._fetch([(self._chunk_key(sh), sharding.index_range()) for sh in shards])
        index = {
            sh: None if blob is None else sharding.parse_index(blob, sh)
            for sh, blob in zip(shards, raw, strict=True)
        }
        wanted: list[tuple[str, ByteRange]] = []
        slot: list[int | None] = []  # which of ``wanted`` holds each chunk
        for c, sh in zip(coords, shard_of, strict=True):
            table = index[sh]
            entry = (
                None if table is None else table[tuple(i % n for i, n in zip(c, per, strict=True))]
            )
            if entry is None or (entry[0] == _EMPTY and entry[1] == _EMPTY):
                slot.append(None)
                continue
            start, size = int(entry[0]), int(entry[1])
            slot.append(len(wanted))
            wanted.append((self._chunk_key(sh), (start, start + size)))
        got = self._fetch(wanted)
        blobs: list[Any] = []
        for c, i in zip(coords, slot, strict=True):
            if i is not None and got[i] is None:
                raise CorruptChunkError(f"the shard holding chunk {c} vanished while read")
            blobs.append(None if i is None else got[i])
        return blobs

    def _fetch(self, requests: Sequence[tuple[str, ByteRange | None]]) -> list[Any]:
        """Each (key, byte range)'s bytes, or None where the store has no such key."""
        if not requests:
            return []
        if self._root is not None:
            return [_read_file(self._root / k, r) for k, r in requests]
        import zarr
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        store = self._store
        prototype = default_buffer_prototype()
        limit = max(1, int(zarr.config.get("async.concurrency") or 10))

        async def fetch_all() -> list[Any]:
            lower_thread_priority()  # on zarr's event-loop thread: it parses every response
            gate = asyncio.Semaphore(limit)

            async def one(k: str, r: ByteRange | None) -> Any:
                async with gate:
                    buf = await store.get(k, prototype, byte_range=_byte_request(r))
                return None if buf is None else buf.as_numpy_array()

            return list(await asyncio.gather(*(one(k, r) for k, r in requests)))

        try:
            result: list[Any] = sync(fetch_all())
        except BaseException as e:
            # The finished coroutines' frames (ours, zarr's, fsspec's, aiohttp's) hold the
            # tasks and buffers that hold this exception: cycles only a full garbage
            # collection frees, thousands of objects per rest on a failing store. Their
            # locals are of no use once the read failed; the traceback keeps its lines.
            traceback.clear_frames(e.__traceback__)
            raise
        return result


def _v3_codecs(
    codecs: Sequence[Any], dtype: np.dtype[Any]
) -> tuple[np.dtype[Any] | None, list[Decode]]:
    """The stored dtype and the bytes decoders for a v3 codec chain (a shard's inner chain
    for a sharded array), or (None, []) when it has a codec this module does not decode
    (transpose, checksums, nested sharding, others)."""
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


def _sharding(codec: Any, shard_shape: Sequence[int]) -> _Sharding | None:
    """The layout of a sharding codec's shards, or None for an index this module does not
    read (other index codecs)."""
    from zarr.codecs import BytesCodec, Crc32cCodec

    index_codecs = tuple(codec.index_codecs)
    if not index_codecs or type(index_codecs[0]) is not BytesCodec:
        return None
    endian = index_codecs[0].endian
    if endian is not None and endian.value != "little":
        return None
    rest = [type(c) for c in index_codecs[1:]]
    if rest not in ([], [Crc32cCodec]):
        return None
    inner = tuple(int(n) for n in codec.chunk_shape)
    shard = tuple(int(n) for n in shard_shape)
    if len(inner) != len(shard) or any(s % i for s, i in zip(shard, inner, strict=True)):
        return None
    per_shard = tuple(s // i for s, i in zip(shard, inner, strict=True))
    at_end = getattr(codec.index_location, "value", codec.index_location) == "end"
    return _Sharding(per_shard, at_end, bool(rest))


def _byte_request(r: ByteRange | None) -> Any:
    if r is None:
        return None
    from zarr.abc.store import RangeByteRequest, SuffixByteRequest

    start, stop = r
    return SuffixByteRequest(-start) if stop is None else RangeByteRequest(start, stop)


def _local_root(store: Any) -> Path | None:
    """A LocalStore's root directory (its chunks are plain files), else None."""
    from zarr.storage import LocalStore

    if type(store) is LocalStore:
        return Path(store.root)
    return None


def _read_file(path: Path, r: ByteRange | None = None) -> bytes | None:
    try:
        if r is None:
            return path.read_bytes()
        with path.open("rb") as f:
            start, stop = r
            if stop is None:  # the last -start bytes (all of a shorter file)
                size = f.seek(0, 2)
                f.seek(max(0, size + start))
                return f.read()
            f.seek(start)
            return f.read(stop - start)
    except (FileNotFoundError, NotADirectoryError):
        return None
