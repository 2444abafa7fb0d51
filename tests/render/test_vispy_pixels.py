"""Pixel tests: headless screenshots of known data against references computed in numpy.

Every 2D case shows k screen pixels per data pixel with nearest interpolation, so
the reference is the numpy result with each pixel repeated k x k times.
"""

from __future__ import annotations

import numpy as np
import pytest
from cmap import Colormap
from render_helpers import BackendFactory, expand, plan_2d, render, shot_3d, to_u8

from tilescope.render import (
    CameraView,
    ImageDraw,
    LabelColormap,
    LabelsDraw,
    PointsDraw,
    RenderPlan,
)

pytestmark = pytest.mark.gl

K = 4


def _gray_reference(data: np.ndarray, clim: tuple[float, float], gamma: float) -> np.ndarray:
    t = np.clip((data.astype(np.float64) - clim[0]) / (clim[1] - clim[0]), 0.0, 1.0) ** gamma
    return to_u8(np.repeat(t[..., None], 3, axis=-1))


@pytest.mark.parametrize(
    ("dtype", "clim", "gamma"),
    [
        pytest.param(np.float32, (20.0, 80.0), 1.0, id="float32-linear"),
        pytest.param(np.float32, (20.0, 80.0), 0.5, id="float32-gamma0.5"),
        pytest.param(np.uint8, (10.0, 200.0), 2.0, id="uint8-gamma2"),
        pytest.param(np.uint16, (1000.0, 50000.0), 1.0, id="uint16"),
        pytest.param(np.int32, (-50.0, 90.0), 1.5, id="int32-converted"),
        pytest.param(np.float64, (0.0, 100.0), 1.0, id="float64-converted"),
    ],
)
def test_grayscale_contrast_limits_and_gamma(
    make_backend: BackendFactory, dtype: type, clim: tuple[float, float], gamma: float
) -> None:
    rng = np.random.default_rng(1)
    info_hi = clim[1] * 1.2
    data = rng.uniform(clim[0] - 10 if clim[0] >= 10 else clim[0], info_hi, (8, 12)).astype(dtype)
    draw = ImageDraw(key=1, data=data, transform=np.eye(3), contrast_limits=clim, gamma=gamma)
    backend = make_backend((8 * K, 12 * K))
    backend.apply(plan_2d((draw,), data.shape, K))
    shot = backend.screenshot()
    assert shot.shape == (8 * K, 12 * K, 4)
    ref = expand(_gray_reference(data, clim, gamma), K)
    np.testing.assert_allclose(shot[..., :3], ref, atol=2)
    assert np.all(shot[..., 3] == 255)


def test_viridis_colormap_matches_cmap_lut(make_backend: BackendFactory) -> None:
    data = np.linspace(0.0, 1.0, 16 * 16, dtype=np.float32).reshape(16, 16)
    cm = Colormap("viridis")
    draw = ImageDraw(key=1, data=data, transform=np.eye(3), contrast_limits=(0.0, 1.0), colormap=cm)
    backend = make_backend((16 * K, 16 * K))
    backend.apply(plan_2d((draw,), data.shape, K))
    shot = backend.screenshot()
    ref = expand(to_u8(np.asarray(cm(data))[..., :3]), K)
    np.testing.assert_allclose(shot[..., :3], ref, atol=3)


def test_rgb_image_is_shown_as_is(make_backend: BackendFactory) -> None:
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    draw = ImageDraw(key=1, data=data, transform=np.eye(3), contrast_limits=(0, 255), rgb=True)
    backend = make_backend((6 * K, 10 * K))
    backend.apply(plan_2d((draw,), (6, 10), K))
    shot = backend.screenshot()
    np.testing.assert_allclose(shot[..., :3], expand(data, K), atol=1)


def test_two_additive_channels_sum(make_backend: BackendFactory) -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, (8, 8)).astype(np.float32)
    b = rng.uniform(0, 1, (8, 8)).astype(np.float32)
    red = Colormap(["black", "red"])
    green = Colormap(["black", "lime"])
    draws = (
        ImageDraw(1, a, np.eye(3), (0.0, 1.0), colormap=red, blending="additive"),
        ImageDraw(2, b, np.eye(3), (0.0, 1.0), colormap=green, blending="additive"),
    )
    backend = make_backend((8 * K, 8 * K))
    shot = render(backend, plan_2d(draws, a.shape, K))
    np.testing.assert_allclose(shot[..., 0], expand(to_u8(a), K), atol=2)
    np.testing.assert_allclose(shot[..., 1], expand(to_u8(b), K), atol=2)
    assert np.all(shot[..., 2] == 0)


def _labels_case(kind: str) -> tuple[np.ndarray, LabelColormap]:
    rng = np.random.default_rng(4)
    if kind == "small":
        data = rng.integers(0, 6, (10, 10)).astype(np.uint8)
    elif kind == "many":  # > 4096 labels: the lookup table wraps onto a second row
        data = rng.permutation(100 * 100).reshape(100, 100).astype(np.int32)
    else:  # large and negative label values: mapped through np.unique
        data = rng.choice(np.array([0, -7, 3, 70_000, 2**31 - 5]), size=(10, 10)).astype(np.int64)

    def default(labels: np.ndarray) -> np.ndarray:
        # a deterministic colour per label, exactly representable in uint8
        h = (labels.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**24)
        rgb = np.stack([(h >> np.uint64(s)) & np.uint64(255) for s in (0, 8, 16)], axis=-1)
        return np.concatenate([rgb / 255.0, np.ones((labels.size, 1))], axis=-1)

    colors = {1: (1.0, 0.0, 0.0, 1.0), 3: (0.0, 0.0, 1.0, 1.0)}
    return data, LabelColormap(colors=colors, default=default)


@pytest.mark.parametrize("kind", ["small", "many", "large-and-negative"])
def test_labels_exact_colours(make_backend: BackendFactory, kind: str) -> None:
    data, cmap = _labels_case(kind)
    k = 1 if kind == "many" else K
    draw = LabelsDraw(key=1, data=data, transform=np.eye(3), colormap=cmap)
    backend = make_backend((data.shape[0] * k, data.shape[1] * k))
    shot = render(backend, plan_2d((draw,), data.shape, k))
    rgba = cmap.map(data)
    ref = to_u8(rgba[..., :3] * rgba[..., 3:])  # over a black background
    np.testing.assert_array_equal(shot[..., :3], expand(ref, k))
    background = expand(data == 0, k)
    assert np.all(shot[background][:, :3] == 0)


def test_labels_with_translucent_colours_and_opacity(make_backend: BackendFactory) -> None:
    data = np.array([[0, 1], [2, 1]], dtype=np.uint16)
    cmap = LabelColormap(colors={1: (1.0, 1.0, 1.0, 0.5), 2: (0.0, 1.0, 0.0, 1.0)})
    draw = LabelsDraw(key=1, data=data, transform=np.eye(3), colormap=cmap, opacity=0.5)
    backend = make_backend((2 * K, 2 * K))
    shot = render(backend, plan_2d((draw,), data.shape, K))
    assert np.all(np.abs(shot[K, 0, :3] - [0, 128, 0]) <= 1)  # label 2 at half opacity
    assert np.all(np.abs(shot[0, K, :3] - [64, 64, 64]) <= 1)  # alpha 0.5 x opacity 0.5
    assert np.all(shot[0, 0, :3] == 0)


def test_points_centres_colours_and_sizes(make_backend: BackendFactory) -> None:
    coords = np.array([[4.0, 4.0], [4.0, 12.0], [12.0, 8.0]])
    face = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=np.float32)
    draw = PointsDraw(
        key=1,
        coords=coords,
        sizes=np.array([4.0, 4.0, 6.0]),
        face_colors=face,
        edge_colors=face,
        edge_width=0.0,
    )
    plan = RenderPlan(
        ndisplay=2,
        camera=CameraView(center=(8.0, 8.0), zoom=float(K)),
        layers=(draw,),
        canvas_size=(16 * K, 16 * K),
    )
    backend = make_backend((16 * K, 16 * K))
    shot = render(backend, plan)
    for (r, c), size, colour in zip(coords, (4.0, 4.0, 6.0), face, strict=True):
        x, y = backend.world_to_canvas((r, c))
        cy, cx = int(y), int(x)
        expected = to_u8(colour[:3])
        inside = size / 2 * K * 0.6  # well inside the disc
        outside = size / 2 * K + 3  # beyond the disc and its antialiasing
        for dy, dx in ((0, 0), (inside, 0), (0, -inside)):
            np.testing.assert_allclose(shot[int(cy + dy), int(cx + dx), :3], expected, atol=2)
        for dy, dx in ((outside, 0), (0, outside), (-outside, 0)):
            assert np.all(shot[int(cy + dy), int(cx + dx), :3] <= 2)


def test_image_transform_scale_and_translate(make_backend: BackendFactory) -> None:
    data = np.arange(4 * 4, dtype=np.float32).reshape(4, 4) / 15.0
    transform = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 0.0, 1.0]])  # scale 2, shift 1
    draw = ImageDraw(key=1, data=data, transform=transform, contrast_limits=(0.0, 1.0))
    # world spans [0.5-0.5*2... ]: pixel i covers world [2i, 2i + 2) after the 1-unit shift
    plan = RenderPlan(
        ndisplay=2,
        camera=CameraView(center=(4.0, 4.0), zoom=2.0),
        layers=(draw,),
        canvas_size=(16, 16),
    )
    backend = make_backend((16, 16))
    shot = render(backend, plan)
    ref = expand(_gray_reference(data, (0.0, 1.0), 1.0), 4)
    np.testing.assert_allclose(shot[..., :3], ref, atol=2)


# Volumes are 7 voxels deep: vispy's ray marcher (0.17, llvmpipe) misses the odd voxel
# of exactly axis-aligned rays through 8- or 16-deep volumes in one marching direction.
N3 = 7


def test_3d_mip_looking_down_axis_0(make_backend: BackendFactory) -> None:
    rng = np.random.default_rng(5)
    vol = rng.uniform(0, 1, (N3, 9, 8)).astype(np.float32)
    draw = ImageDraw(key=1, data=vol, transform=np.eye(4), contrast_limits=(0.0, 1.0))
    shot = shot_3d(make_backend((9 * K, 8 * K)), draw, (3.0, 4.0, 3.5), K)
    ref = expand(_gray_reference(vol.max(axis=0), (0.0, 1.0), 1.0), K)
    np.testing.assert_allclose(shot[..., :3], ref, atol=2)


@pytest.mark.parametrize(
    ("angles", "axis", "rows", "cols"),
    [
        # (angles, projected axis, (display axis, flipped) shown down rows, ... across cols)
        pytest.param((0.0, 90.0, 0.0), 2, (1, False), (0, True), id="look-along-axis2"),
        pytest.param((0.0, 0.0, 90.0), 1, (0, False), (2, False), id="look-along-axis1"),
        pytest.param((90.0, 0.0, 0.0), 0, (2, True), (1, False), id="axis0-rolled-90"),
    ],
)
def test_3d_minip_and_mip_along_other_axes(
    make_backend: BackendFactory,
    angles: tuple[float, float, float],
    axis: int,
    rows: tuple[int, bool],
    cols: tuple[int, bool],
) -> None:
    from tilescope.render.orientation import camera_basis

    basis = camera_basis(angles)  # right, down, into the screen (display order)
    assert abs(basis[2][axis]) == pytest.approx(1.0)
    assert basis[1][rows[0]] == pytest.approx(-1.0 if rows[1] else 1.0)
    assert basis[0][cols[0]] == pytest.approx(-1.0 if cols[1] else 1.0)
    rng = np.random.default_rng(6)
    vol = rng.uniform(0, 1, (N3, N3, N3)).astype(np.float32)
    backend = make_backend((N3 * K, N3 * K))
    for rendering, reduce in (("mip", np.max), ("minip", np.min)):
        draw = ImageDraw(1, vol, np.eye(4), (0.0, 1.0), rendering=rendering)
        shot = shot_3d(backend, draw, (3.0, 3.0, 3.0), K, angles)
        proj = reduce(vol, axis=axis)  # remaining axes in increasing order
        remaining = [a for a in range(3) if a != axis]
        image = proj if remaining.index(rows[0]) == 0 else proj.T
        if rows[1]:
            image = image[::-1]
        if cols[1]:
            image = image[:, ::-1]
        ref = expand(_gray_reference(image, (0.0, 1.0), 1.0), K)
        np.testing.assert_allclose(shot[..., :3], ref, atol=2, err_msg=rendering)


def test_3d_translucent_with_an_opaque_colormap_shows_the_nearest_voxels(
    make_backend: BackendFactory,
) -> None:
    """Front-to-back compositing: an opaque first sample hides everything behind it."""
    from tilescope.render.orientation import camera_basis

    rng = np.random.default_rng(7)
    vol = rng.uniform(0, 1, (N3, 9, 8)).astype(np.float32)
    draw = ImageDraw(1, vol, np.eye(4), (0.0, 1.0), rendering="translucent")
    shot = shot_3d(make_backend((9 * K, 8 * K)), draw, (3.0, 4.0, 3.5), K)
    into_screen = camera_basis((0.0, 0.0, 0.0))[2]
    assert abs(into_screen[0]) == pytest.approx(1.0)  # looking along axis 0
    nearest = vol[-1] if into_screen[0] < 0 else vol[0]
    ref = expand(_gray_reference(nearest, (0.0, 1.0), 1.0), K)
    np.testing.assert_allclose(shot[..., :3], ref, atol=2)


def test_3d_iso_shows_only_voxels_above_threshold(make_backend: BackendFactory) -> None:
    vol = np.zeros((8, 8, 8), dtype=np.uint8)
    vol[2:6, 1:3, 1:3] = 200  # above the threshold
    vol[2:6, 5:7, 5:7] = 90  # below it
    draw = ImageDraw(1, vol, np.eye(4), (0.0, 255.0), rendering="iso", iso_threshold=128)
    shot = shot_3d(make_backend((8 * K, 8 * K)), draw, (3.5, 3.5, 3.5), K)
    assert shot[2 * K, 2 * K, :3].max() > 50  # centre of the bright column
    assert shot[6 * K, 6 * K, :3].max() == 0  # the dim column is not a surface
    assert shot[0, 0, :3].max() == 0


def test_3d_labels_are_coloured(make_backend: BackendFactory) -> None:
    data = np.zeros((6, 6, 6), dtype=np.int32)
    data[1:5, 1:3, 1:3] = 1
    data[1:5, 4:6, 4:6] = 2
    cmap = LabelColormap(colors={1: (1.0, 0.0, 0.0, 1.0), 2: (0.0, 1.0, 0.0, 1.0)})
    draw = LabelsDraw(1, data, np.eye(4), colormap=cmap)
    shot = shot_3d(make_backend((6 * K, 6 * K)), draw, (2.5, 2.5, 2.5), K)
    red = shot[int(1.5 * K) + 2, int(1.5 * K) + 2, :3]
    green = shot[int(4.5 * K) + 2, int(4.5 * K) + 2, :3]
    assert red[0] > 200
    assert red[1] < 30
    assert green[1] > 200
    assert green[0] < 30
    assert shot[0, 0, :3].max() == 0
