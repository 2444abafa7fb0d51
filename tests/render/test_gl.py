"""vispy's OpenGL calls keep the GIL, except the long ones (see ``render/vispy/_gl.py``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from vispy.gloo import gl
from vispy.gloo.gl import _gl2

from tilescope.render.vispy._app import egl_current
from tilescope.render.vispy._gl import GIL_RELEASING_CALLS, keep_gil_in_gl_calls, keeps_gil
from tilescope.viewer import Viewer


@pytest.fixture
def drawn() -> Iterator[Viewer]:
    """A headless viewer that has drawn an image: vispy has looked up the GL functions
    a frame uses."""
    viewer = Viewer(show=False, size=(64, 64))
    try:
        viewer.add_image(np.arange(64 * 64, dtype=np.float32).reshape(64, 64))
        viewer.screenshot()
        yield viewer
    finally:
        viewer.close()


def test_the_calls_a_frame_makes_keep_the_gil_and_draws_release_it(drawn: Viewer) -> None:
    assert keep_gil_in_gl_calls()  # already done when the backend was made: idempotent
    called = [
        name
        for name in dir(_gl2)
        if name.startswith("gl") and getattr(getattr(_gl2, name), "_native", None) is not None
    ]
    assert {"glBindTexture", "glUseProgram", "glDrawArrays", "glReadPixels"} <= set(called)
    for name in called:
        assert keeps_gil(getattr(_gl2, name)) == (name not in GIL_RELEASING_CALLS), name


def test_no_other_thread_runs_while_the_main_thread_makes_a_gl_call(drawn: Viewer) -> None:
    """Deterministic: with a switch interval of a minute the GIL changes hands only where
    the main thread lets it go, so a waiting thread that ran during the GL calls proves
    that they released it (each 4 MB texture upload gives it a millisecond or so)."""
    go = threading.Event()
    ran: list[int] = []

    def waiter() -> None:
        go.wait()  # blocked outside the GIL until set; then it needs the GIL to go on
        ran.append(1)

    pixels = np.zeros((2048, 2048), np.uint8)
    thread = threading.Thread(target=waiter)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    try:
        # (made current first: releasing a Qt context on the way is a Qt call, not GL)
        with egl_current(drawn.backend._canvas):
            thread.start()  # the waiter runs on to go.wait(), where it lets the GIL go
            go.set()  # the waiter wakes and waits for the GIL
            texture = gl.glCreateTexture()
            gl.glBindTexture(gl.GL_TEXTURE_2D, texture)
            for _ in range(5):
                gl.glTexImage2D(
                    gl.GL_TEXTURE_2D,
                    0,
                    gl.GL_LUMINANCE,
                    gl.GL_LUMINANCE,
                    gl.GL_UNSIGNED_BYTE,
                    pixels,
                )
            gl.glDeleteTexture(texture)
            # checked inside: releasing the context on the way out is an EGL call, which
            # lets the GIL go (the waiter then ran there, about 1 run in 20)
            assert ran == []
    finally:
        sys.setswitchinterval(interval)
        go.set()
        thread.join()
    assert ran == [1]


def test_keeps_gil_asks_for_a_function_vispy_has_called() -> None:
    with pytest.raises(ValueError, match="has not been called yet"):
        keeps_gil(lambda: None)
