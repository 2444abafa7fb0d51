"""tilescope.render."""
