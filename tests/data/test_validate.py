"""validate_read: the shape promised and a drawable dtype, or a typed error naming the read."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tilescope.data.validate import indexed_shape, validate_read
from tilescope.errors import ReadValidationError, SliceError


@given(
    hnp.arrays(
        dtype=st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes(), hnp.boolean_dtypes()),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
    )
)
def test_numeric_results_of_the_right_shape_pass_unchanged(arr: np.ndarray) -> None:
    out = validate_read(arr, arr.shape, what="layer 'x'")
    assert out is arr


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    other=hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
)
def test_any_other_shape_is_refused_naming_both(
    shape: tuple[int, ...], other: tuple[int, ...]
) -> None:
    if shape == other:
        return
    with pytest.raises(ReadValidationError) as info:
        validate_read(np.zeros(other, np.uint8), shape, what="layer 'cells' (level 1)")
    msg = str(info.value)
    assert "layer 'cells' (level 1)" in msg
    assert str(other) in msg
    assert str(shape) in msg


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param(np.zeros((2, 2), np.complex64), "complex", id="complex"),
        pytest.param(np.array([["a", "b"], ["c", "d"]]), "<U1", id="str"),
        pytest.param(np.array([[None, 1], [2, 3]], dtype=object), "object", id="object"),
        pytest.param(np.zeros((2, 2), "datetime64[s]"), "datetime64", id="datetime"),
    ],
)
def test_undrawable_dtypes_are_refused_with_advice(value: np.ndarray, fragment: str) -> None:
    with pytest.raises(ReadValidationError, match=fragment) as info:
        validate_read(value, (2, 2), what="layer 'z'")
    assert "layer 'z'" in str(info.value)
    assert "convert" in str(info.value)
    assert isinstance(info.value, SliceError)  # a failed read, shown and retried


def test_a_non_array_result_is_refused() -> None:
    with pytest.raises(ReadValidationError, match="not an array"):
        validate_read([[1, 2], [3]], (2, 2), what="layer 'r'")


def test_lists_of_numbers_are_accepted_as_arrays() -> None:
    np.testing.assert_array_equal(validate_read([[1, 2]], (1, 2), what="x"), [[1, 2]])


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=6),
    data=st.data(),
)
def test_indexed_shape_matches_numpy(shape: tuple[int, ...], data: st.DataObject) -> None:
    key: list[int | slice] = []
    for n in shape[: data.draw(st.integers(0, len(shape)))]:
        if data.draw(st.booleans()):
            key.append(data.draw(st.integers(0, n - 1)))
        else:
            start = data.draw(st.none() | st.integers(-n - 2, n + 2))
            stop = data.draw(st.none() | st.integers(-n - 2, n + 2))
            step = data.draw(st.none() | st.integers(1, 3))
            key.append(slice(start, stop, step))
    assert indexed_shape(shape, tuple(key)) == np.zeros(shape)[tuple(key)].shape
