"""A layer's data_level and corner_pixels from a view (napari's 2D rules)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from tilescope.errors import LayerPropertyError
from tilescope.models.dims import Dims
from tilescope.models.layers import Image
from tilescope.tiles.view import update_view, update_view_from_world


def _pyramid() -> list[np.ndarray]:
    return [
        np.zeros((8, 1024, 1024), np.float32),
        np.zeros((8, 512, 512), np.float32),
        np.zeros((8, 256, 256), np.float32),
    ]


@pytest.mark.parametrize(
    ("view", "canvas", "level"),
    [
        pytest.param(1023, 100, 2, id="zoomed-out"),
        pytest.param(1023, 300, 1, id="mid"),
        pytest.param(1023, 600, 0, id="zoomed-in"),
        pytest.param(100, 100, 0, id="fits"),
    ],
)
def test_update_view_2d(view: int, canvas: int, level: int) -> None:
    layer = Image(_pyramid())
    update_view(layer, [[0, 0], [view, view]], (canvas, canvas))
    assert layer.data_level == level
    expected_hi = min(int(np.ceil(view / 2**level)), 1023 // 2**level)
    np.testing.assert_array_equal(layer.corner_pixels[:, 1:], [[0, 0], [expected_hi, expected_hi]])


def test_update_view_3d_and_locked() -> None:
    layer = Image(_pyramid())
    update_view(layer, [[0, 0, 0], [7, 1023, 1023]], (512, 512, 512), displayed=(0, 1, 2))
    assert layer.data_level == 2
    np.testing.assert_array_equal(layer.corner_pixels, [[0, 0, 0], [7, 255, 255]])
    layer.locked_data_level = 1
    assert layer.data_level == 1
    # Locking shows the whole level over the axes of the last view.
    np.testing.assert_array_equal(layer.corner_pixels, [[0, 0, 0], [7, 511, 511]])
    update_view(layer, [[0, 0], [100, 100]], (1000, 1000))
    assert layer.data_level == 1
    np.testing.assert_array_equal(layer.corner_pixels[:, 1:], [[0, 0], [511, 511]])
    layer.locked_data_level = None
    update_view(layer, [[0, 0], [100, 100]], (1000, 1000))
    assert layer.data_level == 0


def test_corner_pixels_are_not_expanded_to_chunks() -> None:
    """napari widens corner_pixels to chunk boundaries; tilescope reports the view's pixels."""
    levels = [da.zeros((n, n), np.float32, chunks=128) for n in (1024, 512, 256)]
    layer = Image(levels, contrast_limits=(0, 1))
    update_view(layer, [[10, 20], [700, 650]], (400, 400))
    assert layer.data_level == 0
    np.testing.assert_array_equal(layer.corner_pixels, [[10, 20], [700, 650]])


def test_update_view_single_scale_clips() -> None:
    layer = Image(np.zeros((100, 200)))
    update_view(layer, [[-10.5, 50.2], [40.1, 400.0]], (512, 512))
    assert layer.data_level == 0
    np.testing.assert_array_equal(layer.corner_pixels, [[0, 50], [41, 199]])


def test_update_view_from_world_uses_the_transform() -> None:
    layer = Image(_pyramid(), scale=(1.0, 0.5, 0.5), translate=(0.0, 100.0, 100.0))
    dims = Dims(3, range=[(0, 7, 1)] * 3).state
    update_view_from_world(layer, (100.0, 100.0), (150.0, 150.0), (512, 512), dims)
    assert layer.view_axes == (1, 2)
    assert layer.data_level == 0
    np.testing.assert_array_equal(layer.corner_pixels[:, 1:], [[0, 0], [100, 100]])


def test_update_view_rejects_bad_input() -> None:
    layer = Image(_pyramid())
    with pytest.raises(LayerPropertyError):
        update_view(layer, [[0, 0, 0], [1, 1, 1]], (10, 10))
    with pytest.raises(LayerPropertyError):
        update_view(layer, [[0, np.nan], [1, 1]], (10, 10))


def test_view_from_world_follows_the_plane_of_a_sheared_stack() -> None:
    # x_world = x + 0.5 z: at z = 4 the plane is shifted by 2 along x
    shear = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]]
    layer = Image(np.zeros((8, 40, 40), np.float32), shear=shear)
    dims = Dims(3, range=[(0, 39, 1)] * 3, point=(4.0, 0.0, 0.0)).state
    update_view_from_world(layer, (0.0, 5.0), (10.0, 15.0), (512, 512), dims)
    np.testing.assert_array_equal(layer.corner_pixels[:, 1:], [[0, 3], [10, 13]])
