"""The procedural sample pyramid: lazy, huge, and a true mean pyramid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tilescope.data.sample import ProceduralArray, procedural_pyramid, small_real_image


def test_pyramid_is_huge_and_ends_at_one_tile() -> None:
    levels = procedural_pyramid()
    assert levels[0].shape[1] >= 100_000
    assert levels[0].shape[2] >= 100_000
    assert levels[-1].shape[1:] == (256, 256)
    shapes = [lv.shape for lv in levels]
    assert all(a >= b for a, b in itertools.pairwise(shapes))


@pytest.mark.parametrize(
    ("level", "y0", "x0"),
    [
        pytest.param(1, 500, 1000, id="level1"),
        pytest.param(3, 40, 70, id="level3"),
    ],
)
def test_each_level_is_the_box_mean_of_level_zero(level: int, y0: int, x0: int) -> None:
    levels = procedural_pyramid(size=8192, depth=2, seed=3)
    f = 2**level
    coarse = levels[level][1, y0 : y0 + 8, x0 : x0 + 8].astype(float)
    fine = levels[0][1, y0 * f : (y0 + 8) * f, x0 * f : (x0 + 8) * f].astype(float)
    mean = fine.reshape(8, f, 8, f).mean(axis=(1, 3))
    # Only uint16 rounding separates the two.
    assert np.abs(mean - coarse).max() <= 2.0


def test_indexing_follows_numpy_semantics() -> None:
    lv = procedural_pyramid(size=1024, depth=3)[2]  # (3, 256, 256)
    full = np.asarray(lv)
    assert full.shape == (3, 256, 256)
    assert full.dtype == np.uint16
    np.testing.assert_array_equal(lv[1], full[1])
    np.testing.assert_array_equal(lv[..., 5], full[..., 5])
    np.testing.assert_array_equal(lv[-1, 10:20:3, ::50], full[-1, 10:20:3, ::50])
    np.testing.assert_array_equal(lv[0, 7, 9], full[0, 7, 9])
    assert lv[0, 5:5].shape == (0, 256)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param((0, 0, 0, 0), id="too-many"),
        pytest.param((99,), id="out-of-bounds"),
        pytest.param(([1, 2],), id="fancy"),
    ],
)
def test_bad_indices_raise(key: tuple[object, ...]) -> None:
    lv = procedural_pyramid(size=512, depth=2)[0]
    with pytest.raises((IndexError, TypeError)):
        lv[key]


def test_z_planes_differ_and_seeds_differ() -> None:
    a: ProceduralArray = procedural_pyramid(size=1024, depth=2, seed=0)[-1]
    b = procedural_pyramid(size=1024, depth=2, seed=1)[-1]
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], b[0])


def test_small_real_image_is_rgb() -> None:
    img = small_real_image()
    assert img.shape == (512, 512, 3)
    assert img.dtype == np.uint8
    assert img.std() > 10
