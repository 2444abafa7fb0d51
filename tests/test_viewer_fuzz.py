"""Hypothesis fuzzing of the public API (issue 10's acceptance): ``add_image``/``add_labels``/
``add_points`` keywords, ``dims`` and ``camera`` setters. Every call either succeeds and the
viewer renders, or raises a typed ``ValueError``/``TypeError`` and leaves the viewer unchanged
and able to render. Never a psygnal ``EmitLoopError``, never a layer left behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psygnal import EmitLoopError

from tilescope.errors import TilescopeError
from tilescope.viewer import Viewer

pytestmark = pytest.mark.gl

FUZZ = settings(  # TILESCOPE_FUZZ_EXAMPLES=500 for a longer hunt
    max_examples=int(os.environ.get("TILESCOPE_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

wild_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1e-300, -1e-300, 1e300, 1e308, 1.0, -1.0, 2.5]),
)
numbers_or_junk = st.one_of(
    st.lists(wild_floats, min_size=0, max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.text(max_size=3),
    wild_floats,
    st.none(),
)
keywords = st.fixed_dictionaries(
    {},
    optional={
        "scale": numbers_or_junk,
        "translate": numbers_or_junk,
        "rotate": numbers_or_junk,
        "shear": numbers_or_junk,
        "multiscale": st.one_of(st.booleans(), st.none(), st.text(max_size=3), wild_floats),
        "colormap": st.one_of(
            st.sampled_from(["gray", "viridis", "magma", "nope", ""]),
            st.just([]),
            st.just({}),
            st.lists(st.sampled_from(["red", "blue", "x"]), max_size=3),
            st.integers(),
        ),
        "opacity": wild_floats,
        "contrast_limits": st.one_of(st.none(), st.lists(wild_floats, min_size=0, max_size=3)),
        "blending": st.sampled_from(["translucent", "additive", "opaque", "minimum", "bad"]),
    },
)


@pytest.fixture(scope="module")
def viewer() -> Iterator[Viewer]:
    v = Viewer(show=False, size=(32, 32))
    v.add_image(np.full((3, 16, 16), 0.5, np.float32), contrast_limits=(0, 1), name="base")
    v.screenshot()
    yield v
    v.close()


def _snapshot(v: Viewer) -> tuple[Any, ...]:
    return (tuple(layer.name for layer in v.layers), v.dims.state, v.camera.state)


def _call_is_atomic(v: Viewer, call: Callable[[], object]) -> None:
    """``call()`` succeeds (the viewer renders), or raises typed and changes nothing."""
    before = _snapshot(v)
    refused: Exception | None = None
    try:
        call()
    except (ValueError, TypeError) as e:
        refused = e
    if refused is not None:
        assert not isinstance(refused, EmitLoopError)
        assert isinstance(refused, TilescopeError), f"{type(refused).__name__}: {refused}"
        assert _snapshot(v) == before
    img = v.screenshot(timeout=10)
    assert img.shape == (32, 32, 4)


def _drop_added(v: Viewer) -> None:
    while len(v.layers) > 1:
        v.layers.pop()


@FUZZ
@given(kwargs=keywords)
# found by the fuzzer: limits just past float32's range reached a float32 shader uniform
@example(kwargs={"contrast_limits": [0.0, 3.4028235677973366e38]})
def test_add_image_keywords(viewer: Viewer, kwargs: dict[str, Any]) -> None:
    try:
        _call_is_atomic(viewer, lambda: viewer.add_image(np.ones((3, 16, 16)), **kwargs))
    finally:
        _drop_added(viewer)


@FUZZ
@given(kwargs=keywords.map(lambda d: {k: v for k, v in d.items() if k not in _NOT_LABELS}))
def test_add_labels_keywords(viewer: Viewer, kwargs: dict[str, Any]) -> None:
    data = np.arange(16 * 16, dtype=np.int32).reshape(16, 16) % 5
    try:
        _call_is_atomic(viewer, lambda: viewer.add_labels(data, **kwargs))
    finally:
        _drop_added(viewer)


_NOT_LABELS = {"colormap", "contrast_limits"}
_POINTS_KEYS = {"scale", "translate", "rotate", "shear", "opacity", "blending"}


@FUZZ
@given(
    kwargs=keywords.map(lambda d: {k: v for k, v in d.items() if k in _POINTS_KEYS}),
    size=wild_floats,
)
def test_add_points_keywords(viewer: Viewer, kwargs: dict[str, Any], size: float) -> None:
    pts = np.array([[1.0, 4.0, 4.0], [2.0, 8.0, 8.0]])
    try:
        _call_is_atomic(viewer, lambda: viewer.add_points(pts, size=size, **kwargs))
    finally:
        _drop_added(viewer)


@FUZZ
@given(
    axis=st.integers(-4, 4),
    step=st.one_of(st.integers(-(2**70), 2**70), wild_floats),
    point=st.lists(wild_floats, min_size=0, max_size=4),
)
def test_dims_setters(viewer: Viewer, axis: int, step: Any, point: list[float]) -> None:
    _call_is_atomic(viewer, lambda: viewer.dims.set_current_step(axis, step))
    _call_is_atomic(viewer, lambda: setattr(viewer.dims, "point", point))


@FUZZ
@given(zoom=wild_floats, center=st.lists(wild_floats, min_size=0, max_size=4))
def test_camera_setters(viewer: Viewer, zoom: float, center: list[float]) -> None:
    _call_is_atomic(viewer, lambda: setattr(viewer.camera, "zoom", zoom))
    _call_is_atomic(viewer, lambda: setattr(viewer.camera, "center", center))
