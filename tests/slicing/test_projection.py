"""Thick-slice windows and projections, against direct numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.models.dims import DimsState, RangeTuple
from tilescope.models.layers import Image
from tilescope.slicing import build_slice_request
from tilescope.slicing.projection import point_index, project, thick_window, window_indices


def reference_indices(point: float, ml: float, mr: float, n: int) -> list[int]:
    """Pixel centres inside [point - ml, point + mr]; else the pixel containing point."""
    lo, hi = min(point - ml, point + mr), max(point - ml, point + mr)
    inside = [i for i in range(n) if lo - 1e-9 <= i <= hi + 1e-9]
    if inside:
        return inside
    i = int(np.round(point))
    return [i] if 0 <= i < n else []


REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


@pytest.mark.parametrize(
    ("point", "ml", "mr", "n", "expected"),
    [
        pytest.param(29.0, 8.0, 8.0, 60, (21, 38), id="napari-docs-thickness-16"),
        pytest.param(1.0, 1.0, 0.4, 5, (0, 2), id="keeps-current-plane"),
        pytest.param(29.0, 0.5, 0.5, 60, (29, 30), id="thickness-1-symmetric"),
        pytest.param(2.3, 0.0, 0.0, 5, (2, 3), id="zero-thickness-rounds"),
        pytest.param(2.5, 0.0, 0.0, 5, (2, 3), id="half-to-even"),
        pytest.param(0.0, 5.0, 5.0, 3, (0, 3), id="clipped"),
        pytest.param(-3.0, 1.0, 1.0, 3, None, id="outside-below"),
        pytest.param(9.0, 1.0, 1.0, 3, None, id="outside-above"),
        pytest.param(-0.4, 0.0, 0.0, 3, (0, 1), id="edge-pixel"),
        pytest.param(3.0, -1.0, -1.0, 10, (2, 5), id="negative-margins-swap"),
    ],
)
def test_thick_window(
    point: float, ml: float, mr: float, n: int, expected: tuple[int, int] | None
) -> None:
    assert thick_window(point, ml, mr, n) == expected


def test_point_index() -> None:
    assert point_index(2.4, 5) == 2
    assert point_index(3.5, 5) == 4
    assert point_index(4.5, 5) == 4  # half-to-even, like napari
    assert point_index(-0.6, 5) is None
    assert point_index(math.nan, 5) is None
    assert window_indices(2.2, 3.0, 3.0, 5, "none") == (2, 3)


def test_point_index_half_to_even_edge() -> None:
    assert point_index(4.5, 6) == 4
    assert point_index(5.5, 6) is None


def test_project_keeps_dtype_for_single_planes() -> None:
    a = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    out = project(a, (0,), "mean")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, a[0])
    with pytest.raises(ValueError, match="projection mode"):
        project(a, (0,), "median")


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 12),
    point=st.floats(-4, 16, allow_nan=False),
    ml=st.floats(0, 6),
    mr=st.floats(0, 6),
)
def test_window_matches_reference(n: int, point: float, ml: float, mr: float) -> None:
    w = thick_window(point, ml, mr, n)
    ref = reference_indices(point, ml, mr, n)
    assert (list(range(*w)) if w is not None else []) == ref


def _dims(point: tuple[float, ...], ml: tuple[float, ...], mr: tuple[float, ...]) -> DimsState:
    n = len(point)
    return DimsState(
        ndim=n,
        ndisplay=2,
        order=tuple(range(n)),
        axis_labels=tuple(str(i) for i in range(n)),
        range=tuple(RangeTuple(0.0, 10.0, 1.0) for _ in range(n)),
        point=point,
        margin_left=ml,
        margin_right=mr,
    )


@settings(max_examples=150, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(2, 4), st.integers(2, 4)),
    mode=st.sampled_from(["none", "sum", "mean", "max", "min"]),
    dtype=st.sampled_from([np.uint8, np.int16, np.float32, np.float64]),
    data=st.data(),
)
def test_every_projection_equals_numpy(
    shape: tuple[int, ...], mode: str, dtype: type, data: st.DataObject
) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arr = (rng.random(shape) * 100).astype(dtype)
    p = [data.draw(st.floats(-1, s, allow_nan=False)) for s in shape[:2]]
    ml = [data.draw(st.floats(0, 3)) for _ in range(2)]
    mr = [data.draw(st.floats(0, 3)) for _ in range(2)]
    layer = Image(arr, projection_mode=mode, contrast_limits=(0, 100))
    request = build_slice_request(layer, _dims((*p, 0.0, 0.0), (*ml, 0.0, 0.0), (*mr, 0.0, 0.0)))
    response = request()
    if mode == "none":  # no window: the plane at round(point), as napari
        idx = [[i] if 0 <= (i := int(np.round(p[a]))) < shape[a] else [] for a in range(2)]
    else:
        idx = [reference_indices(p[a], ml[a], mr[a], shape[a]) for a in range(2)]
    if not idx[0] or not idx[1]:
        assert response.empty
        return
    block = arr[np.ix_(idx[0], idx[1], range(shape[2]), range(shape[3]))]
    if block.shape[0] == 1 and block.shape[1] == 1:
        expected = block[0, 0]
    else:
        expected = REDUCE[mode](block, axis=(0, 1))
    assert response.data.dtype == expected.dtype
    np.testing.assert_allclose(response.data, expected, rtol=1e-6)
