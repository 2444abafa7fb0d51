"""A slow store that is real: serve a directory over HTTP with latency and a bandwidth cap.

Tests, benchmarks and demos read zarr stores through this server exactly as they would read a
remote store (fsspec + aiohttp inside zarr-python), so latency and throughput are measured on
the real code path instead of being mocked. Every request waits ``latency_ms`` before its first
byte; every response body is paced to at most ``bandwidth_mbps`` megabits per second. Each
connection has its own thread and the listen backlog is deep (:data:`LISTEN_BACKLOG`), so
hundreds of parallel requests all wait their latency concurrently, as on a real object store.

The server speaks what zarr and fsspec's ``HTTPFileSystem`` need: ``GET`` and ``HEAD`` with a
correct ``Content-Length``, single byte ranges (``206``/``416``), ``404`` for a missing file
(zarr reads an absent key as "not there"), and HTTP/1.1 keep-alive.

Fault injection goes through one hook: ``faults`` is called with each :class:`Request` and
returns a :class:`Fault` (what to do instead of the normal response) or ``None``.
:func:`fail_paths` builds the simple policy "HTTP 500 for paths matching a glob"; richer
policies (timeouts, truncated or corrupt bodies, every n-th request) extend :class:`Fault` and
:meth:`_Handler._apply_fault` without touching the rest.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, Literal

from tilescope.errors import ServeError

__all__ = [
    "LISTEN_BACKLOG",
    "Fault",
    "FaultPolicy",
    "Request",
    "ServeStats",
    "SlowHTTPServer",
    "fail_paths",
    "serve_directory",
]

#: ``listen()`` backlog: enough for a viewer's or a benchmark's burst of parallel requests.
LISTEN_BACKLOG = 256
_PIECE = 16 * 1024  # bytes written per bandwidth-pacing step
_IDLE_TIMEOUT_S = 60.0  # an idle keep-alive connection is closed after this


@dataclass(frozen=True, slots=True)
class Request:
    """What a fault policy sees of one request.

    ``path`` is relative to the served directory, without a leading slash and URL-decoded
    (``"a.zarr/s0/c/0/1"``). Fields may be added; policies read only what they need.
    """

    method: str
    path: str
    range: str | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    """What the server does instead of the normal response to one request.

    ``status``: answer with this HTTP error status (after the usual latency) and no file data.
    """

    status: int = 500

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ServeError(f"a fault's HTTP status must be 4xx or 5xx, not {self.status}.")


#: Decides, per request, whether it fails and how (``None``: serve normally). Called from the
#: server's connection threads, possibly concurrently: a stateful policy must lock.
FaultPolicy = Callable[[Request], "Fault | None"]


def fail_paths(*patterns: str, status: int = 500) -> FaultPolicy:
    """A policy answering ``status`` for every path matching one of the glob ``patterns``.

    Patterns match the whole relative path with :func:`fnmatch.fnmatchcase` (``*`` also
    crosses ``/``): ``"a.zarr/s0/c/1/*"`` fails one row of chunks of level ``s0``.
    """
    fault = Fault(status)
    pats = tuple(patterns)

    def policy(request: Request) -> Fault | None:
        return fault if any(fnmatch.fnmatchcase(request.path, p) for p in pats) else None

    return policy


@dataclass(frozen=True, slots=True)
class ServeStats:
    """Counters since the server started: requests received, body bytes sent, faults injected.

    Each is counted before the client can see its effect, so a client that has its response
    reads counters that include it.
    """

    requests: int
    bytes_sent: int
    faults: int


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    block_on_close = False
    owner: SlowHTTPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-response is normal (a cancelled read): stay quiet."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError) and not self.owner.verbose:
            return
        super().handle_error(request, client_address)


class _Handler(SimpleHTTPRequestHandler):
    """One connection's requests; runs in that connection's thread."""

    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT_S
    # TCP_NODELAY on the connection: the headers and the body are separate writes, and with
    # Nagle's algorithm the body waits for the client's (delayed, ~40 ms) ACK of the headers,
    # which would add up to 40 ms to "latency_ms" per response.
    disable_nagle_algorithm = True
    server: _Server

    # -- request entry points -------------------------------------------------------------
    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    # -- the response ---------------------------------------------------------------------
    def _respond(self, *, send_body: bool) -> None:
        owner = self.server.owner
        rel = self._relative_path()
        request = Request(self.command, rel, self.headers.get("Range"))
        owner._count(requests=1)
        fault = owner.faults(request) if owner.faults is not None else None
        owner._wait_latency()  # a fault pays the latency too, as on a real server
        if fault is not None:
            owner._count(faults=1)
            self._apply_fault(fault)
            return
        full = Path(self.translate_path(self.path))
        if full.is_dir():
            if not self.path.split("?", 1)[0].endswith("/"):
                # what SimpleHTTPRequestHandler does too: a directory's URL ends with "/"
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", self.path.split("?", 1)[0] + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            listing = self.list_directory(str(full))  # sends its own headers
            if listing is not None:
                with listing:
                    self._send_body(listing, listing.getbuffer().nbytes, send_body)
            return
        try:
            f = open(full, "rb")  # noqa: SIM115 - closed below
        except OSError:
            self._send_error(HTTPStatus.NOT_FOUND, f"{rel} not found")
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            byte_range = _parse_range(self.headers.get("Range"), size)
            if isinstance(byte_range, str):  # unsatisfiable
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if byte_range is None:
                start, length = 0, size
                self.send_response(HTTPStatus.OK)
            else:
                start, stop = byte_range
                length = stop - start
                self.send_response(HTTPStatus.PARTIAL_CONTENT)
                self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
            self.send_header("Content-Type", self.guess_type(str(full)))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            f.seek(start)
            self._send_body(f, length, send_body)

    def _apply_fault(self, fault: Fault) -> None:
        """Answer with ``fault`` instead of the file. The one place new fault kinds go."""
        self._send_error(fault.status, "injected fault")

    def _send_error(self, status: int, message: str) -> None:
        body = f"{status} {message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_body(self, source: BinaryIO | Any, length: int, send_body: bool) -> None:
        owner = self.server.owner
        sent = 0
        if send_body:
            rate = owner.bytes_per_second
            t0 = time.monotonic()
            while sent < length:
                piece = source.read(min(_PIECE, length - sent))
                if not piece:
                    break
                if rate is not None:  # no byte leaves before the cap allows it
                    ahead = (sent + len(piece)) / rate - (time.monotonic() - t0)
                    if ahead > 0 and owner._closing.wait(ahead):
                        break
                owner._count(bytes_sent=len(piece))  # before the client can see it
                self.wfile.write(piece)
                sent += len(piece)
            if sent < length:  # closing, or the file shrank: never leave a short body open
                self.close_connection = True

    def _relative_path(self) -> str:
        path = urllib.parse.unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        return posixpath.normpath(path).lstrip("/")


def _parse_range(
    header: str | None, size: int
) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """``(start, stop)`` of a single ``bytes=`` range, ``None`` for the whole file (no header,
    a multi-range or a malformed one: RFC 9110 lets a server ignore those), or
    ``"unsatisfiable"``."""
    if header is None or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if first == "":  # suffix range: the last N bytes
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return max(size - n, 0), size
        start = int(first)
        stop = size if last == "" else min(int(last) + 1, size)
    except ValueError:
        return None
    if start >= size or stop <= start:
        return "unsatisfiable"
    return start, stop


class SlowHTTPServer:
    """An HTTP server for ``directory`` on ``host:port`` with latency and a bandwidth cap.

    ``port=0`` picks a free port (read :attr:`port` / :attr:`url`). ``bandwidth_mbps=None``
    (or 0) means unlimited. Use as a context manager (serves from a background thread) or call
    :meth:`serve_forever` from the thread that should block (the CLI does).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        bandwidth_mbps: float | None = None,
        faults: FaultPolicy | None = None,
        verbose: bool = False,
    ) -> None:
        root = Path(directory)
        if not root.is_dir():
            raise ServeError(f"cannot serve {str(root)!r}: it is not a directory.")
        if latency_ms < 0:
            raise ServeError(f"latency must be >= 0 ms, not {latency_ms}.")
        if bandwidth_mbps is not None and bandwidth_mbps < 0:
            raise ServeError(
                f"bandwidth must be > 0 Mbit/s (or 0 for unlimited), not {bandwidth_mbps}."
            )
        self.directory = root.resolve()
        self.latency_s = latency_ms / 1000.0
        self.bytes_per_second = bandwidth_mbps * 1e6 / 8 if bandwidth_mbps else None
        self.faults = faults
        self.verbose = verbose
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._requests = self._bytes = self._faults = 0
        self._thread: threading.Thread | None = None

        directory_str = str(self.directory)

        class Handler(_Handler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=directory_str, **kwargs)

        try:
            self._httpd = _Server((host, port), Handler)
        except OSError as e:
            raise ServeError(
                f"cannot listen on {host}:{port} ({e.strerror or e}); "
                "pick another port with --port, or 0 for a free one."
            ) from e
        self._httpd.owner = self
        self.host = host
        self.port: int = self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``: ``url + "a.zarr"`` is the store ``a.zarr``."""
        return f"http://{self.host}:{self.port}/"

    def stats(self) -> ServeStats:
        """Requests answered, body bytes sent and faults injected so far (thread-safe)."""
        with self._lock:
            return ServeStats(self._requests, self._bytes, self._faults)

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` (or Ctrl-C, which propagates)."""
        self._httpd.serve_forever(poll_interval=0.1)

    def start(self) -> SlowHTTPServer:
        """Serve from a daemon thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name=f"tilescope-serve:{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: pending latency waits end at once, the socket closes."""
        self._closing.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SlowHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- called from connection threads ---------------------------------------------------
    def _wait_latency(self) -> None:
        if self.latency_s > 0:
            self._closing.wait(self.latency_s)

    def _count(self, *, requests: int = 0, bytes_sent: int = 0, faults: int = 0) -> None:
        with self._lock:
            self._requests += requests
            self._bytes += bytes_sent
            self._faults += faults


@contextmanager
def serve_directory(
    directory: str | os.PathLike[str],
    *,
    port: int = 0,
    latency_ms: float = 0.0,
    bandwidth_mbps: float | None = None,
    faults: FaultPolicy | None = None,
) -> Iterator[str]:
    """Serve ``directory`` in the background for the ``with`` block; yields the base URL."""
    with SlowHTTPServer(
        directory, port=port, latency_ms=latency_ms, bandwidth_mbps=bandwidth_mbps, faults=faults
    ) as server:
        yield server.url
