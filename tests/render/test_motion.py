"""Motion frames (``render/vispy/_motion.py``): the scene at a fraction of the resolution,
scaled up. Checked by pixels against the picture's known geometry, headless."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from checker_picture import CENTER, ZOOM, alternation, picture
from tilescope.errors import ConfigError
from tilescope.loading.config import OctreeConfig
from tilescope.viewer import Viewer


def edge(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pixels within one pixel of the mask's boundary."""
    padded = np.pad(mask, 1, mode="edge")
    near = [
        padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    ]
    return np.any(near, axis=0) & ~np.all(near, axis=0)


def test_a_motion_frame_keeps_the_geometry_and_loses_only_the_finest_detail() -> None:
    viewer = Viewer(show=False, size=(64, 96))
    try:
        viewer.add_image(picture(), contrast_limits=(0, 255))
        viewer.camera.update(center=CENTER, zoom=ZOOM)
        full = viewer.screenshot()
        low = viewer.backend.motion_frame(0.5)
        assert low.shape == full.shape
        assert alternation(full) > 100  # the full-resolution frame resolves every pixel
        assert alternation(low) < 40  # half the resolution cannot: it aliases, then blurs
        # The square is where it is at full resolution: the two differ only on its edge.
        right = (slice(None), slice(48, None))
        square_full, square_low = full[right][..., 0] > 127, low[right][..., 0] > 127
        assert square_full.sum() == 32 * 32
        assert not ((square_full ^ square_low) & ~edge(square_full)).any()
        assert np.abs(low[..., 3].astype(int) - full[..., 3]).max() == 0  # opaque as before
        assert (viewer.backend.motion_frame(1.0) == full).all()
    finally:
        viewer.close()


def test_a_headless_viewer_never_draws_motion_frames() -> None:
    viewer = Viewer(show=False, size=(32, 32))
    try:
        assert not viewer.backend.motion_frames
        with pytest.raises(ValueError, match="scale"):
            viewer.backend.motion_frame(0.0)
    finally:
        viewer.close()


@pytest.mark.parametrize("bad", [0, 1.5, -1, "half", True])
def test_motion_scale_must_be_a_fraction(bad: object) -> None:
    with pytest.raises(ConfigError, match="motion_scale"):
        OctreeConfig.from_dict({"render": {"motion_scale": bad}})
