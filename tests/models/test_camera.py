"""Camera: validation, events, 2D view rectangle and screen<->world mapping."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tilescope.errors import CameraError
from tilescope.models.camera import Camera, CameraState


def record(camera: Camera) -> list[tuple[str, tuple[Any, ...]]]:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    camera.events.all.connect(lambda info: calls.append((info.signal.name, info.args)))
    return calls


def test_defaults() -> None:
    camera = Camera()
    assert camera.state == CameraState(center=(0.0, 0.0), zoom=1.0)
    assert camera.angles == (0.0, 0.0, 0.0)
    assert camera.perspective == 0.0
    assert camera.state.ndisplay == 2


def test_view_rect_is_center_plus_minus_half_canvas_over_zoom() -> None:
    camera = Camera(center=(100.0, 50.0), zoom=2.0)
    assert camera.view_rect((800, 600)) == ((-100.0, -100.0), (300.0, 200.0))


def test_view_rect_needs_a_2d_camera() -> None:
    with pytest.raises(CameraError, match="2D"):
        Camera(center=(1.0, 2.0, 3.0)).view_rect((10, 10))


@pytest.mark.parametrize(
    "size",
    [
        pytest.param((0, 10), id="zero-height"),
        pytest.param((10,), id="one-value"),
        pytest.param((10, float("nan")), id="nan"),
    ],
)
def test_view_rect_rejects_bad_canvas(size: Any) -> None:
    with pytest.raises(CameraError, match="canvas_size"):
        Camera().view_rect(size)


@given(
    center=st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)),
    zoom=st.floats(1e-3, 1e3),
    canvas=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
    pixel=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_canvas_world_round_trip(
    center: tuple[float, float],
    zoom: float,
    canvas: tuple[int, int],
    pixel: tuple[float, float],
) -> None:
    state = CameraState(center=center, zoom=zoom)
    screen = (pixel[0] * canvas[0], pixel[1] * canvas[1])
    world = state.canvas_to_world(screen, canvas)
    lo, hi = state.view_rect(canvas)
    assert lo[0] - 1e-6 <= world[0] <= hi[0] + 1e-6
    back = state.world_to_canvas(world, canvas)
    assert back == pytest.approx(screen, abs=1e-6 * max(canvas))
    # the canvas centre shows the camera centre
    assert state.canvas_to_world((canvas[0] / 2, canvas[1] / 2), canvas) == pytest.approx(
        center, abs=1e-9 * max(1.0, *map(abs, center))
    )


def test_events_once_per_mutation_and_only_changed_fields() -> None:
    camera = Camera()
    calls = record(camera)
    camera.update(center=(1.0, 2.0), zoom=3.0)
    assert [name for name, _ in calls] == ["center", "zoom", "changed"]
    assert calls[-1][1] == (camera.state,)
    calls.clear()
    camera.zoom = 3.0
    camera.center = [1, 2]
    assert calls == []


def test_zoom_at_keeps_anchor_fixed_on_screen() -> None:
    camera = Camera(center=(10.0, 20.0), zoom=2.0)
    canvas = (400, 300)
    anchor = (30.0, 5.0)
    screen_before = camera.state.world_to_canvas(anchor, canvas)
    calls = record(camera)
    camera.zoom_at(2.5, anchor)
    assert camera.zoom == 5.0
    assert camera.state.world_to_canvas(anchor, canvas) == pytest.approx(screen_before)
    assert [name for name, _ in calls].count("changed") == 1


BAD: list[Any] = [
    ("zoom-zero", lambda c: setattr(c, "zoom", 0.0), "zoom"),
    ("zoom-negative", lambda c: setattr(c, "zoom", -1.0), "zoom"),
    ("zoom-nan", lambda c: setattr(c, "zoom", math.nan), "zoom"),
    ("zoom-inf", lambda c: setattr(c, "zoom", math.inf), "zoom"),
    ("zoom-text", lambda c: setattr(c, "zoom", "2"), "zoom"),
    ("center-length", lambda c: setattr(c, "center", (1.0,)), "center"),
    ("center-4", lambda c: setattr(c, "center", (1.0, 2.0, 3.0, 4.0)), "center"),
    ("center-nan", lambda c: setattr(c, "center", (1.0, math.nan)), r"center\[1\]"),
    ("center-scalar", lambda c: setattr(c, "center", 1.0), "center"),
    ("angles-length", lambda c: setattr(c, "angles", (0.0, 0.0)), "angles"),
    ("angles-inf", lambda c: setattr(c, "angles", (0.0, math.inf, 0.0)), "angles"),
    ("perspective-negative", lambda c: setattr(c, "perspective", -1.0), "perspective"),
    ("perspective-180", lambda c: setattr(c, "perspective", 180.0), "perspective"),
    ("unknown-field", lambda c: c.update(fov=3), "fov"),
    ("zoom-at-zero", lambda c: c.zoom_at(0.0, (0.0, 0.0)), "factor"),
    ("zoom-at-anchor", lambda c: c.zoom_at(2.0, (0.0,)), "anchor"),
    ("update-partly-bad", lambda c: c.update(center=(5.0, 5.0), zoom=-1), "zoom"),
]


@pytest.mark.parametrize(("mutate", "words"), [pytest.param(m, w, id=i) for i, m, w in BAD])
def test_bad_input_raises_and_changes_nothing(
    mutate: Callable[[Camera], object], words: str
) -> None:
    camera = Camera(center=(1.0, 2.0), zoom=4.0)
    before = camera.state
    calls = record(camera)
    with pytest.raises(CameraError, match=words):
        mutate(camera)
    assert camera.state is before
    assert calls == []


@pytest.mark.parametrize(
    "zoom", [1e-300, 1e-16, 1e16, 1e300], ids=["1e-300", "1e-16", "1e16", "1e300"]
)
def test_zoom_outside_what_the_renderer_draws_is_refused(zoom: float) -> None:
    camera = Camera(zoom=2.0)
    with pytest.raises(CameraError, match="zoom") as info:
        camera.zoom = zoom
    assert repr(zoom) in str(info.value) or str(zoom) in str(info.value)
    assert camera.zoom == 2.0


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=1e-300))
def test_clamp_zoom_always_gives_a_settable_zoom(zoom: float) -> None:
    from tilescope.models.camera import ZOOM_MAX, ZOOM_MIN, clamp_zoom

    z = clamp_zoom(zoom)
    assert ZOOM_MIN <= z <= ZOOM_MAX
    assert Camera(zoom=z).zoom == z
    if ZOOM_MIN <= zoom <= ZOOM_MAX:
        assert z == zoom


def test_zoom_at_stops_at_the_bounds() -> None:
    from tilescope.models.camera import ZOOM_MAX

    camera = Camera(zoom=1e14)
    camera.zoom_at(1e6, (0.0, 0.0))
    assert camera.zoom == ZOOM_MAX
