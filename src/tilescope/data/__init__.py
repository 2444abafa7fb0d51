"""tilescope.data."""
