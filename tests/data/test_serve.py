"""The slow HTTP server: real sockets, real zarr and fsspec clients, latency and faults."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import zarr

from tilescope.data import serve
from tilescope.data.serve import (
    LISTEN_BACKLOG,
    Fault,
    Request,
    SlowHTTPServer,
    fail_paths,
    serve_directory,
)
from tilescope.errors import ServeError

BLOB = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "blob.bin").write_bytes(BLOB)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.json").write_text('{"a": 1}', encoding="utf-8")
    return tmp_path


def _get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


def test_get_sends_the_file_with_its_length(root: Path) -> None:
    with serve_directory(root) as url:
        status, headers, body = _get(url + "blob.bin")
        json_status, json_headers, json_body = _get(url + "sub/x.json")
    assert status == 200
    assert body == BLOB
    assert headers["Content-Length"] == str(len(BLOB))
    assert headers["Accept-Ranges"] == "bytes"
    assert (json_status, json_body) == (200, b'{"a": 1}')
    assert json_headers["Content-Type"] == "application/json"


def test_head_sends_the_length_and_no_body(root: Path) -> None:
    with serve_directory(root) as url:
        status, headers, body = _get(url + "blob.bin", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(BLOB))


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        pytest.param("bytes=10-19", 10, 20, id="closed"),
        pytest.param("bytes=10000-", 10000, len(BLOB), id="open-ended"),
        pytest.param("bytes=-7", len(BLOB) - 7, len(BLOB), id="suffix"),
        pytest.param("bytes=10200-99999", 10200, len(BLOB), id="past-the-end-clamped"),
        pytest.param("bytes=0-0", 0, 1, id="one-byte"),
    ],
)
def test_a_byte_range_is_a_206_with_exactly_those_bytes(
    root: Path, header: str, start: int, stop: int
) -> None:
    with serve_directory(root) as url:
        status, headers, body = _get(url + "blob.bin", {"Range": header})
    assert status == 206
    assert body == BLOB[start:stop]
    assert headers["Content-Length"] == str(stop - start)
    assert headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(BLOB)}"


def test_an_unsatisfiable_range_is_a_416_and_a_multi_range_the_whole_file(root: Path) -> None:
    with serve_directory(root) as url:
        status, headers, _ = _get(url + "blob.bin", {"Range": f"bytes={len(BLOB)}-"})
        multi_status, _, multi_body = _get(url + "blob.bin", {"Range": "bytes=0-1,5-6"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(BLOB)}"
    assert (multi_status, multi_body) == (200, BLOB)


def test_a_missing_file_is_a_404(root: Path) -> None:
    with serve_directory(root) as url:
        assert _get(url + "nope/zarr.json")[0] == 404
        assert _get(url + "../etc/passwd")[0] == 404


def test_fsspec_reads_sizes_and_ranges(root: Path) -> None:
    import fsspec

    with serve_directory(root) as url:
        fs = fsspec.filesystem("http", skip_instance_cache=True)
        assert fs.info(url + "blob.bin")["size"] == len(BLOB)
        assert fs.cat_file(url + "blob.bin", start=100, end=300) == BLOB[100:300]
        with fs.open(url + "blob.bin", block_size=1024) as f:
            f.seek(5000)
            assert f.read(50) == BLOB[5000:5050]


def test_zarr_reads_an_array_over_http_absent_chunks_as_fill_value(tmp_path: Path) -> None:
    data = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    arr = zarr.create_array(tmp_path / "a.zarr", shape=(64, 96), chunks=(16, 16), dtype="u2")
    arr[:, :48] = data  # the chunks of columns 48..95 are never written: 404 over HTTP
    with serve_directory(tmp_path) as url:
        remote = zarr.open_array(url + "a.zarr", mode="r")
        got = remote[:]
    assert np.array_equal(got[:, :48], data)
    assert not got[:, 48:].any()


def test_every_request_waits_the_latency(tmp_path: Path) -> None:
    arr = zarr.create_array(tmp_path / "a.zarr", shape=(32, 32), chunks=(16, 16), dtype="u1")
    arr[:] = 7
    latency_ms = 120
    with serve_directory(tmp_path, latency_ms=latency_ms) as url:
        t0 = time.perf_counter()
        status, _, _ = _get(url + "a.zarr/zarr.json")
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        remote = zarr.open_array(url + "a.zarr", mode="r")
        assert remote[0, 0] == 7
        metadata_then_chunk = time.perf_counter() - t0
    assert status == 200
    assert one >= latency_ms / 1000
    assert metadata_then_chunk >= 2 * latency_ms / 1000  # zarr.json, then a chunk


def test_responses_are_sent_without_waiting_for_the_clients_acks(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TCP_NODELAY on every connection: headers and body are separate writes, and with
    Nagle's algorithm the body would wait for the client's delayed ACK of the headers
    (~40 ms on Linux), adding that to every response's injected latency."""
    seen: list[int] = []
    setup = serve._Handler.setup

    def recording_setup(handler: serve._Handler) -> None:
        setup(handler)
        seen.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(serve._Handler, "setup", recording_setup)
    with serve_directory(root) as url:
        status, _, body = _get(url + "blob.bin")
    assert (status, body) == (200, BLOB)
    assert seen
    assert all(seen)


def test_a_response_is_paced_to_the_bandwidth_cap(tmp_path: Path) -> None:
    size = 500_000
    (tmp_path / "big.bin").write_bytes(bytes(size))
    mbps = 20.0  # 500 kB at 2.5 MB/s: at least 0.2 s
    with SlowHTTPServer(tmp_path, bandwidth_mbps=mbps) as server:
        t0 = time.perf_counter()
        status, _, body = _get(server.url + "big.bin")
        elapsed = time.perf_counter() - t0
        stats = server.stats()
    assert (status, len(body)) == (200, size)
    assert elapsed >= size * 8 / (mbps * 1e6)
    assert stats.bytes_sent == size


def test_many_parallel_requests_are_in_flight_at_once(root: Path) -> None:
    n = 64
    barrier = threading.Barrier(n, timeout=20)

    def gate(request: Request) -> Fault | None:
        barrier.wait()  # breaks (and the test fails) unless n requests are served at once
        return None

    with SlowHTTPServer(root, faults=gate) as server:
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(lambda _: _get(server.url + "blob.bin")[0], range(n)))
        assert server.stats().requests == n
    assert results == [200] * n
    assert LISTEN_BACKLOG >= 128


def test_fail_paths_answers_500_only_for_matching_paths(tmp_path: Path) -> None:
    arr = zarr.create_array(tmp_path / "a.zarr", shape=(32, 32), chunks=(16, 16), dtype="u1")
    arr[:] = 3
    policy = fail_paths("a.zarr/c/1/*")
    with SlowHTTPServer(tmp_path, faults=policy) as server:
        assert _get(server.url + "a.zarr/c/1/0")[0] == 500
        assert _get(server.url + "a.zarr/c/0/0")[0] == 200
        remote = zarr.open_array(server.url + "a.zarr", mode="r")
        assert np.array_equal(remote[:16, :], np.full((16, 32), 3, np.uint8))
        with pytest.raises(Exception, match="500"):
            remote[16:, :16]
        assert server.stats().faults >= 2
    assert policy(Request("GET", "a.zarr/c/1/1")) == Fault(500)
    assert policy(Request("GET", "a.zarr/c/0/1")) is None


def test_close_ends_a_request_waiting_out_its_latency(root: Path) -> None:
    entered = threading.Event()

    def note(request: Request) -> Fault | None:
        entered.set()
        return None

    server = SlowHTTPServer(root, latency_ms=60_000, faults=note).start()
    outcome: list[object] = []
    client = threading.Thread(target=lambda: outcome.append(_get(server.url + "blob.bin")[0]))
    client.start()
    assert entered.wait(10)
    server.close()
    client.join(10)
    assert not client.is_alive()
    assert outcome  # answered (or refused) at once, not after a minute


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"latency_ms": -1}, "latency", id="negative-latency"),
        pytest.param({"bandwidth_mbps": -5}, "bandwidth", id="negative-bandwidth"),
    ],
)
def test_bad_settings_are_refused(root: Path, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ServeError, match=message):
        SlowHTTPServer(root, **kwargs)  # type: ignore[arg-type]


def test_a_missing_directory_or_a_taken_port_is_a_serve_error(root: Path) -> None:
    with pytest.raises(ServeError, match="not a directory"):
        SlowHTTPServer(root / "missing")
    with SlowHTTPServer(root) as first, pytest.raises(ServeError, match="--port"):
        SlowHTTPServer(root, port=first.port)
    with pytest.raises(ServeError, match="4xx or 5xx"):
        Fault(200)


def test_ome_zarr_py_reads_a_served_pyramid_like_the_local_one(tmp_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    from tilescope.data.pyramid import write_pyramid

    data = np.random.default_rng(8).integers(0, 4000, (2, 96, 64), dtype=np.uint16)
    write_pyramid(data, tmp_path / "p.zarr", axes="cyx", chunks=32, progress=False)
    local = next(iter(Reader(parse_url(str(tmp_path / "p.zarr")))()))
    with SlowHTTPServer(tmp_path, latency_ms=20) as server:
        location = parse_url(server.url + "p.zarr")
        assert location is not None
        remote = next(iter(Reader(location)()))
        assert remote.metadata == local.metadata
        for got, want in zip(remote.data, local.data, strict=True):
            assert np.array_equal(np.asarray(got), np.asarray(want))
        assert server.stats().requests > len(local.data)  # it really went over HTTP
