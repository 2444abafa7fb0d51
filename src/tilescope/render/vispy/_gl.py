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
import re
from typing import Any, Protocol

__all__ = [
    "GIL_RELEASING_CALLS",
    "FenceSource",
    "FrameFences",
    "keep_gil_in_gl_calls",
    "keeps_gil",
]

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


_GL_SYNC_GPU_COMMANDS_COMPLETE = 0x9117
_GL_ALREADY_SIGNALED = 0x911A
_GL_CONDITION_SATISFIED = 0x911C
_GL_WAIT_FAILED = 0x911D


class FenceSource(Protocol):
    """Marks the end of a frame's GL commands and tells, without waiting, when they are done."""

    def insert(self) -> object:
        """Flush the commands issued so far and return a fence after them."""
        ...

    def signaled(self, fence: object) -> bool:
        """Whether everything before ``fence`` has finished (never blocks)."""
        ...

    def delete(self, fence: object) -> None: ...


class FrameFences:
    """GL sync objects (GL 3.2 or ``ARB_sync``) from the library vispy draws with.

    A software rasteriser (llvmpipe) does a frame's work on its own threads once the
    commands are flushed; a swap right after the draw waits for all of it (10 ms for a 768²
    image on 2 cores). With a fence after the frame, the caller can go on and swap once the
    fence has signalled. The calls keep the GIL: they are bookkeeping, never a wait.
    """

    def __init__(self, library: str) -> None:
        from vispy.gloo import gl

        self._flush = gl.glFlush  # vispy's: it lets the GIL go (see GIL_RELEASING_CALLS)
        lib = ctypes.PyDLL(library)
        self._fence_sync = lib.glFenceSync
        self._fence_sync.restype = ctypes.c_void_p
        self._fence_sync.argtypes = [ctypes.c_uint, ctypes.c_uint]
        self._client_wait = lib.glClientWaitSync
        self._client_wait.restype = ctypes.c_uint
        self._client_wait.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint64]
        self._delete_sync = lib.glDeleteSync
        self._delete_sync.restype = None
        self._delete_sync.argtypes = [ctypes.c_void_p]

    @classmethod
    def for_current_context(cls) -> FrameFences | None:
        """Fences for the GL context current now, or None where it has none (before GL 3.2
        without ``ARB_sync``, or a library that does not export them, as on Windows)."""
        from vispy.gloo import gl
        from vispy.gloo.gl import gl2

        lib = gl2._lib
        name = getattr(lib, "_name", None)
        if not isinstance(name, str):
            return None
        try:
            version = str(gl.glGetParameter(gl.GL_VERSION))
            found = re.match(r"\s*(\d+)\.(\d+)", version)
            modern = found is not None and (int(found[1]), int(found[2])) >= (3, 2)
            if not modern and "GL_ARB_sync" not in str(gl.glGetParameter(gl.GL_EXTENSIONS)):
                return None
            return cls(name)
        except (AttributeError, OSError, RuntimeError):
            return None

    def insert(self) -> object:
        fence = self._fence_sync(_GL_SYNC_GPU_COMMANDS_COMPLETE, 0)
        self._flush()  # the rasteriser starts on the frame now (a fence alone may not flush)
        return fence

    def signaled(self, fence: object) -> bool:
        status = self._client_wait(fence, 0, 0)
        # a failed wait (a lost context) counts as done: the swap then shows what there is
        return bool(status in (_GL_ALREADY_SIGNALED, _GL_CONDITION_SATISFIED, _GL_WAIT_FAILED))

    def delete(self, fence: object) -> None:
        self._delete_sync(fence)
