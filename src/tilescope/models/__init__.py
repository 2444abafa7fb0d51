"""tilescope.models."""
