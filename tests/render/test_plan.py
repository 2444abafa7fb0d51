"""RenderPlan and draw validation, and exact label colour lookup (backend-free)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tilescope.render import (
    CameraView,
    ImageDraw,
    LabelColormap,
    LabelsDraw,
    PointsDraw,
    RenderPlan,
)


def _image(**kw: Any) -> ImageDraw:
    args: dict[str, Any] = {
        "key": 1,
        "data": np.zeros((4, 5), np.float32),
        "transform": np.eye(3),
        "contrast_limits": (0.0, 1.0),
    }
    args.update(kw)
    return ImageDraw(**args)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        pytest.param({"opacity": 1.5}, "opacity", id="opacity"),
        pytest.param({"blending": "multiply"}, "blending", id="blending"),
        pytest.param({"gamma": 0.0}, "gamma", id="gamma"),
        pytest.param({"contrast_limits": (2.0, 1.0)}, "contrast_limits", id="clim-order"),
        pytest.param({"contrast_limits": (0.0, np.inf)}, "contrast_limits", id="clim-inf"),
        pytest.param({"interpolation": "bilinear"}, "interpolation", id="interpolation"),
        pytest.param({"rendering": "volume"}, "rendering", id="rendering"),
        pytest.param({"transform": np.eye(4)}, "3x3", id="transform-shape"),
        pytest.param({"transform": np.zeros((3, 3))}, "last row", id="transform-affine"),
        pytest.param({"transform": np.diag([0.0, 1.0, 1.0])}, "invertible", id="singular"),
        pytest.param({"data": np.zeros(5)}, "2D or 3D", id="1d-data"),
        pytest.param({"data": np.zeros((4, 5, 2)), "rgb": True}, "channels", id="rgb-2ch"),
    ],
)
def test_image_draw_rejects(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _image(**kw)


def test_image_draw_is_frozen_and_normalises() -> None:
    draw = _image(contrast_limits=(0, 10))
    assert draw.contrast_limits == (0.0, 10.0)
    assert draw.ndisplay == 2
    assert not draw.transform.flags.writeable
    with pytest.raises(AttributeError):
        draw.gamma = 2.0  # type: ignore[misc]
    rgb = _image(data=np.zeros((2, 3, 4, 3), np.uint8), rgb=True, transform=np.eye(4))
    assert rgb.ndisplay == 3


def test_labels_draw_needs_integers() -> None:
    with pytest.raises(ValueError, match="integer"):
        LabelsDraw(1, np.zeros((3, 3), np.float32), np.eye(3))
    assert LabelsDraw(1, np.zeros((3, 3), np.bool_), np.eye(3)).ndisplay == 2


def test_points_draw_broadcasts_per_point_values() -> None:
    draw = PointsDraw(1, [[1.0, 2.0], [3.0, 4.0]], 3.0, (1, 0, 0, 1), (0, 0, 0, 1))  # type: ignore[arg-type]
    assert draw.sizes.tolist() == [3.0, 3.0]
    assert draw.face_colors.shape == (2, 4)
    assert draw.ndisplay == 2
    empty = PointsDraw(1, np.zeros((0, 3)), np.zeros(0), np.zeros((0, 4)), np.zeros((0, 4)))
    assert empty.ndisplay == 3
    with pytest.raises(ValueError, match="sizes"):
        PointsDraw(1, [[0.0, 0.0]], -1.0, (1, 0, 0, 1), (1, 0, 0, 1))  # type: ignore[arg-type]


def test_plan_checks_keys_and_ndisplay() -> None:
    cam = CameraView(center=(0.0, 0.0), zoom=1.0)
    with pytest.raises(ValueError, match="unique"):
        RenderPlan(2, cam, (_image(), _image()))
    with pytest.raises(ValueError, match="displayed axes"):
        RenderPlan(2, cam, (_image(data=np.zeros((2, 2, 2)), transform=np.eye(4)),))
    with pytest.raises(ValueError, match="center"):
        RenderPlan(3, cam)
    with pytest.raises(ValueError, match="zoom"):
        CameraView(center=(0.0, 0.0), zoom=0.0)
    with pytest.raises(ValueError, match="canvas_size"):
        RenderPlan(2, cam, canvas_size=(0, 10))


def test_label_colormap_explicit_default_and_background() -> None:
    def default(labels: np.ndarray) -> np.ndarray:
        return np.stack(
            [labels / 10.0, np.zeros(labels.size), np.zeros(labels.size), np.ones(labels.size)], -1
        )

    cmap = LabelColormap(
        colors={2: (0.0, 1.0, 0.0, 1.0), -1: (0.0, 0.0, 1.0, 0.5)}, default=default
    )
    got = cmap.map(np.array([[0, 1, 2], [3, -1, 2]]))
    assert got.shape == (2, 3, 4)
    np.testing.assert_allclose(got[0, 0], [0, 0, 0, 0])
    np.testing.assert_allclose(got[0, 1], [0.1, 0, 0, 1])
    np.testing.assert_allclose(got[0, 2], [0, 1, 0, 1])
    np.testing.assert_allclose(got[1, 0], [0.3, 0, 0, 1])
    np.testing.assert_allclose(got[1, 1], [0, 0, 1, 0.5])
    assert np.all(LabelColormap(colors={5: (1, 1, 1, 1)}).map(np.array([4, 6])) == 0)


@given(
    hnp.arrays(np.int64, st.integers(0, 40), elements=st.integers(-(2**40), 2**40)),
    st.dictionaries(st.integers(-5, 5), st.tuples(*[st.floats(0, 1)] * 4), max_size=6),
)
def test_label_colormap_matches_a_dict_lookup(labels: np.ndarray, colors: dict[int, Any]) -> None:
    cmap = LabelColormap(colors=colors)
    got = cmap.map(labels)
    for label, rgba in zip(labels.tolist(), got, strict=True):
        want = (0.0, 0.0, 0.0, 0.0) if label == 0 else colors.get(label, (0.0, 0.0, 0.0, 0.0))
        np.testing.assert_allclose(rgba, np.float32(want))


def test_plan_accepts_every_setting_a_layer_allows() -> None:
    """A plan never rejects what the layer models validated (their names are the source)."""
    from typing import get_args

    from tilescope.models.layers import BLENDINGS
    from tilescope.models.layers.image import INTERPOLATIONS, RENDERINGS
    from tilescope.render import Blending, Rendering

    assert set(get_args(Blending)) == BLENDINGS
    assert set(get_args(Rendering)) == RENDERINGS
    for name in sorted(INTERPOLATIONS):
        assert _image(interpolation=name).interpolation == name
    for name in sorted(RENDERINGS):
        assert _image(data=np.zeros((2, 3, 4), np.float32), transform=np.eye(4), rendering=name)
