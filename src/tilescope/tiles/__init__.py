"""tilescope.tiles."""
