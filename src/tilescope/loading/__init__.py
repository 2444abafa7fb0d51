"""tilescope.loading."""
