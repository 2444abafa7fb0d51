"""tilescope.slicing."""
