"""``tilescope serve`` in a child process, as a user runs it (tests and benchmarks).

A server in its own process does not compete with the viewer's threads for the viewer's
GIL, as a remote store's server would not: the scrub benchmark's main thread and its
time to full detail are measured against that (an in-process server's request threads
cost the scrub benchmark's 2 ms heartbeat up to 2 ms at p99, and its time to full detail
about 20 ms).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: ``python -c`` this, then ``tilescope``'s arguments: ``python -m tilescope`` with SIGINT
#: raising KeyboardInterrupt (Python installs that only where SIGINT was not ignored).
_AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('tilescope', run_name='__main__')"
)

#: How long a stopped server may take to exit after Ctrl-C before it is killed.
STOP_WAIT_S = 10.0


@contextmanager
def tilescope_serve(
    directory: str | os.PathLike[str],
    *,
    latency_ms: float = 0.0,
    fail: Sequence[str] = (),
    capture_stderr: bool = False,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``tilescope serve DIRECTORY --port 0`` for the block; yields its base URL (ending
    in ``/``, as ``SlowHTTPServer.url``) and the process. ``fail``: ``--fail`` globs.

    It starts with Ctrl-C (SIGINT) handled as in a terminal's foreground, whatever this
    process inherited (a shell script's background job, as a CI step may be, ignores SIGINT,
    and so would the server). On the way out a server still running gets SIGTERM, and is
    killed if it has not exited within ``STOP_WAIT_S``. ``capture_stderr``: its stderr is
    piped (the caller may read it once the process ended); otherwise it goes to this
    process's stderr.
    """
    command = [sys.executable, "-c", _AS_FROM_A_TERMINAL, "serve", str(Path(directory))]
    command += ["--port", "0"]
    command += ["--latency-ms", f"{latency_ms:g}"]
    for pattern in fail:
        command += ["--fail", pattern]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_stderr else None,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread's stack
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server prints its URL
        if "http://127.0.0.1:" not in line:
            proc.kill()
            _, err = proc.communicate(timeout=STOP_WAIT_S)
            raise RuntimeError(f"tilescope serve did not start: {line!r} {err or ''}")
        yield line.split(" at ", 1)[1].split(" ", 1)[0], proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.communicate(timeout=STOP_WAIT_S)
