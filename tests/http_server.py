"""A real HTTP server over a directory, for reader tests: failures, hangs and latency on demand.

``LocalHTTPServer(root)`` serves ``root`` on 127.0.0.1 (a random free port) from a thread
pool (``ThreadingHTTPServer`` with a deep listen backlog). Per test it can answer chosen
paths with an HTTP status (``fail("img.zarr/zarr.json", 500)``; a path ending in ``/`` is a
prefix), hold chosen paths unanswered until :meth:`release` (``hang(...)``: a deterministic
timeout, the client gives up first), and add latency to every request. It records each
request path and the most requests ever in flight at once.
"""

from __future__ import annotations

import functools
import threading
import time
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class LocalHTTPServer:
    """Serve ``root`` over HTTP on 127.0.0.1; see the module docstring."""

    def __init__(self, root: Path, latency_s: float = 0.0) -> None:
        self.root = root
        self.latency_s = latency_s
        self.requests: list[str] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._status: dict[str, int] = {}
        self._hang: set[str] = set()
        self._released = threading.Event()
        handler = functools.partial(_Handler, self, directory=str(root))
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, rel: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{rel.lstrip('/')}"

    def fail(self, rel: str, status: int) -> None:
        """Answer ``rel`` (or every path under it when it ends in ``/``) with ``status``."""
        self._status[rel.lstrip("/")] = status

    def hang(self, rel: str) -> None:
        """Leave requests for ``rel`` (prefix when it ends in ``/``) unanswered until release."""
        self._hang.add(rel.lstrip("/"))

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _match(self, path: str, rules: Any) -> Any:
        for rule in rules:
            if path == rule or (rule.endswith("/") and path.startswith(rule)):
                return rules[rule] if isinstance(rules, dict) else rule
        return None

    def _enter(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, server_state: LocalHTTPServer, *args: Any, **kwargs: Any) -> None:
        self.state = server_state
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self, send: Any) -> None:
        path = self.path.split("?", 1)[0].lstrip("/")
        state = self.state
        state._enter(path)
        try:
            if state.latency_s:
                time.sleep(state.latency_s)  # injected latency, benchmarks only
            if state._match(path, state._hang) is not None:
                state._released.wait(60)
                self.close_connection = True
                return
            status = state._match(path, state._status)
            if status is not None:
                self.send_error(HTTPStatus(status))
                return
            send()
        finally:
            state._leave()

    def do_GET(self) -> None:
        self._handle(super().do_GET)

    def do_HEAD(self) -> None:
        self._handle(super().do_HEAD)
