"""The vispy render backend (OpenGL; headless through EGL, windows through Qt)."""

from tilescope.render.vispy.backend import VispyBackend

__all__ = ["VispyBackend"]
