"""tilescope: an n-dimensional image viewer engine that never freezes."""
