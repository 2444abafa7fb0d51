"""What workers turn tile pixels into: integer texels kept as they are, the rest float32."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tilescope.tiles.convert import ConvertedArray, convert_tile, texel_dtype

U16, U8, F32 = np.dtype(np.uint16), np.dtype(np.uint8), np.dtype(np.float32)


@pytest.mark.parametrize(
    ("kind", "dtypes", "texel"),
    [
        ("image", [U16, U16, U16], U16),
        ("image", [U8], U8),
        ("image", [U16, U8], F32),  # levels of two dtypes share one page format: float32
        ("image", [np.dtype(np.int16)], F32),
        ("image", [np.dtype(np.float64)], F32),
        ("image", [np.dtype(np.bool_)], F32),
        ("labels", [U16], F32),  # labels are colour-table indices
        ("rgb", [U8], F32),
    ],
)
def test_the_texel_dtype_of_a_layer(kind: str, dtypes: list[np.dtype], texel: np.dtype) -> None:
    assert texel_dtype(kind, dtypes) == texel  # type: ignore[arg-type]


@given(hnp.arrays(st.sampled_from([U16, U8]), hnp.array_shapes(min_dims=2, max_dims=2, max_side=9)))
def test_integer_tiles_keep_their_values_and_dtype(pixels: np.ndarray) -> None:
    out = convert_tile(pixels, "image", texel=pixels.dtype)
    assert out.dtype == pixels.dtype
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, pixels)
    # the same values as the float32 tile the layer would otherwise get
    np.testing.assert_array_equal(out.astype(np.float32), convert_tile(pixels, "image"))


def test_a_read_of_another_dtype_than_the_layers_integer_texel_is_refused() -> None:
    """Converting would wrap (70000 in uint16) or truncate (0.5): a wrong picture."""
    for pixels in (np.full((2, 2), 70000, np.int32), np.full((2, 2), 0.5)):
        with pytest.raises(ValueError, match=rf"returned {pixels.dtype} pixels .* uint16"):
            convert_tile(pixels, "image", texel=U16)
    assert convert_tile(np.full((2, 2), 0.5), "image").dtype == F32  # float32 layers convert


def test_a_converted_level_reads_as_its_texel() -> None:
    data = np.arange(64, dtype=np.uint16).reshape(8, 8)
    level = ConvertedArray(data, "image", None, U16)
    assert level.dtype == U16
    region = level[2:4, 1:5]
    assert region.dtype == U16
    np.testing.assert_array_equal(region, data[2:4, 1:5])
    assert ConvertedArray(data, "image").dtype == F32
    assert ConvertedArray(data, "labels", None, U16).dtype == F32
