"""The Image model: data forms, rgb, cheap contrast limits, display settings, levels."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import pytest
import zarr
from cmap import Colormap

from tilescope.data.protocol import MultiScaleData
from tilescope.errors import ArrayProtocolError, LayerDataError, LayerPropertyError
from tilescope.models.dims import Dims
from tilescope.models.layers import Image
from tilescope.models.layers._range import MAX_SAMPLE


class CountingArray:
    """Wraps a numpy array and records how many elements each read returns."""

    def __init__(self, arr: np.ndarray) -> None:
        self._arr = arr
        self.shape = arr.shape
        self.dtype = arr.dtype
        self.ndim = arr.ndim
        self.reads: list[int] = []

    def __getitem__(self, key: Any) -> np.ndarray:
        out = np.asarray(self._arr[key])
        self.reads.append(out.size)
        return out


class HugeArray:
    """A lazily 'computed' array far too large to read: values = row + col (float32)."""

    def __init__(self, shape: tuple[int, ...], dtype: str = "float32") -> None:
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.ndim = len(shape)
        self.reads: list[int] = []

    def __getitem__(self, key: Any) -> np.ndarray:
        grids = []
        for k, n in zip(key, self.shape, strict=False):
            grids.append(np.arange(n)[k] if isinstance(k, slice) else np.array(k))
        out = np.add.outer(grids[-2], grids[-1]).astype(self.dtype)
        self.reads.append(out.size)
        return out


def test_basic_defaults() -> None:
    layer = Image(np.arange(20.0).reshape(4, 5))
    assert layer.ndim == 2
    assert not layer.rgb
    assert not layer.multiscale
    assert layer.contrast_limits == (0.0, 19.0)
    assert layer.contrast_limits_range == (0.0, 19.0)
    assert isinstance(layer.colormap, Colormap)
    assert layer.colormap.name.endswith("gray")
    assert (layer.gamma, layer.interpolation, layer.rendering) == (1.0, "nearest", "mip")
    assert layer.projection_mode == "none"
    assert layer.iso_threshold == 9.5
    assert layer.data_level == 0
    np.testing.assert_array_equal(layer.level_shapes, [[4, 5]])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda a: a, (2.0, 61.0), id="numpy"),
        pytest.param(lambda a: da.from_array(a, chunks=3), (2.0, 61.0), id="dask"),
        pytest.param(
            lambda a: _zarr_of(a),
            (2.0, 61.0),
            id="zarr",
        ),
    ],
)
def test_contrast_limits_from_values_for_every_array_type(make: Any, expected: Any) -> None:
    a = (np.arange(60, dtype=np.float32) + 2).reshape(3, 4, 5)
    layer = Image(make(a))
    if isinstance(layer.data, np.ndarray):
        assert not layer.contrast_limits_pending
    else:  # lazy: provisional until a slice (or an explicit reset) reads values
        assert layer.contrast_limits_pending
        assert layer.contrast_limits == (0.0, 1.0)
        layer.reset_contrast_limits()
        assert not layer.contrast_limits_pending
    assert layer.contrast_limits == expected


@pytest.mark.parametrize(
    ("dtype", "provisional"),
    [
        pytest.param(np.float32, (0.0, 1.0), id="float"),
        pytest.param(np.uint16, (0.0, 65535.0), id="uint16"),
        pytest.param(np.int8, (-128.0, 127.0), id="int8"),
    ],
)
def test_lazy_data_is_not_read_on_construction(dtype: Any, provisional: Any) -> None:
    arr = CountingArray(np.ones((4, 6, 6), dtype))
    layer = Image(arr)
    assert arr.reads == []
    assert layer.contrast_limits_pending
    assert layer.contrast_limits == provisional


def test_memmap_counts_as_lazy(tmp_path: Any) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.arange(12.0).reshape(3, 4))
    layer = Image(np.load(path, mmap_mode="r"))
    assert layer.contrast_limits_pending


def test_estimate_from_the_first_slice() -> None:
    from tilescope.slicing import ImageSliceRequest, build_slice_request

    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    layer = Image(da.from_array(a, chunks=2))
    dims = Dims(3, point=(1.0, 0.0, 0.0)).state
    request = build_slice_request(layer, dims)
    assert isinstance(request, ImageSliceRequest)
    assert request.estimate_contrast
    response = request()
    assert response.contrast_limits_estimate == ((20.0, 39.0), (20.0, 39.0))
    seen: list[Any] = []
    layer.events.contrast_limits.connect(seen.append)
    assert not layer.apply_contrast_limits_estimate((1.0, 2.0), (1.0, 2.0), data_version=7)
    assert layer.apply_contrast_limits_estimate(*response.contrast_limits_estimate, 0)
    assert layer.contrast_limits == (20.0, 39.0)
    assert seen == [(20.0, 39.0)]
    assert not layer.contrast_limits_pending
    assert not layer.apply_contrast_limits_estimate((0.0, 5.0), (0.0, 5.0), 0)  # once only
    again = build_slice_request(layer, dims)
    assert isinstance(again, ImageSliceRequest)
    assert not again.estimate_contrast
    assert again().contrast_limits_estimate is None


def test_user_limits_cancel_a_pending_estimate() -> None:
    layer = Image(da.zeros((4, 4), chunks=2))
    layer.contrast_limits = (3, 4)
    assert not layer.contrast_limits_pending
    assert not layer.apply_contrast_limits_estimate((0.0, 1.0), (0.0, 1.0), 0)
    assert layer.contrast_limits == (3.0, 4.0)
    with pytest.raises(LayerPropertyError):
        Image(da.zeros((4, 4), chunks=2)).apply_contrast_limits_estimate((1.0, 1.0), (0.0, 1.0), 0)


def _zarr_of(a: np.ndarray) -> Any:
    z = zarr.create_array(store={}, shape=a.shape, chunks=(2, 2, 2), dtype=a.dtype)
    z[...] = a
    return z


def test_uint8_reads_nothing() -> None:
    arr = CountingArray(np.zeros((10, 10), np.uint8))
    layer = Image(arr)
    assert layer.contrast_limits == (0.0, 255.0)
    assert arr.reads == []


def test_huge_float_array_reads_a_bounded_central_sample() -> None:
    arr = HugeArray((50, 100_000, 100_000))
    layer = Image(arr)
    assert arr.reads == []
    layer.reset_contrast_limits()
    assert sum(arr.reads) <= MAX_SAMPLE
    assert len(arr.reads) == 1
    lo, hi = layer.contrast_limits
    # centre block of the row + col ramp: around 2 * 50_000
    assert 90_000 < lo < hi < 110_000


def test_sampled_integer_data_gets_dtype_range_for_the_slider() -> None:
    arr = HugeArray((5000, 5000), dtype="uint16")
    layer = Image(arr)
    layer.reset_contrast_limits()
    assert sum(arr.reads) <= MAX_SAMPLE
    assert layer.contrast_limits_range == (0.0, 65535.0)
    assert layer.contrast_limits[1] < 65535


def test_multiscale_samples_the_coarsest_level() -> None:
    fine = CountingArray(np.zeros((64, 64), np.float32))
    coarse = CountingArray(np.arange(16, dtype=np.float32).reshape(4, 4))
    layer = Image([fine, coarse])
    assert layer.multiscale
    layer.reset_contrast_limits()
    assert fine.reads == []
    assert layer.contrast_limits == (0.0, 15.0)


def test_constant_and_nan_data() -> None:
    assert Image(np.full((3, 3), 5.0)).contrast_limits == (0.0, 5.0)
    assert Image(np.full((3, 3), np.nan)).contrast_limits == (0.0, 1.0)
    a = np.array([[np.nan, 1.0], [np.inf, 3.0]])
    assert Image(a).contrast_limits == (1.0, 3.0)


def test_rgb_guess_and_explicit() -> None:
    assert Image(np.zeros((40, 40, 3), np.uint8)).rgb
    assert not Image(np.zeros((10, 10, 3))).rgb  # sides too short to guess rgb
    layer = Image(np.zeros((10, 10, 4)), rgb=True)
    assert layer.rgb
    assert layer.ndim == 2
    np.testing.assert_array_equal(layer.level_shapes, [[10, 10]])
    assert not Image(np.zeros((40, 40, 3)), rgb=False).rgb


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "match"),
    [
        pytest.param(np.zeros(5), {}, LayerDataError, "at least 2", id="1d"),
        pytest.param(np.zeros((5, 3)), {"rgb": True}, LayerDataError, "3 or 4", id="rgb-2d"),
        pytest.param(np.zeros((5, 5, 5)), {"rgb": True}, LayerDataError, "3 or 4", id="rgb-5ch"),
        pytest.param(np.zeros((4, 4), complex), {}, LayerDataError, "real", id="complex"),
        pytest.param(np.array([["a"]]), {}, LayerDataError, "real", id="strings"),
        pytest.param(np.zeros((0, 4)), {}, LayerDataError, "empty", id="empty"),
        pytest.param([[1, 2], [3, 4]], {}, ArrayProtocolError, "not an array", id="list"),
        pytest.param(
            np.zeros((4, 4)),
            {"contrast_limits": (2, 1)},
            LayerPropertyError,
            "min < max",
            id="clims",
        ),
        pytest.param(
            np.zeros((4, 4)), {"colormap": "nope_map"}, LayerPropertyError, "colormap", id="cmap"
        ),
        pytest.param(np.zeros((4, 4)), {"gamma": 0}, LayerPropertyError, "gamma", id="gamma"),
        pytest.param(
            np.zeros((4, 4)),
            {"interpolation": "sinc"},
            LayerPropertyError,
            "interpolation",
            id="interp",
        ),
        pytest.param(
            np.zeros((4, 4)),
            {"projection_mode": "median"},
            LayerPropertyError,
            "projection_mode",
            id="proj",
        ),
        pytest.param(
            np.zeros((4, 4)), {"rendering": "xray"}, LayerPropertyError, "rendering", id="render"
        ),
    ],
)
def test_invalid_construction(data: Any, kwargs: dict[str, Any], error: Any, match: str) -> None:
    with pytest.raises(error, match=match):
        Image(data, **kwargs)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("contrast_limits", (5.0, 5.0), id="clims-equal"),
        pytest.param("contrast_limits", (1.0, np.inf), id="clims-inf"),
        pytest.param("contrast_limits", (1.0,), id="clims-one"),
        pytest.param("contrast_limits_range", (3.0, 1.0), id="range"),
        pytest.param("colormap", "not-a-colormap", id="colormap"),
        pytest.param("gamma", -1.0, id="gamma-negative"),
        pytest.param("gamma", float("inf"), id="gamma-inf"),
        pytest.param("interpolation", "sinc", id="interpolation"),
        pytest.param("rendering", "volume", id="rendering"),
        pytest.param("projection_mode", "median", id="projection"),
        pytest.param("iso_threshold", float("nan"), id="iso"),
        pytest.param("locked_data_level", 3, id="locked-level"),
        pytest.param("locked_data_level", True, id="locked-bool"),
    ],
)
def test_invalid_settings_leave_the_image_unchanged(field: str, value: Any) -> None:
    layer = Image(np.arange(16.0).reshape(4, 4))
    before = {
        k: getattr(layer, k)
        for k in (
            "contrast_limits",
            "contrast_limits_range",
            "colormap",
            "gamma",
            "interpolation",
            "rendering",
            "projection_mode",
            "iso_threshold",
            "locked_data_level",
        )
    }
    calls: list[str] = []
    layer.events.changed.connect(lambda: calls.append("changed"))
    with pytest.raises(LayerPropertyError):
        setattr(layer, field, value)
    after = {k: getattr(layer, k) for k in before}
    assert after == before
    assert calls == []


def test_display_settings() -> None:
    layer = Image(np.arange(16.0).reshape(4, 4))
    seen: list[Any] = []
    layer.events.colormap.connect(seen.append)
    layer.colormap = "viridis"
    assert layer.colormap.name.endswith("viridis")
    assert seen == [layer.colormap]
    cm = Colormap(["black", "magenta"])
    layer.colormap = cm
    assert layer.colormap is cm
    layer.interpolation = "cubic"
    assert layer.interpolation == "bicubic"
    layer.gamma = 0.5
    layer.rendering = "iso"
    layer.iso_threshold = 3
    layer.projection_mode = "max"
    assert (layer.gamma, layer.rendering, layer.iso_threshold, layer.projection_mode) == (
        0.5,
        "iso",
        3.0,
        "max",
    )


def test_contrast_limits_widen_the_range_and_range_clips_limits() -> None:
    layer = Image(np.arange(16.0).reshape(4, 4))
    layer.contrast_limits = (-5, 3)
    assert layer.contrast_limits == (-5.0, 3.0)
    assert layer.contrast_limits_range == (-5.0, 15.0)
    layer.contrast_limits_range = (0, 2)
    assert layer.contrast_limits == (0.0, 2.0)
    layer.contrast_limits_range = (10, 20)  # disjoint: limits reset to the range
    assert layer.contrast_limits == (10.0, 20.0)


def test_set_data_reestimates_auto_limits_but_keeps_user_limits() -> None:
    layer = Image(np.arange(16.0).reshape(4, 4))
    versions: list[Any] = []
    layer.events.data.connect(versions.append)
    layer.data = np.arange(100.0).reshape(10, 10)
    assert layer.contrast_limits == (0.0, 99.0)
    assert layer.data_version == 1
    assert len(versions) == 1
    layer.contrast_limits = (1, 2)
    layer.data = np.arange(4.0).reshape(2, 2)
    assert layer.contrast_limits == (1.0, 2.0)
    layer.reset_contrast_limits()
    assert layer.contrast_limits == (0.0, 3.0)


def test_set_data_with_new_ndim_right_aligns_the_transform() -> None:
    layer = Image(np.zeros((4, 5)), scale=(2.0, 3.0))
    layer.data = np.zeros((6, 4, 5))
    assert layer.ndim == 3
    np.testing.assert_array_equal(layer.scale, [1.0, 2.0, 3.0])
    assert layer.corner_pixels.shape == (2, 3)


def test_bad_set_data_changes_nothing() -> None:
    layer = Image(np.zeros((4, 5)))
    data = layer.data
    with pytest.raises(LayerDataError):
        layer.data = np.zeros(7)
    assert layer.data is data
    assert layer.data_version == 0


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        pytest.param(np.zeros((50, 50, 5)), {"rgb": True}, id="rgb-5-channels"),
        pytest.param(np.zeros((50, 50, 3)), {"rgb": "yes"}, id="rgb-not-bool"),
        pytest.param([np.zeros((4, 4)), np.zeros((8, 8))], {}, id="growing-pyramid"),
        pytest.param(np.zeros((4, 4)), {"multiscale": False, "rgb": True}, id="rgb-2d"),
        pytest.param(object(), {}, id="not-an-array"),
    ],
)
def test_bad_set_data_arguments_change_nothing(data: Any, kwargs: dict[str, Any]) -> None:
    layer = Image(np.arange(16.0).reshape(4, 4))
    before = (layer.data, layer.rgb, layer.data_version, layer.contrast_limits, layer.ndim)
    calls: list[str] = []
    layer.events.changed.connect(lambda: calls.append("changed"))
    with pytest.raises((LayerDataError, LayerPropertyError, ArrayProtocolError)):
        layer.set_data(data, **kwargs)
    assert (layer.data, layer.rgb, layer.data_version, layer.contrast_limits, layer.ndim) == before
    assert calls == []


def test_rgb_choice_is_kept_on_set_data() -> None:
    layer = Image(np.zeros((40, 40, 3)), rgb=False)
    layer.data = np.zeros((50, 50, 3))
    assert not layer.rgb
    assert layer.ndim == 3


# --- levels --------------------------------------------------------------------


def _pyramid() -> list[np.ndarray]:
    return [
        np.zeros((8, 1024, 1024), np.float32),
        np.zeros((8, 512, 512), np.float32),
        np.zeros((8, 256, 256), np.float32),
    ]


def test_multiscale_initial_level_is_coarsest_like_napari() -> None:
    layer = Image(_pyramid())
    assert isinstance(layer.data, MultiScaleData)
    assert layer.data_level == 2
    np.testing.assert_array_equal(layer.corner_pixels, [[0, 0, 0], [0, 255, 255]])
    np.testing.assert_allclose(layer.downsample_factors, [[1, 1, 1], [1, 2, 2], [1, 4, 4]])
    np.testing.assert_array_equal(layer.extent.data, [[0, 0, 0], [7, 1023, 1023]])


def test_large_numpy_array_is_sampled_not_scanned() -> None:
    a = np.zeros((3000, 3000), np.float32)  # 9 M elements
    a[1500, 1500] = 7.0  # in the central sample
    a[0, 0] = -100.0  # outside it: not seen
    layer = Image(a)
    assert not layer.contrast_limits_pending
    assert layer.contrast_limits == (0.0, 7.0)


@pytest.mark.parametrize(
    ("level", "corners", "axes"),
    [
        pytest.param(3, [[0, 0, 0], [0, 1, 1]], (1, 2), id="level-out-of-range"),
        pytest.param(0, [[0, 0], [1, 1]], (1, 2), id="corners-wrong-shape"),
        pytest.param(0, [[0, 0, 0], [0, 1, 1]], (1, 5), id="axis-out-of-range"),
    ],
)
def test_set_view_rejects_values_that_do_not_fit(
    level: int, corners: list[list[int]], axes: tuple[int, ...]
) -> None:
    layer = Image(_pyramid())
    before = (layer.data_level, layer.corner_pixels.copy(), layer.view_axes)
    with pytest.raises(LayerPropertyError):
        layer.set_view(level, corners, axes)
    assert layer.data_level == before[0]
    np.testing.assert_array_equal(layer.corner_pixels, before[1])
    assert layer.view_axes == before[2]


@pytest.mark.parametrize("value", ["yes", 0.5, 1, "False"], ids=["yes", "half", "one", "str-false"])
def test_multiscale_must_be_a_bool_or_none(value: Any) -> None:
    with pytest.raises(LayerPropertyError, match="multiscale") as info:
        Image(np.zeros((4, 4)), multiscale=value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [[], {}, (), 42], ids=["list", "dict", "tuple", "int"])
def test_unusable_colormap_specs_are_refused(value: Any) -> None:
    with pytest.raises(LayerPropertyError, match="colormap") as info:
        Image(np.zeros((4, 4)), colormap=value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "viridis",
        Colormap("magma"),
        ["black", "red"],
        {c: [[0, 0, 0], [1, 1, 1]] for c in ("red", "green", "blue")},
    ],
    ids=["name", "Colormap", "colour-list", "segment-dict"],
)
def test_valid_colormap_specs_are_accepted(value: Any) -> None:
    assert Image(np.zeros((4, 4)), colormap=value).colormap.lut(8).shape == (8, 4)


@pytest.mark.parametrize("dtype", ["complex64", "object", "U2"])
def test_undrawable_dtypes_are_refused_when_known_up_front(dtype: str) -> None:
    with pytest.raises(LayerDataError, match=dtype if dtype != "U2" else "<U2"):
        Image(np.zeros((4, 4), dtype=dtype))
