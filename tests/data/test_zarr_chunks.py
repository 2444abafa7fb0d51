"""The chunk-by-chunk zarr reader against zarr-python's own reads of the same arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.storage import LocalStore, MemoryStore

from http_server import LocalHTTPServer
from tilescope.data.io import read_path
from tilescope.data.remote import RemoteOptions, open_remote_store
from tilescope.data.serve import SlowHTTPServer
from tilescope.data.zarr_chunks import ChunkReader
from tilescope.data.zarr_io import NamedReads, array_location, fast_reads
from tilescope.errors import DataSourceError


def _codecs(name: str, fmt: int) -> dict[str, Any]:
    if name == "none":
        return {"compressors": None}
    if fmt == 2:
        import numcodecs

        codec = {"zstd": numcodecs.Zstd(), "blosc": numcodecs.Blosc(), "gzip": numcodecs.GZip()}
        return {"compressors": codec[name]}
    codec3 = {
        "zstd": zarr.codecs.ZstdCodec(checksum=True),
        "blosc": zarr.codecs.BloscCodec(),
        "gzip": zarr.codecs.GzipCodec(),
    }
    return {"compressors": codec3[name]}


def _array(
    store: Any,
    data: np.ndarray[Any, Any],
    chunks: tuple[int, ...],
    fmt: int,
    codec: str,
    *,
    order: str = "C",
    fill: Any = 0,
    missing: int = 0,
    shards: tuple[int, ...] | None = None,
) -> Any:
    """``data`` written by zarr-python, then chunks (or shards) with a flat index <
    ``missing`` deleted."""
    extra: dict[str, Any] = {"order": order} if fmt == 2 else {}
    if shards is not None:
        extra["shards"] = shards
    if fmt == 3 and data.dtype.itemsize > 1:
        extra["serializer"] = zarr.codecs.BytesCodec(
            endian="big" if data.dtype.byteorder == ">" else "little"
        )
    a = zarr.create_array(
        store,
        shape=data.shape,
        chunks=chunks,
        dtype=data.dtype,
        zarr_format=fmt,  # type: ignore[arg-type]
        fill_value=fill,
        **_codecs(codec, fmt),
        **extra,
    )
    a[...] = data
    if missing:
        import itertools

        stored = shards or chunks
        grid = [range(-(-n // c)) for n, c in zip(data.shape, stored, strict=True)]
        for i, coords in enumerate(itertools.product(*grid)):
            if i < missing:
                zarr.core.sync.sync(store.delete(a.metadata.encode_chunk_key(coords)))
    return zarr.open_array(store, mode="r")


@st.composite
def _basic_key(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[Any, ...]:
    key: list[Any] = []
    for n in shape:
        if draw(st.booleans()):
            key.append(draw(st.integers(-n, n - 1)))
        else:
            a = draw(st.integers(-n - 2, n + 2) | st.none())
            b = draw(st.integers(-n - 2, n + 2) | st.none())
            key.append(slice(a, b))
    if draw(st.booleans()) and key:
        cut = draw(st.integers(0, len(key)))
        return (*key[:cut], Ellipsis, *key[cut + 1 :]) if cut < len(key) else (*key, ...)
    return tuple(key)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.lists(st.integers(1, 9), min_size=1, max_size=3),
    st.sampled_from([2, 3]),
    st.sampled_from(["none", "zstd", "blosc", "gzip"]),
    st.sampled_from(["<u2", ">i2", "u1", "<f4", ">f8", "bool", "<i8"]),
    st.sampled_from(["C", "F"]),
    st.integers(0, 3),
    st.booleans(),
)
def test_basic_reads_equal_zarrs(
    data: st.DataObject,
    shape: list[int],
    fmt: int,
    codec: str,
    dtype: str,
    order: str,
    missing: int,
    sharded: bool,
) -> None:
    chunks = tuple(data.draw(st.integers(1, n + 2)) for n in shape)
    shards = None
    if sharded and fmt == 3:  # shards of 1-3 chunks per axis (some inner chunks all fill)
        shards = tuple(c * data.draw(st.integers(1, 3)) for c in chunks)
    rng = np.random.default_rng(len(shape))
    values = (rng.integers(0, 2, shape) if dtype == "bool" else rng.integers(0, 200, shape)).astype(
        dtype
    )
    fill = True if dtype == "bool" else 7
    a = _array(
        MemoryStore(),
        values,
        chunks,
        fmt,
        codec,
        order=order,
        fill=fill,
        missing=missing,
        shards=shards,
    )
    reader = ChunkReader.for_array(a)
    assert reader is not None
    key = data.draw(_basic_key(tuple(shape)))
    got = reader.read(key)
    assert got is not None
    want = np.asarray(a[key])
    assert got.shape == want.shape
    assert got.dtype == want.dtype.newbyteorder("=")  # native order, zarr's kind and size
    np.testing.assert_array_equal(got, want)


def test_local_store_reads_files_and_missing_chunks_are_the_fill_value(tmp_path: Path) -> None:
    values = np.arange(20 * 30, dtype="<u2").reshape(20, 30)
    a = _array(LocalStore(tmp_path / "a.zarr"), values, (8, 8), 3, "zstd", fill=5, missing=2)
    reads = NamedReads(a, "a.zarr")
    got = reads[3:17, 2:29]
    np.testing.assert_array_equal(got, a[3:17, 2:29])
    assert (got[:5, :14] == 5).all()  # chunks (0, 0) and (0, 1) are gone


def test_layouts_it_does_not_decode_are_read_by_zarr(tmp_path: Path) -> None:
    values = np.arange(16 * 16, dtype="u2").reshape(16, 16)
    transposed = zarr.create_array(
        MemoryStore(),
        shape=(16, 16),
        chunks=(4, 4),
        dtype="u2",
        filters=[zarr.codecs.TransposeCodec(order=(1, 0))],
    )
    transposed[...] = values
    for a in (transposed,):
        assert ChunkReader.for_array(a) is None
        np.testing.assert_array_equal(NamedReads(a, "x")[2:9, 3:15], values[2:9, 3:15])
    plain = _array(MemoryStore(), values, (4, 4), 3, "zstd")
    reader = ChunkReader.for_array(plain)
    assert reader is not None
    # fancy and strided keys are zarr's
    assert reader.read((slice(0, 8, 2), slice(None))) is None
    assert reader.read(([1, 2], slice(None))) is None
    named = NamedReads(plain, "x")
    np.testing.assert_array_equal(named[0:8:2, :], values[0:8:2, :])
    with pytest.raises(IndexError):
        named[16, 0]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_truncated_or_corrupt_chunk_fails_naming_the_array(tmp_path: Path, damage: str) -> None:
    values = np.arange(16 * 16, dtype="u2").reshape(16, 16)
    root = tmp_path / "a.zarr"
    a = _array(LocalStore(root), values, (8, 8), 3, "zstd" if damage == "garbage" else "none")
    chunk = root / "c" / "1" / "0"
    blob = chunk.read_bytes()
    chunk.write_bytes(blob[: len(blob) // 2] if damage == "truncated" else b"\x00" * len(blob))
    reads = NamedReads(a, str(root))
    np.testing.assert_array_equal(reads[0:8, :], values[0:8, :])  # other chunks are fine
    with pytest.raises(DataSourceError, match=r"a\.zarr"):
        reads[8:16, 0:8]


def test_reads_over_http_equal_local_ones(http_server: LocalHTTPServer) -> None:
    values = np.random.default_rng(1).integers(0, 4000, (3, 100, 90)).astype("<u2")
    local = _array(
        LocalStore(http_server.root / "a.zarr"), values, (1, 32, 32), 3, "zstd", missing=1
    )
    store = open_remote_store(
        http_server.url("a.zarr"), RemoteOptions(timeout_s=5.0, concurrency=4)
    )
    remote = zarr.open_array(store, mode="r")
    reader = ChunkReader.for_array(remote)
    assert reader is not None
    before = len(http_server.requests)
    got = reader.read((1, slice(10, 90), slice(None)))
    assert got is not None
    np.testing.assert_array_equal(got, local[1, 10:90, :])
    # one request per covered chunk (3 rows x 3 columns), nothing else
    assert len(http_server.requests) - before == 9
    (spec,) = read_path(http_server.url("a.zarr"), remote=RemoteOptions(timeout_s=5.0))
    np.testing.assert_array_equal(np.asarray(spec.data[2, 0:64, 0:64]), values[2, 0:64, 0:64])


def test_a_failing_request_fails_the_read_naming_the_url(http_server: LocalHTTPServer) -> None:
    values = np.zeros((64, 64), dtype="u1")
    _array(LocalStore(http_server.root / "a.zarr"), values + 3, (32, 32), 3, "zstd")
    (spec,) = read_path(http_server.url("a.zarr"), remote=RemoteOptions(timeout_s=5.0))
    http_server.fail("a.zarr/c/1/1", 500)
    np.testing.assert_array_equal(np.asarray(spec.data[0:32, :]), 3)
    with pytest.raises(DataSourceError, match=r"a\.zarr"):
        spec.data[32:64, 32:64]


def test_a_failed_remote_read_leaves_no_coroutine_locals_in_its_traceback(
    http_server: LocalHTTPServer,
) -> None:
    """A failing store's exceptions are held by the finished coroutines' frames (tasks,
    buffers): reference cycles only a full collection frees, thousands of objects per pause
    under faults. The read's traceback keeps its lines and drops those frames' locals."""
    import traceback

    values = np.zeros((64, 64), dtype="u1")
    _array(LocalStore(http_server.root / "a.zarr"), values + 3, (32, 32), 3, "zstd")
    (spec,) = read_path(http_server.url("a.zarr"), remote=RemoteOptions(timeout_s=5.0))
    http_server.fail("a.zarr/c/1/1", 500)
    with pytest.raises(DataSourceError) as info:
        spec.data[32:64, 32:64]
    frames: list[Any] = []
    error: BaseException | None = info.value
    while error is not None:  # the chain: our error, then what zarr, fsspec, aiohttp raised
        frames += [f for f, _ in traceback.walk_tb(error.__traceback__)]
        error = error.__cause__ or error.__context__
    coroutines = [f for f in frames if f.f_code.co_name in ("one", "fetch_all", "_cat_file")]
    assert coroutines, [f.f_code.co_name for f in frames]
    assert all(not f.f_locals for f in coroutines)


@pytest.mark.parametrize("location", ["end", "start"])
def test_sharded_reads_fetch_one_index_and_the_covered_chunks(
    tmp_path: Path, location: str
) -> None:
    from zarr.codecs import BytesCodec, ShardingCodec, ZstdCodec

    values = np.random.default_rng(2).integers(0, 4000, (2, 128, 128)).astype("<u2")
    # zarr-python writes the index at the end unless told
    a = zarr.create_array(
        LocalStore(tmp_path / "s.zarr"),
        shape=values.shape,
        chunks=(1, 64, 64),
        dtype="<u2",
        serializer=ShardingCodec(
            chunk_shape=(1, 32, 32),
            codecs=[BytesCodec(), ZstdCodec()],
            index_location=location,  # type: ignore[arg-type]
        ),
        compressors=None,
    )
    a[...] = values
    local = ChunkReader.for_array(zarr.open_array(LocalStore(tmp_path / "s.zarr")))
    assert local is not None
    got = local.read((1, slice(10, 100), slice(40, 128)))
    assert got is not None
    np.testing.assert_array_equal(got, values[1, 10:100, 40:128])
    with SlowHTTPServer(tmp_path) as server:  # byte ranges, as object stores serve them
        url = f"{server.url.rstrip('/')}/s.zarr"
        remote = zarr.open_array(open_remote_store(url, RemoteOptions(timeout_s=5.0)), mode="r")
        reader = ChunkReader.for_array(remote)
        assert reader is not None
        before = server.stats().requests
        got = reader.read((0, slice(0, 64), slice(32, 96)))  # 2 x 2 chunks in 2 shards
        assert got is not None
        np.testing.assert_array_equal(got, values[0, 0:64, 32:96])
        assert server.stats().requests - before == 2 + 4  # two indexes, four chunks


def test_a_damaged_shard_index_fails_instead_of_drawing_other_chunks(tmp_path: Path) -> None:
    values = np.arange(64 * 64, dtype="<u2").reshape(64, 64)
    root = tmp_path / "s.zarr"
    a = _array(LocalStore(root), values, (16, 16), 3, "none", shards=(32, 32))
    shard = root / "c" / "0" / "1"
    blob = bytearray(shard.read_bytes())
    index = 16 * 4 + 4
    # swap the first two chunks' index entries: every offset still valid, the checksum not
    first, second = slice(-index, -index + 16), slice(-index + 16, -index + 32)
    blob[first], blob[second] = blob[second], blob[first]
    shard.write_bytes(bytes(blob))
    reads = NamedReads(a, str(root))
    np.testing.assert_array_equal(reads[0:32, 0:32], values[0:32, 0:32])  # shard (0, 0)
    with pytest.raises(DataSourceError, match="checksum"):
        reads[0:16, 32:48]
    shard.write_bytes(bytes(blob[: len(blob) // 3]))  # truncated: its index is gone
    with pytest.raises(DataSourceError, match=r"s\.zarr"):
        reads[0:16, 32:48]


def test_a_zarr_array_of_the_callers_own_is_read_through_named_reads(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    """``fast_reads``: zarr arrays the caller opened (local or over HTTP) get the chunk
    reader and failures naming them; other arrays, and arrays already wrapped, pass as is."""
    values = np.arange(32 * 32, dtype="u2").reshape(32, 32)
    local = _array(LocalStore(tmp_path / "a.zarr"), values, (16, 16), 3, "zstd")
    reads = fast_reads(local)
    assert isinstance(reads, NamedReads)
    assert reads.array is local
    assert array_location(local) == str(tmp_path / "a.zarr")
    np.testing.assert_array_equal(reads[4:20, 8:30], values[4:20, 8:30])
    assert fast_reads(reads) is reads
    assert fast_reads(local) is reads  # one wrapper per array: slice signatures stay equal
    plain = np.zeros((4, 4))
    assert fast_reads(plain) is plain
    _array(LocalStore(http_server.root / "b.zarr"), values, (16, 16), 3, "zstd")
    remote = zarr.open_array(f"{http_server.url('b.zarr')}", mode="r")
    assert array_location(remote) == http_server.url("b.zarr")
    http_server.fail("b.zarr/c/1/1", 500)
    remote_reads = fast_reads(remote)
    np.testing.assert_array_equal(remote_reads[0:16, :], values[0:16, :])
    with pytest.raises(DataSourceError, match=r"b\.zarr"):
        remote_reads[16:32, 16:32]
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.create_array("0", shape=(4, 4), dtype="u1")
    level = zarr.open_group(str(tmp_path / "g.zarr"), mode="r")["0"]
    assert array_location(level) == f"{tmp_path / 'g.zarr'}/0"


def test_an_arrays_wrapper_goes_with_it(tmp_path: Path) -> None:
    import gc

    from tilescope.data import zarr_io

    a = _array(LocalStore(tmp_path / "a.zarr"), np.zeros((4, 4), "u1"), (2, 2), 3, "none")
    reads = fast_reads(a)
    key = id(a)
    assert key in zarr_io._WRAPPERS
    del a
    gc.collect()
    assert key in zarr_io._WRAPPERS  # the wrapper keeps its array
    del reads
    gc.collect()
    assert key not in zarr_io._WRAPPERS  # neither is kept alive by the map
