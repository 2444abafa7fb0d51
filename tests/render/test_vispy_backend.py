"""The vispy backend's behaviour: diffing (no re-uploads for display changes), order,
opacity, blending, visibility, coordinate mapping, camera callbacks, lifecycle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from cmap import Colormap
from render_helpers import BackendFactory, expand, plan_2d, render, to_u8

from tilescope.errors import RenderError
from tilescope.render import (
    CameraView,
    ImageDraw,
    LabelColormap,
    LabelsDraw,
    PointsDraw,
    RenderBackend,
    RenderPlan,
)
from tilescope.render.orientation import camera_basis
from tilescope.render.vispy import VispyBackend

pytestmark = pytest.mark.gl

K = 4


def _const(value: float, shape: tuple[int, int] = (4, 4)) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def test_display_changes_do_not_reupload_image(make_backend: BackendFactory) -> None:
    data = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    base = ImageDraw(1, _const(0.3, (8, 8)), np.eye(3), (0.0, 1.0))
    draw = ImageDraw(2, data, np.eye(3), (0.0, 1.0))
    other = ImageDraw(3, _const(1.0, (8, 8)), np.eye(3), (0.0, 1.0))
    backend = make_backend((8 * K, 8 * K))
    # textures upload when first drawn: draw all once, then hide the top one
    render(backend, plan_2d((base, draw, other), data.shape, K))
    assert backend.stats.texture_uploads == 3
    other = dataclasses.replace(other, visible=False)
    first = render(backend, plan_2d((base, draw, other), data.shape, K))
    np.testing.assert_allclose(first[..., 0], expand(to_u8(data), K), atol=2)
    changes = [
        {"contrast_limits": (0.2, 0.6)},
        {"colormap": Colormap("viridis")},
        {"gamma": 0.3},
        {"opacity": 0.5},
        {"blending": "additive"},
        {"blending": "minimum"},
        {"interpolation": "linear"},
        {"visible": False},
    ]
    for change in changes:
        changed = dataclasses.replace(draw, **change)  # type: ignore[arg-type]
        plan = plan_2d((base, changed, other), data.shape, K)
        shot = render(backend, plan)
        assert not np.array_equal(shot, first), change
        assert backend.stats.texture_uploads == 3, change
        # updated live, the picture is what a backend drawing it from scratch shows
        np.testing.assert_array_equal(shot, render(make_backend((8 * K, 8 * K)), plan), change)
    # reordering and showing the top layer: no upload either
    shown = dataclasses.replace(other, visible=True)
    shot = render(backend, plan_2d((shown, base, draw), data.shape, K))
    np.testing.assert_allclose(shot[..., 0], expand(to_u8(data), K), atol=2)
    shot = render(backend, plan_2d((base, draw, shown), data.shape, K))
    assert np.all(shot[..., :3] == 255)
    # back to the original settings: the original picture
    np.testing.assert_array_equal(render(backend, plan_2d((base, draw, other), (8, 8), K)), first)
    assert backend.stats.texture_uploads == 3


def test_new_data_or_version_reuploads(make_backend: BackendFactory) -> None:
    data = _const(0.25)
    draw = ImageDraw(1, data, np.eye(3), (0.0, 1.0))
    backend = make_backend((4 * K, 4 * K))
    render(backend, plan_2d((draw,), data.shape, K))
    assert backend.stats.texture_uploads == 1
    data[:] = 0.75  # mutated in place: only a new data_version tells the backend
    shot = render(backend, plan_2d((dataclasses.replace(draw, data_version=1),), data.shape, K))
    assert backend.stats.texture_uploads == 2
    assert np.all(np.abs(shot[..., 0] - 191) <= 1)
    shot = render(backend, plan_2d((dataclasses.replace(draw, data=_const(0.5)),), (4, 4), K))
    assert backend.stats.texture_uploads == 3
    assert np.all(np.abs(shot[..., 0] - 128) <= 1)


def test_volume_display_changes_do_not_reupload(make_backend: BackendFactory) -> None:
    vol = np.random.default_rng(0).uniform(0, 1, (5, 6, 6)).astype(np.float32)
    draw = ImageDraw(1, vol, np.eye(4), (0.0, 1.0))
    plan = RenderPlan(3, CameraView((2.0, 2.5, 2.5), float(K)), (draw,), canvas_size=(24, 24))
    backend = make_backend((24, 24))
    first = render(backend, plan)
    uploads = backend.stats.texture_uploads
    for change in (
        {"contrast_limits": (0.5, 1.0)},
        {"colormap": Colormap("magma")},
        {"gamma": 2.0},
        {"rendering": "minip"},
        {"rendering": "average"},
        {"rendering": "attenuated_mip"},
        {"rendering": "translucent"},
        {"rendering": "iso", "iso_threshold": 0.5},
    ):
        changed_plan = dataclasses.replace(
            plan,
            layers=(dataclasses.replace(draw, **change),),  # type: ignore[arg-type]
        )
        shot = render(backend, changed_plan)
        assert not np.array_equal(shot, first), change
        np.testing.assert_array_equal(shot, render(make_backend((24, 24)), changed_plan), change)
    assert backend.stats.texture_uploads == uploads


def test_labels_recolour_without_reuploading_labels(make_backend: BackendFactory) -> None:
    data = np.array([[0, 1], [2, 1]], dtype=np.int32)
    cmap = LabelColormap(colors={1: (1, 0, 0, 1), 2: (0, 1, 0, 1)})
    draw = LabelsDraw(1, data, np.eye(3), colormap=cmap)
    backend = make_backend((2 * K, 2 * K))
    render(backend, plan_2d((draw,), data.shape, K))
    uploads = backend.stats.texture_uploads
    recoloured = LabelColormap(colors={1: (0, 0, 1, 1), 2: (1, 1, 0, 1)}, version=1)
    shot = render(backend, plan_2d((dataclasses.replace(draw, colormap=recoloured),), (2, 2), K))
    assert backend.stats.texture_uploads == uploads
    assert shot[0, K, :3].tolist() == [0, 0, 255]
    assert shot[K, 0, :3].tolist() == [255, 255, 0]


def test_layer_order_and_visibility(make_backend: BackendFactory) -> None:
    bottom = ImageDraw(1, _const(0.2), np.eye(3), (0.0, 1.0), blending="opaque")
    top = ImageDraw(2, _const(0.8), np.eye(3), (0.0, 1.0), blending="opaque")
    backend = make_backend((4 * K, 4 * K))
    assert np.all(np.abs(render(backend, plan_2d((bottom, top), (4, 4), K))[..., 0] - 204) <= 1)
    assert np.all(np.abs(render(backend, plan_2d((top, bottom), (4, 4), K))[..., 0] - 51) <= 1)
    hidden = dataclasses.replace(bottom, visible=False)
    assert np.all(np.abs(render(backend, plan_2d((top, hidden), (4, 4), K))[..., 0] - 204) <= 1)
    # removing a layer removes it from the picture
    assert np.all(np.abs(render(backend, plan_2d((bottom,), (4, 4), K))[..., 0] - 51) <= 1)


@pytest.mark.parametrize(
    ("blending", "opacity", "expected"),
    [
        pytest.param("translucent", 0.5, 0.5 * 0.8 + 0.5 * 0.4, id="translucent-half"),
        pytest.param("translucent", 1.0, 0.8, id="translucent-full"),
        pytest.param("additive", 1.0, 1.0, id="additive-clips"),
        pytest.param("additive", 0.25, 0.4 + 0.25 * 0.8, id="additive-quarter"),
        pytest.param("minimum", 1.0, 0.4, id="minimum"),
        pytest.param("opaque", 0.5, 0.8, id="opaque-ignores-alpha"),
    ],
)
def test_blending_and_opacity_over_a_layer(
    make_backend: BackendFactory, blending: str, opacity: float, expected: float
) -> None:
    bottom = ImageDraw(1, _const(0.4), np.eye(3), (0.0, 1.0))
    top = ImageDraw(
        2,
        _const(0.8),
        np.eye(3),
        (0.0, 1.0),
        blending=blending,  # type: ignore[arg-type]
        opacity=opacity,
    )
    backend = make_backend((4 * K, 4 * K))
    shot = render(backend, plan_2d((bottom, top), (4, 4), K))
    assert np.all(np.abs(shot[..., :3] - round(expected * 255)) <= 2)


def test_lone_layer_opacity_over_background(make_backend: BackendFactory) -> None:
    draw = ImageDraw(1, _const(1.0), np.eye(3), (0.0, 1.0), opacity=0.5)
    backend = make_backend((4 * K, 4 * K))
    shot = render(backend, plan_2d((draw,), (4, 4), K))
    assert np.all(np.abs(shot[..., :3] - 128) <= 1)
    white = dataclasses.replace(plan_2d((draw,), (4, 4), K), background=(1.0, 1.0, 1.0, 1.0))
    assert np.all(np.abs(render(backend, white)[..., :3] - 255) <= 1)


def test_points_display_change_does_not_reupload(make_backend: BackendFactory) -> None:
    face = np.array([[1, 0, 0, 1]], dtype=np.float32)
    draw = PointsDraw(1, np.array([[8.0, 8.0]]), np.array([6.0]), face, face, edge_width=0.0)
    plan = RenderPlan(2, CameraView((8.0, 8.0), 2.0), (draw,), canvas_size=(32, 32))
    backend = make_backend((32, 32))
    shot = render(backend, plan)
    assert shot[16, 16, :3].tolist() == [255, 0, 0]
    assert backend.stats.vertex_uploads == 1
    same = PointsDraw(1, np.array([[8.0, 8.0]]), np.array([6.0]), face, face, edge_width=0.0)
    shot = render(
        backend, dataclasses.replace(plan, layers=(dataclasses.replace(same, opacity=0.5),))
    )
    assert backend.stats.vertex_uploads == 1
    assert abs(int(shot[16, 16, 0]) - 128) <= 1
    moved = dataclasses.replace(same, coords=np.array([[4.0, 4.0]]))
    shot = render(backend, dataclasses.replace(plan, layers=(moved,)))
    assert backend.stats.vertex_uploads == 2
    assert shot[16, 16, :3].tolist() == [0, 0, 0]
    assert shot[8, 8, :3].tolist() == [255, 0, 0]


def test_oversized_image_is_strided_to_the_texture_limit(make_backend: BackendFactory) -> None:
    cols = 32_768  # beyond llvmpipe's GL_MAX_TEXTURE_SIZE (16384): strided by 2
    pattern = np.repeat(np.arange(cols // 4, dtype=np.float32) % 5 / 4, 4)  # runs of 4 columns
    data = np.tile(pattern, (2, 1))
    draw = ImageDraw(1, data, np.eye(3), (0.0, 1.0))
    plan = RenderPlan(2, CameraView((0.5, 11.5), float(K)), (draw,), canvas_size=(2 * K, 24 * K))
    backend = make_backend((2 * K, 24 * K))
    shot = render(backend, plan)
    np.testing.assert_allclose(shot[..., 0], expand(to_u8(data[:, :24]), K), atol=2)


def test_headless_canvas_takes_the_plan_size(make_backend: BackendFactory) -> None:
    backend = make_backend((16, 16))
    backend.apply(RenderPlan(2, CameraView((0.0, 0.0), 1.0), (), canvas_size=(24, 40)))
    assert backend.canvas_size == (24, 40)
    assert backend.screenshot().shape == (24, 40, 4)


def test_screenshot_size_keeps_centre_and_zoom(make_backend: BackendFactory) -> None:
    data = np.zeros((8, 8), np.float32)
    data[3, 5] = 1.0
    backend = make_backend((32, 32))
    backend.apply(plan_2d((ImageDraw(1, data, np.eye(3), (0.0, 1.0)),), data.shape, K))
    big = backend.screenshot((48, 64)).astype(np.int16)
    assert big.shape == (48, 64, 4)
    bright = np.argwhere(big[..., 0] > 128)
    # data pixel (3, 5) is 4 screen px per unit away from the centre (3.5, 3.5)
    assert bright.min(0).tolist() == [24 + (3 - 3.5) * K - K / 2, 32 + (5 - 3.5) * K - K / 2]
    assert len(bright) == K * K
    assert backend.canvas_size == (32, 32)
    assert backend.screenshot().shape == (32, 32, 4)


def test_canvas_world_mapping_2d(make_backend: BackendFactory) -> None:
    backend = make_backend((30, 40))
    camera = CameraView(center=(10.0, -3.0), zoom=2.5)
    backend.apply(RenderPlan(2, camera, (), canvas_size=(30, 40)))
    for x, y in [(0.0, 0.0), (20.0, 15.0), (39.5, 29.5), (7.25, 3.5)]:
        world = backend.canvas_to_world((x, y))
        assert world == pytest.approx((10.0 + (y - 15.0) / 2.5, -3.0 + (x - 20.0) / 2.5))
        assert backend.world_to_canvas(world) == pytest.approx((x, y))


@pytest.mark.parametrize(
    "angles",
    [
        pytest.param((0.0, 0.0, 0.0), id="default"),
        pytest.param((30.0, -20.0, 75.0), id="oblique"),
        pytest.param((-120.0, 45.0, 10.0), id="from-behind"),
        pytest.param((0.0, 90.0, 0.0), id="gimbal"),
    ],
)
def test_canvas_world_mapping_3d_matches_napari_angles(
    make_backend: BackendFactory, angles: tuple[float, float, float]
) -> None:
    h, w, zoom = 40, 60, 3.0
    center = np.array([2.0, -1.0, 5.0])
    backend = make_backend((h, w))
    backend.apply(RenderPlan(3, CameraView(tuple(center), zoom, angles), (), canvas_size=(h, w)))
    right, down, _ = camera_basis(angles)
    rng = np.random.default_rng(7)
    for p in rng.uniform(-5, 5, (5, 3)) + center:
        expected = (
            w / 2 + zoom * np.dot(right, p - center),
            h / 2 + zoom * np.dot(down, p - center),
        )
        xy = backend.world_to_canvas(tuple(p))
        assert xy == pytest.approx(expected, abs=1e-4)
        # back to the world: the point on the plane through the centre facing the camera
        q = np.asarray(backend.canvas_to_world(xy))
        view = camera_basis(angles)[2]
        on_plane = p - np.dot(p - center, view) * view
        np.testing.assert_allclose(q, on_plane, atol=1e-4)


def test_camera_callback_on_user_zoom_only(make_backend: BackendFactory) -> None:
    from vispy.app.canvas import MouseEvent

    backend = make_backend((40, 40))
    seen: list[CameraView] = []
    backend.on_camera_changed(seen.append)
    plan = RenderPlan(2, CameraView((5.0, 5.0), 2.0), (), canvas_size=(40, 40))
    backend.apply(plan)
    backend.apply(dataclasses.replace(plan, camera=CameraView((6.0, 5.0), 3.0)))
    assert seen == []  # changes made by apply() are not echoed
    assert isinstance(backend, VispyBackend)
    event = MouseEvent("mouse_wheel", pos=(20, 20), delta=(0, 1))
    backend.canvas.events.mouse_wheel(event)
    assert len(seen) == 1
    assert seen[0].zoom > 3.0
    assert seen[0].center == pytest.approx((6.0, 5.0))  # zoomed about the cursor at the centre
    assert backend.camera == seen[0]


def test_switching_between_2d_and_3d(make_backend: BackendFactory) -> None:
    vol = np.zeros((3, 4, 4), np.float32)
    vol[1, 1, 2] = 1.0
    backend = make_backend((4 * K, 4 * K))
    draw2 = ImageDraw(1, vol[1], np.eye(3), (0.0, 1.0))
    draw3 = ImageDraw(1, vol, np.eye(4), (0.0, 1.0))
    plan2 = plan_2d((draw2,), (4, 4), K)
    plan3 = RenderPlan(3, CameraView((1.0, 1.5, 1.5), float(K)), (draw3,), canvas_size=(16, 16))
    for plan in (plan2, plan3, plan2):
        shot = render(backend, plan)
        np.testing.assert_allclose(shot[..., 0], expand(to_u8(vol[1]), K), atol=2)


def test_close_is_idempotent_and_final(make_backend: BackendFactory) -> None:
    backend = make_backend((16, 16))
    backend.close()
    backend.close()
    with pytest.raises(RenderError, match="closed"):
        backend.apply(RenderPlan(2, CameraView((0.0, 0.0), 1.0), (), canvas_size=(16, 16)))
    with pytest.raises(RenderError, match="closed"):
        backend.screenshot()


def test_closing_a_headless_backend_frees_its_egl_context(make_backend: BackendFactory) -> None:
    """vispy keeps closed EGL canvases (and their contexts) for the whole process."""
    from vispy.app.backends import _egl

    backend = make_backend((16, 16))
    assert isinstance(backend, VispyBackend)
    canvas_backend = backend.canvas._backend
    assert canvas_backend in _egl._VP_EGL_ALL_WINDOWS
    assert canvas_backend._native_context
    render(backend, plan_2d((ImageDraw(1, _const(0.5), np.eye(3), (0.0, 1.0)),), (4, 4), 4))
    backend.close()
    assert canvas_backend not in _egl._VP_EGL_ALL_WINDOWS
    assert canvas_backend._native_context is None
    other = make_backend((16, 16))  # the next headless canvas renders as before
    shot = render(other, plan_2d((ImageDraw(1, _const(0.5), np.eye(3), (0.0, 1.0)),), (4, 4), 4))
    assert np.all(np.abs(shot[..., 0] - 128) <= 1)


def test_headless_backend_has_no_widget(backend: RenderBackend) -> None:
    assert backend.native is None


@pytest.mark.parametrize("interpolation", ["bicubic", "cubic", "lanczos", "linear"])
def test_smooth_interpolations_render_without_warnings(
    make_backend: BackendFactory, interpolation: str
) -> None:
    data = np.random.default_rng(8).uniform(0, 1, (6, 6)).astype(np.float32)
    draw = ImageDraw(1, data, np.eye(3), (0.0, 1.0), interpolation=interpolation)
    backend = make_backend((6 * K, 6 * K))
    shot = render(backend, plan_2d((draw,), data.shape, K))
    # smooth kernels blend neighbours but keep the picture close to the data
    assert np.abs(shot[K // 2 :: K, K // 2 :: K, 0] - to_u8(data)).mean() < 40


def test_camera_callback_in_3d_reports_napari_angles(make_backend: BackendFactory) -> None:
    from vispy.app.canvas import MouseEvent

    backend = make_backend((40, 40))
    assert isinstance(backend, VispyBackend)
    seen: list[CameraView] = []
    backend.on_camera_changed(seen.append)
    angles = (20.0, -35.0, 60.0)
    backend.apply(RenderPlan(3, CameraView((1.0, 2.0, 3.0), 2.0, angles), (), canvas_size=(40, 40)))
    assert backend.camera is not None
    assert backend.camera.angles == pytest.approx(angles, abs=1e-6)
    backend.canvas.events.mouse_wheel(MouseEvent("mouse_wheel", pos=(20, 20), delta=(0, 2)))
    assert len(seen) == 1
    assert seen[0].zoom > 2.0
    assert seen[0].angles == pytest.approx(angles, abs=1e-6)
    assert seen[0].center == pytest.approx((1.0, 2.0, 3.0))


def test_points_in_3d_are_drawn_where_the_camera_maps_them(make_backend: BackendFactory) -> None:
    coords = np.array([[0.0, -3.0, 2.0], [4.0, 3.0, -2.0]])
    face = np.array([[1, 0, 0, 1], [0, 1, 0, 1]], dtype=np.float32)
    draw = PointsDraw(1, coords, np.array([2.0, 2.0]), face, face, edge_width=0.0)
    angles = (10.0, 25.0, -40.0)
    backend = make_backend((48, 48))
    plan = RenderPlan(3, CameraView((1.0, 0.0, 0.0), 4.0, angles), (draw,), canvas_size=(48, 48))
    shot = render(backend, plan)
    for p, colour in zip(coords, face, strict=True):
        x, y = backend.world_to_canvas(tuple(p))
        np.testing.assert_allclose(shot[int(y), int(x), :3], to_u8(colour[:3]), atol=2)


@pytest.mark.qt
def test_window_canvas_reports_resizes_and_keeps_zoom() -> None:
    from tilescope.render.vispy._app import _has_display

    if not _has_display():
        pytest.skip("needs a display (run under xvfb-run -a)")
    from PySide6.QtWidgets import QApplication, QWidget

    app = QApplication.instance() or QApplication([])
    from tilescope.render import create_backend

    backend = create_backend(show=True, size=(40, 60))  # beside this session's EGL canvases
    try:
        assert isinstance(backend.native, QWidget)
        sizes: list[tuple[int, int]] = []
        backend.on_resized(sizes.append)
        camera = CameraView((5.0, 5.0), 3.0)
        backend.apply(RenderPlan(2, camera, (), canvas_size=(40, 60)))
        backend.native.show()
        backend.native.resize(80, 50)
        for _ in range(5):
            app.processEvents()
        assert sizes
        assert sizes[-1] == (50, 80)
        assert backend.canvas_size == (50, 80)
        assert backend.camera is not None
        assert backend.camera.zoom == pytest.approx(3.0)
        assert backend.camera.center == pytest.approx((5.0, 5.0))
        shot = backend.screenshot()
        assert shot.shape == (50, 80, 4)
    finally:
        backend.close()


def test_the_camera_is_set_once_per_change_and_headless_at_the_next_render(
    make_backend: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting a vispy camera updates every visual's transforms (about 1 ms for nine
    layers): frames with an unchanged camera skip it, and headless it waits for a render."""
    import tilescope.render.vispy.backend as vispy_backend

    calls: list[CameraView] = []
    real = vispy_backend.apply_camera

    def counting(cam2d: object, cam3d: object, view: CameraView, size: object) -> None:
        calls.append(view)
        real(cam2d, cam3d, view, size)

    monkeypatch.setattr(vispy_backend, "apply_camera", counting)
    data = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    backend = make_backend((8 * K, 8 * K))
    plan = plan_2d((ImageDraw(1, data, np.eye(3), (0.0, 1.0)),), data.shape, K)
    first = render(backend, plan)
    n = len(calls)
    for _ in range(3):  # frames for arrived tiles: same camera
        backend.apply(plan)
    assert len(calls) == n
    moved = dataclasses.replace(plan, camera=CameraView((1.5, 1.5), float(K)))
    for _ in range(3):
        backend.apply(moved)
    assert len(calls) == n  # nothing drawn yet: nothing set
    assert backend.camera == pytest.approx(moved.camera)  # asked for: set now
    assert len(calls) == n + 1
    shifted = render(backend, moved)
    assert len(calls) == n + 1
    assert not np.array_equal(first, shifted)
    np.testing.assert_array_equal(render(backend, plan), first)  # and back


def test_a_frame_makes_one_new_visual_and_prepare_steps_the_rest(
    make_backend: BackendFactory,
) -> None:
    """Layers added in a row reach the backend in one plan: the frame makes the first's
    visual, each later one is a prepare step of its own, and a screenshot taken before
    those shows the whole plan anyway."""
    layers = tuple(
        ImageDraw(i, _const(v), np.eye(3), (0.0, 1.0)) for i, v in enumerate((0.2, 0.5, 1.0))
    )
    plan = plan_2d(layers, (4, 4), K)
    backend = make_backend((4 * K, 4 * K))
    assert isinstance(backend, VispyBackend)
    backend.apply(plan)
    assert len(backend._layers) == 1  # type: ignore[attr-defined]
    assert backend.wants_prepare
    backend.prepare()
    assert len(backend._layers) == 2  # type: ignore[attr-defined]
    backend.prepare()
    assert len(backend._layers) == 3  # type: ignore[attr-defined]
    assert not backend.wants_prepare
    # the top layer (opaque white) covers the others once it is drawn
    assert np.all(backend.screenshot()[..., :3] == 255)
    # a screenshot before the prepare steps makes what they would have
    other = make_backend((4 * K, 4 * K))
    other.apply(plan)
    assert np.all(other.screenshot()[..., :3] == 255)
    assert not other.wants_prepare
