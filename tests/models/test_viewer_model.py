"""ViewerModel: dims and camera follow the layers the way napari 0.9's do.

(The step-by-step agreement with napari itself is in ``test_dims_napari.py``;
these tests pin the individual rules and the event behaviour.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _dims_fake_layers import FakeImage, FakePoints

from tilescope.errors import CameraError
from tilescope.models.dims import RangeTuple
from tilescope.models.layers import Image, Points
from tilescope.models.viewer_model import ViewerModel, augmented_world_extent


def dims_changes(viewer: ViewerModel) -> list[Any]:
    seen: list[Any] = []
    viewer.dims.events.changed.connect(seen.append)
    return seen


def test_empty_viewer_is_napari_default() -> None:
    viewer = ViewerModel()
    assert viewer.dims.ndim == 2
    assert viewer.dims.range == (RangeTuple(0.0, 2.0, 1.0),) * 2
    assert viewer.camera.center == (0.0, 0.0)
    viewer.reset_view()
    assert viewer.camera.center == (255.5, 255.5)
    assert viewer.camera.zoom == pytest.approx(0.95 * 600 / 512)


def test_first_layer_sets_ranges_centres_sliders_and_fits_camera() -> None:
    viewer = ViewerModel(canvas_size=(400, 400))
    viewer.add_layer(FakeImage((5, 10, 20), scale=(2.0, 1.0, 1.0)))
    assert viewer.dims.range == (
        RangeTuple(0.0, 8.0, 2.0),
        RangeTuple(0.0, 9.0, 1.0),
        RangeTuple(0.0, 19.0, 1.0),
    )
    assert viewer.dims.current_step == (2, 4, 9)
    assert viewer.dims.point == (4.0, 4.0, 9.0)
    assert viewer.camera.center == (4.5, 9.5)  # centre of the pixel-edge box
    assert viewer.camera.zoom == pytest.approx(0.95 * 400 / 20)


def test_later_layers_keep_point_and_prepend_new_axes() -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakeImage((64, 64)))
    assert viewer.dims.point == (31.0, 31.0)
    camera = viewer.camera.state
    seen = dims_changes(viewer)
    viewer.add_layer(FakeImage((3, 5, 128, 64), scale=(1.0, 2.0, 1.0, 1.0), translate=(1, 2, 0, 0)))
    assert viewer.dims.ndim == 4
    assert viewer.dims.point == (1.0, 2.0, 31.0, 31.0)  # new axes: 0 clamped into the range
    assert len(seen) == 1  # one atomic dims update
    # order changed with ndim, which refits the camera (as napari does)
    assert camera.center == (31.5, 31.5)
    assert viewer.camera.center == (63.5, 31.5)


def test_same_ndim_layer_does_not_refit_camera() -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakeImage((64, 64)))
    camera = viewer.camera.state
    viewer.add_layer(FakeImage((640, 640)))
    assert viewer.camera.state == camera
    assert viewer.dims.point == (31.0, 31.0)


def test_removing_layers_reclamps_then_resets() -> None:
    viewer = ViewerModel()
    small = FakeImage((20, 30, 40))
    big = FakeImage((50, 30, 40), translate=(-5.0, 0.0, 0.0))
    viewer.add_layer(small)
    viewer.add_layer(big)
    viewer.dims.set_point(0, 40.0)
    viewer.layers.remove(big)
    assert viewer.dims.range[0] == RangeTuple(0.0, 19.0, 1.0)
    assert viewer.dims.point[0] == 19.0
    viewer.layers.remove(small)
    assert viewer.dims.state == ViewerModel().dims.state


def test_layer_extent_change_updates_dims() -> None:
    viewer = ViewerModel()
    layer = FakeImage((10, 20, 30))
    viewer.add_layer(layer)
    viewer.dims.set_point(0, 9.0)
    layer.scale = (0.5, 1.0, 1.0)
    assert viewer.dims.range[0] == RangeTuple(0.0, 4.5, 0.5)
    assert viewer.dims.point[0] == 4.5


def test_layer_change_without_extent_change_leaves_hand_set_range() -> None:
    viewer = ViewerModel()
    layer = FakeImage((10, 20))
    viewer.add_layer(layer)
    viewer.dims.set_range(0, (0.0, 100.0, 5.0))
    seen = dims_changes(viewer)
    layer.name = "renamed"
    assert viewer.dims.range[0] == RangeTuple(0.0, 100.0, 5.0)
    assert seen == []


def test_reordering_layers_does_not_change_dims() -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakeImage((10, 20)))
    viewer.add_layer(FakeImage((3, 10, 20)))
    seen = dims_changes(viewer)
    viewer.layers.move(0, 1)
    assert seen == []


def test_order_change_refits_camera_to_new_displayed_axes() -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakeImage((4, 100, 50), scale=(3.0, 1.0, 2.0)))
    viewer.dims.transpose()
    assert viewer.camera.center == (49.0, 49.5)
    viewer.dims.roll()
    assert viewer.dims.displayed == (0, 2)
    assert viewer.camera.center == (4.5, 49.0)
    assert viewer.camera.zoom == pytest.approx(0.95 * min(800 / 12, 600 / 100))


def test_ndisplay_switch_syncs_camera_depth_with_slider() -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakeImage((10, 64, 32)))
    viewer.dims.set_point(0, 2.0)
    viewer.dims.ndisplay = 3
    assert viewer.camera.center == (2.0, 31.5, 15.5)
    viewer.camera.center = (7.0, 31.5, 15.5)
    viewer.dims.ndisplay = 2
    assert viewer.camera.center == (31.5, 15.5)
    assert viewer.dims.point[0] == 7.0


def test_ndisplay_3_with_2d_data_uses_zero_depth() -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakeImage((64, 32)))
    viewer.dims.ndisplay = 3
    assert viewer.camera.center == (0.0, 31.5, 15.5)
    viewer.reset_view()
    assert viewer.camera.center == (0.0, 31.5, 15.5)


def test_reset_view_in_3d_resets_angles() -> None:
    viewer = ViewerModel(ndisplay=3)
    viewer.add_layer(FakeImage((10, 64, 32)))
    viewer.camera.angles = (10.0, 20.0, 30.0)
    viewer.reset_view((100, 100))
    assert viewer.camera.angles == (0.0, 0.0, 0.0)
    assert viewer.camera.center == (4.5, 31.5, 15.5)
    assert viewer.camera.zoom == pytest.approx(0.95 * 100 / 64)


def test_constructor_pads_labels_and_order_like_napari() -> None:
    viewer = ViewerModel(axis_labels=("y", "x"), order=(2, 0, 1), ndisplay=3)
    assert viewer.dims.ndim == 3
    assert viewer.dims.axis_labels == ("-3", "y", "x")
    assert viewer.dims.order == (2, 0, 1)
    assert viewer.camera.center == (0.0, 0.0, 0.0)


def test_points_with_no_coordinates_use_napari_fallback_extent() -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakePoints(np.empty((0, 2)), ndim=2))
    assert viewer.dims.range == (RangeTuple(-0.5, 511.5, 1.0),) * 2


def test_augmented_extent_widens_by_half_a_pixel() -> None:
    layer = FakeImage((4, 10), scale=(2.0, 0.5), translate=(1.0, 0.0))
    np.testing.assert_allclose(augmented_world_extent(layer), [[0.0, -0.25], [8.0, 4.75]])


@pytest.mark.parametrize(
    ("call", "words"),
    [
        pytest.param(lambda v: v.reset_view(margin=1.0), "margin", id="margin-1"),
        pytest.param(lambda v: v.reset_view(margin=-0.1), "margin", id="margin-negative"),
        pytest.param(lambda v: v.reset_view((0, 10)), "canvas_size", id="canvas-zero"),
        pytest.param(lambda v: setattr(v, "canvas_size", (10.5, 3)), "canvas_size", id="float"),
        pytest.param(lambda v: setattr(v, "canvas_size", (10,)), "canvas_size", id="short"),
    ],
)
def test_bad_view_arguments_raise_and_change_nothing(call: Any, words: str) -> None:
    viewer = ViewerModel()
    viewer.add_layer(FakeImage((10, 10)))
    camera, canvas = viewer.camera.state, viewer.canvas_size
    with pytest.raises(CameraError, match=words):
        call(viewer)
    assert viewer.camera.state == camera
    assert viewer.canvas_size == canvas


def test_real_image_layer_drives_dims() -> None:
    viewer = ViewerModel()
    image = Image(np.zeros((6, 8, 10), dtype=np.uint8), scale=(3.0, 1.0, 1.0))
    viewer.add_layer(image)
    assert viewer.dims.range[0] == RangeTuple(0.0, 15.0, 3.0)
    image.translate = (100.0, 0.0, 0.0)
    assert viewer.dims.range[0] == RangeTuple(100.0, 115.0, 3.0)
    assert viewer.dims.point[0] == 100.0


def test_fit_includes_the_radius_of_real_points() -> None:
    viewer = ViewerModel(canvas_size=(800, 600))
    viewer.add_layer(Points([[0.0, 0.0], [10.0, 20.0]], size=[2.0, 4.0]))
    assert viewer.camera.center == (5.0, 10.0)
    # the box is widened by the largest radius (2) on each side: 14 x 24 world units
    assert viewer.camera.zoom == pytest.approx(0.95 * min(800 / 14, 600 / 24))
