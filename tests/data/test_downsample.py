"""The downsampling kernels against brute force, and the level shapes."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pyramid_reference import brute_mean, brute_mode

from tilescope.data.downsample import downsample_block, level_shapes
from tilescope.errors import PyramidError

small_2d = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.uint8, np.uint16, np.int16, np.int32]),
        small_2d,
        elements=st.integers(0, 200),
    )
)
def test_mean_kernel_matches_brute_force_on_integers(a: np.ndarray[Any, Any]) -> None:
    got = downsample_block(a, (0, 1), "mean")
    assert got.dtype == a.dtype
    assert np.array_equal(got, brute_mean(a, (0, 1)))


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float32, small_2d, elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)))
def test_mean_kernel_matches_brute_force_on_floats(a: np.ndarray[Any, Any]) -> None:
    got = downsample_block(a, (0, 1), "mean")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, brute_mean(a, (0, 1)), rtol=1e-6, atol=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.uint8, np.int32, np.uint64]),
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=7),
        elements=st.integers(0, 3),  # few values: many ties
    ),
    st.data(),
)
def test_mode_kernel_matches_brute_force(a: np.ndarray[Any, Any], data: st.DataObject) -> None:
    axes = data.draw(st.lists(st.integers(0, a.ndim - 1), min_size=1, max_size=a.ndim, unique=True))
    got = downsample_block(a, tuple(axes), "mode")
    assert got.dtype == a.dtype
    assert np.array_equal(got, brute_mode(a, tuple(sorted(axes))))


def test_mode_keeps_a_label_that_the_mean_would_invent() -> None:
    a = np.array([[1, 1], [5, 3]], dtype=np.uint8)
    assert downsample_block(a, (0, 1), "mode").tolist() == [[1]]
    assert downsample_block(a, (0, 1), "mean").tolist() == [[2]]  # label 2 is not in the data


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(1, 5000), min_size=2, max_size=4),
    st.integers(1, 300),
)
def test_default_levels_halve_until_one_chunk(shape: list[int], chunk: int) -> None:
    axes = (len(shape) - 2, len(shape) - 1)
    chunks = [1] * (len(shape) - 2) + [chunk, chunk]
    shapes = level_shapes(shape, chunks, axes)
    assert all(shapes[-1][i] <= chunk for i in axes)
    if len(shapes) > 1:
        assert any(shapes[-2][i] > chunk for i in axes)
    for finer, coarser in itertools.pairwise(shapes):
        for i, (f, c) in enumerate(zip(finer, coarser, strict=True)):
            assert c == (math.ceil(f / 2) if i in axes else f)


def test_explicit_levels_and_too_many_levels() -> None:
    assert level_shapes((5, 4), (256, 256), (0, 1), levels=4) == [(5, 4), (3, 2), (2, 1), (1, 1)]
    with pytest.raises(PyramidError, match="too many"):
        level_shapes((5, 4), (256, 256), (0, 1), levels=5)
    with pytest.raises(PyramidError, match="at least 1"):
        level_shapes((5, 4), (256, 256), (0, 1), levels=0)
