"""tilescope.views."""
