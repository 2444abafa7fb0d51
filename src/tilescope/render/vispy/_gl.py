"""OpenGL calls that keep the GIL: the main thread's frames no longer queue behind workers.

vispy calls OpenGL through ``ctypes.CDLL`` functions, and every such call releases the GIL
and takes it back on return. When worker threads are running Python (decoding, checking
and converting tiles), taking it back waits for a switch interval (5 ms) or more: the
GIL goes to whichever waiting thread runs first, so with several busy workers one short
``glBufferSubData`` measured 57 ms at p99 and 89 ms at worst (3 busy threads, 2 cores),
and a frame makes dozens of GL calls. Almost every call the renderer makes is a few
microseconds of driver bookkeeping or a small copy, far shorter than the wait, so
:func:`keep_gil_in_gl_calls` makes vispy take those functions from a ``ctypes.PyDLL``
handle of the same library, whose calls keep the GIL.

The calls that may run long stay as they were, releasing the GIL so workers go on
meanwhile: draws, ``glFlush`` / ``glFinish`` and ``glReadPixels`` (where a software
rasteriser such as llvmpipe does the frame's work), and shader compilation and linking.
"""

from __future__ import annotations

import ctypes
from typing import Any

__all__ = ["GIL_RELEASING_CALLS", "keep_gil_in_gl_calls", "keeps_gil"]

GIL_RELEASING_CALLS = frozenset(
    {
        "glDrawArrays",
        "glDrawElements",
        "glFlush",
        "glFinish",
        "glReadPixels",
        "glCompileShader",
        "glLinkProgram",
    }
)
"""GL functions that may run for milliseconds: they release the GIL while they run."""


class _GilKeepingLibrary:
    """A stand-in for vispy's ``CDLL`` of the GL library: functions keep the GIL, except
    those in :data:`GIL_RELEASING_CALLS`."""

    def __init__(self, releasing: ctypes.CDLL) -> None:
        self._name = releasing._name
        self._releasing = releasing
        self._keeping = ctypes.PyDLL(releasing._name)

    def __getattr__(self, name: str) -> Any:
        lib = self._releasing if name in GIL_RELEASING_CALLS else self._keeping
        return getattr(lib, name)


def keep_gil_in_gl_calls() -> bool:
    """Make vispy's OpenGL functions keep the GIL (idempotent); whether they now do.

    Nothing changes when vispy uses another GL backend than its ctypes one (``gl2``) or
    found no GL library. Functions already looked up are looked up again on their next
    call.
    """
    from vispy.gloo.gl import _gl2, gl2

    lib = gl2._lib
    if isinstance(lib, _GilKeepingLibrary):
        return True
    if not isinstance(lib, ctypes.CDLL) or isinstance(lib, ctypes.PyDLL):
        return False
    gl2._lib = _GilKeepingLibrary(lib)
    for name in dir(_gl2):
        func = getattr(_gl2, name)
        if callable(func) and hasattr(func, "_native"):
            del func._native  # vispy caches the ctypes function on first call
    return True


def keeps_gil(func: Any) -> bool:
    """Whether the ctypes function vispy calls for GL function ``func`` keeps the GIL.

    Raises ``ValueError`` before ``func``'s first call (vispy looks the function up then).
    """
    native = getattr(func, "_native", None)
    if native is None:
        raise ValueError(f"{getattr(func, '__name__', func)!r} has not been called yet")
    return bool(native._flags_ & ctypes._FUNCFLAG_PYTHONAPI)  # type: ignore[attr-defined]
