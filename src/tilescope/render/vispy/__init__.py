"""tilescope.render.vispy."""
