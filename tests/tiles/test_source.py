"""Tile sources: reading stored tiles (views, no copy), computing coarser levels."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
import pytest
import zarr
from dask.callbacks import Callback
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.tiles.grid import TileKey
from tilescope.tiles.source import TileSource, downsample2, materialize


def full_plane_level(plane: npt.NDArray[Any], k: int, method: str = "mean") -> npt.NDArray[Any]:
    out = plane
    for _ in range(k):
        out = downsample2(out, method)  # type: ignore[arg-type]
    return out


def test_stored_tiles_equal_array_regions_and_index_is_a_view() -> None:
    data = np.arange(3 * 600 * 700, dtype=np.uint16).reshape(3, 600, 700)
    src = TileSource.create([data], (1, 2), layer_id=1, tile_shape=256, max_root_size=8192)
    assert src.grid.nlevels == 1
    assert src.grid.levels[0].ntiles == 1
    src = TileSource.create([data], (1, 2), layer_id=1, tile_shape=256, max_root_size=128)
    ts = src.tile_slice((2,))
    for pos in src.grid.positions(0):
        key = ts.key(pos)
        y0, y1, x0, x1 = src.grid.levels[0].pixel_bounds(pos[1], pos[2])
        np.testing.assert_array_equal(src.read_tile(key), data[2, y0:y1, x0:x1])
        assert np.shares_memory(data[src.index(key)], data)  # level-zero grid of views


def test_displayed_axes_in_reverse_order_are_transposed() -> None:
    data = np.random.default_rng(0).random((50, 3, 40))
    src = TileSource.create([data], (2, 0), layer_id=1, tile_shape=16, max_root_size=8)
    key = src.tile_slice((1,)).key((0, 1, 2))
    np.testing.assert_array_equal(src.read_tile(key), data[32:48, 1, 16:32].T)


def test_rgb_keeps_channels() -> None:
    data = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    src = TileSource.create([data], (0, 1), layer_id=1, rgb=True, tile_shape=32, max_root_size=32)
    assert src.not_displayed == ()
    tile = src.read_tile(src.tile_slice(()).key((0, 1, 2)))
    np.testing.assert_array_equal(tile, data[32:64, 64:80])
    root = src.grid.root_level
    np.testing.assert_array_equal(
        src.read_tile(src.tile_slice(()).key((root, 0, 0))), full_plane_level(data, root)
    )


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 300),
    w=st.integers(1, 300),
    tile=st.sampled_from([8, 16, 32]),
    dtype=st.sampled_from(["uint8", "uint16", "float32", "int32"]),
    method=st.sampled_from(["mean", "nearest"]),
)
def test_computed_levels_equal_downsampling_the_whole_plane(
    h: int, w: int, tile: int, dtype: str, method: str
) -> None:
    rng = np.random.default_rng(h * 1000 + w)
    data = (rng.random((2, h, w)) * 200).astype(dtype)
    src = TileSource.create(
        [data],
        (1, 2),
        layer_id=3,
        tile_shape=tile,
        max_root_size=tile * 2,
        downsample=method,  # type: ignore[arg-type]
    )
    ts = src.tile_slice((1,))
    for level in range(1, src.grid.nlevels):
        expected = full_plane_level(data[1], level, method)
        assert expected.shape == src.grid.levels[level].shape
        for pos in src.grid.positions(level):
            y0, y1, x0, x1 = src.grid.levels[level].pixel_bounds(pos[1], pos[2])
            got = src.read_tile(ts.key(pos))
            assert got.dtype == data.dtype
            np.testing.assert_array_equal(got, expected[y0:y1, x0:x1])


def test_computed_tile_uses_cached_children_and_stores_intermediates() -> None:
    data = np.zeros((64, 64), dtype=np.float32)
    src = TileSource.create([data], (0, 1), layer_id=1, tile_shape=16, max_root_size=16)
    assert [lvl.shape for lvl in src.grid.levels] == [(64, 64), (32, 32), (16, 16)]
    ts = src.tile_slice(())
    level1 = {ts.key(p): np.full((16, 16), 4.0, np.float32) for p in src.grid.positions(1)}
    stored: dict[TileKey, npt.NDArray[Any]] = {}
    root = src.read_tile(ts.key((2, 0, 0)), lookup=level1.get, store=stored.__setitem__)
    np.testing.assert_array_equal(root, np.full((16, 16), 4.0))  # from the "cache", not data
    assert stored == {}
    # without a lookup, level-1 tiles are read from level 0 and handed to `store`
    root = src.read_tile(ts.key((2, 0, 0)), lookup=lambda k: None, store=stored.__setitem__)
    np.testing.assert_array_equal(root, np.zeros((16, 16)))
    assert set(stored) == set(level1)


class _Cancelled(Exception):
    pass


class _CancelAfter:
    def __init__(self, n: int) -> None:
        self.n = n

    def raise_if_cancelled(self) -> None:
        self.n -= 1
        if self.n < 0:
            raise _Cancelled


def test_cancel_is_checked_between_steps() -> None:
    data = np.zeros((64, 64), dtype=np.float32)
    src = TileSource.create([data], (0, 1), layer_id=1, tile_shape=16, max_root_size=16)
    key = src.tile_slice(()).key((2, 0, 0))
    with pytest.raises(_Cancelled):
        src.read_tile(key, cancel=_CancelAfter(0))
    with pytest.raises(_Cancelled):
        src.read_tile(key, cancel=_CancelAfter(3))  # part-way through the children
    assert src.read_tile(key, cancel=_CancelAfter(10**6)).shape == (16, 16)


def test_multiscale_slice_indices_per_level() -> None:
    levels = [np.zeros((10, 64, 64)), np.zeros((5, 32, 32)), np.zeros((3, 16, 16))]
    src = TileSource.create(levels, (1, 2), layer_id=1, tile_shape=16, max_root_size=16)
    assert [src.slice_at_level((z,), 1) for z in range(10)] == [(z // 2,) for z in range(10)]
    assert src.slice_at_level((9,), 2) == (2,)
    assert src.tile_slice((4,)).level_slices == ((4,), (2,), (1,))
    with pytest.raises(ValueError, match="not-displayed"):
        src.slice_at_level((1, 2), 0)


def test_index_refuses_computed_levels() -> None:
    src = TileSource.create(
        [np.zeros((64, 64))], (0, 1), layer_id=1, tile_shape=16, max_root_size=16
    )
    with pytest.raises(ValueError, match="computed"):
        src.index(src.tile_slice(()).key((1, 0, 0)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"displayed": (0, 0)}, "distinct", id="same-axis"),
        pytest.param({"displayed": (0, 3)}, "out of range", id="axis-range"),
        pytest.param({"arrays": []}, "at least one", id="empty"),
    ],
)
def test_bad_source_arguments(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"arrays": [np.zeros((4, 4, 4))], "displayed": (1, 2), "layer_id": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TileSource.create(**args)


class _Recorder(Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.tasks = 0

    def _posttask(self, *args: object) -> None:
        self.tasks += 1


def test_dask_tiles_bypass_global_dask_callbacks() -> None:
    """A globally registered callback (like dask.cache.Cache) never sees tile computes."""
    data = np.random.default_rng(2).random((4, 300, 300))
    arr = da.from_array(data, chunks=(1, 128, 128))
    src = TileSource.create([arr], (1, 2), layer_id=1, tile_shape=128, max_root_size=64)
    ts = src.tile_slice((3,))
    with _Recorder() as rec:
        arr[0, :2, :2].compute()
        assert rec.tasks > 0  # the recorder does see ordinary computes
        rec.tasks = 0
        tile = src.read_tile(ts.key((0, 1, 2)))
        root = src.read_tile(ts.key((src.grid.root_level, 0, 0)))
        assert rec.tasks == 0
    np.testing.assert_array_equal(tile, data[3, 128:256, 256:300])
    np.testing.assert_array_equal(root, full_plane_level(data[3], src.grid.root_level))
    assert isinstance(materialize(arr[0, :3, :3]), np.ndarray)


def test_zarr_array_source() -> None:
    data = np.arange(100 * 90, dtype=np.int32).reshape(100, 90)
    z = zarr.create_array(store={}, shape=data.shape, chunks=(32, 32), dtype=data.dtype)
    z[:] = data
    src = TileSource.create([z], (0, 1), layer_id=1, tile_shape=32, max_root_size=32)
    ts = src.tile_slice(())
    np.testing.assert_array_equal(src.read_tile(ts.key((0, 3, 2))), data[96:100, 64:90])
    np.testing.assert_array_equal(
        src.read_tile(ts.key((src.grid.root_level, 0, 0))),
        full_plane_level(data, src.grid.root_level),
    )


@pytest.mark.parametrize(
    ("a", "method", "expected"),
    [
        pytest.param(np.array([[0, 1], [1, 1]], np.uint8), "mean", [[1]], id="uint8-rounds"),
        pytest.param(np.array([[0, 1], [1, 0]], np.uint8), "mean", [[0]], id="uint8-half-even"),
        pytest.param(np.array([[0.0, 1.0, 5.0]]), "mean", [[0.5, 5.0]], id="odd-edge-replicated"),
        pytest.param(np.array([[3, 1], [1, 1]], np.int32), "nearest", [[3]], id="nearest"),
        pytest.param(np.array([[True, False], [False, False]]), "mean", [[True]], id="bool"),
    ],
)
def test_downsample2(a: npt.NDArray[Any], method: str, expected: list[list[float]]) -> None:
    out = downsample2(a, method)  # type: ignore[arg-type]
    assert out.dtype == a.dtype
    np.testing.assert_array_equal(out, np.array(expected, dtype=a.dtype))


def test_downsample2_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="2 axes"):
        downsample2(np.zeros(3))
    with pytest.raises(ValueError, match="method"):
        downsample2(np.zeros((2, 2)), "max")  # type: ignore[arg-type]


# --- views of one volume, thick slices ------------------------------------------------

_NUMPY_REDUCERS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


def test_two_views_of_one_volume_have_different_keys_and_data() -> None:
    vol = np.random.default_rng(4).random((32, 32, 32))
    zyx = TileSource.create([vol], (1, 2), layer_id=1, tile_shape=16, max_root_size=8)
    zx = TileSource.create([vol], (0, 2), layer_id=1, tile_shape=16, max_root_size=8)
    kz = zyx.tile_slice((5,)).key((0, 1, 0))
    ky = zx.tile_slice((5,)).key((0, 1, 0))
    assert (kz.slice, kz.level, kz.row, kz.col) == (ky.slice, ky.level, ky.row, ky.col)
    assert kz != ky
    assert (kz.displayed, ky.displayed) == ((1, 2), (0, 2))
    assert len({kz, ky}) == 2
    np.testing.assert_array_equal(zyx.read_tile(kz), vol[5, 16:32, 0:16])
    np.testing.assert_array_equal(zx.read_tile(ky), vol[16:32, 5, 0:16])
    # the display order is part of the identity too (a transposed view)
    xz = TileSource.create([vol], (2, 0), layer_id=1, tile_shape=16, max_root_size=8)
    assert xz.tile_slice((5,)).key((0, 1, 0)) != ky


def test_thick_key_fields_and_validation() -> None:
    vol = np.zeros((8, 16, 16), np.uint8)
    src = TileSource.create([vol], (1, 2), layer_id=1, tile_shape=8, max_root_size=8)
    plain = src.tile_slice((3,)).key((0, 0, 0))
    assert (plain.window, plain.projection) == ((), "none")
    ts = src.tile_slice((3,), [(2, 6)], "max")
    thick = ts.key((0, 0, 0))
    assert (thick.slice, thick.window, thick.projection) == ((3,), ((2, 6),), "max")
    assert thick != plain
    assert ts.owns(thick)
    assert not ts.owns(plain)
    assert not src.tile_slice((3,)).owns(thick)
    assert src.tile_slice((3,), [(2, 5)], "max").key((0, 0, 0)) != thick
    assert src.tile_slice((3,), [(2, 6)], "sum").key((0, 0, 0)) != thick
    assert thick.to_json() == {
        "layer_id": 1,
        "data_version": 0,
        "slice": [3],
        "level": 0,
        "row": 0,
        "col": 0,
        "displayed": [1, 2],
        "window": [[2, 6]],
        "projection": "max",
    }
    # default window: the slice's own plane
    assert src.tile_slice((3,), projection="mean").key((0, 0, 0)).window == ((3, 4),)
    with pytest.raises(ValueError, match="projection must be one of"):
        src.tile_slice((3,), [(2, 6)], "median")
    with pytest.raises(ValueError, match="thick slices"):
        src.tile_slice((3,), [(2, 6)])
    with pytest.raises(ValueError, match="within"):
        src.tile_slice((3,), [(2, 9)], "max")
    with pytest.raises(ValueError, match="one \\[start, stop\\) per"):
        src.tile_slice((3,), [(2, 6), (0, 1)], "max")
    # a 2D source has nothing to project: its keys stay plain
    flat = TileSource.create([vol[0]], (0, 1), layer_id=1, tile_shape=8, max_root_size=8)
    assert flat.tile_slice((), projection="max").key((0, 0, 0)).projection == "none"


@st.composite
def thick_cases(draw: st.DrawFn) -> tuple[npt.NDArray[Any], tuple[int, int], list[tuple[int, int]]]:
    ndim = draw(st.integers(3, 4))
    shape = tuple(
        draw(st.integers(1, 5)) if i < ndim - 2 else draw(st.integers(1, 40)) for i in range(ndim)
    )
    axes = draw(st.permutations(list(range(ndim))))
    displayed = (axes[0], axes[1])
    not_displayed = [a for a in range(ndim) if a not in displayed]
    windows = []
    for a in not_displayed:
        start = draw(st.integers(0, shape[a] - 1))
        windows.append((start, draw(st.integers(start + 1, shape[a]))))
    dtype = draw(st.sampled_from(["uint8", "uint16", "float32", "int32"]))
    seed = draw(st.integers(0, 2**16))
    data = (np.random.default_rng(seed).random(shape) * 200).astype(dtype)
    return data, displayed, windows


@settings(max_examples=40, deadline=None)
@given(
    case=thick_cases(),
    mode=st.sampled_from(["sum", "mean", "max", "min"]),
    method=st.sampled_from(["mean", "nearest"]),
    cached_children=st.booleans(),
)
def test_thick_slice_tiles_equal_numpy_projection(
    case: tuple[npt.NDArray[Any], tuple[int, int], list[tuple[int, int]]],
    mode: str,
    method: str,
    cached_children: bool,
) -> None:
    data, displayed, windows = case
    src = TileSource.create(
        [data],
        displayed,
        layer_id=2,
        tile_shape=8,
        max_root_size=8,
        downsample=method,  # type: ignore[arg-type]
    )
    nd = src.not_displayed
    ts = src.tile_slice([w[0] for w in windows], windows, mode)
    # numpy's projection of the window (independent of tilescope's reducer); one plane
    # per axis is that plane itself, dtype kept (the slicer's rule, like napari)
    if all(stop - start == 1 for start, stop in windows):
        index: tuple[int | slice, ...] = tuple(
            windows[nd.index(a)][0] if a in nd else slice(None) for a in range(data.ndim)
        )
        plane = data[index]
    else:
        index = tuple(
            slice(*windows[nd.index(a)]) if a in nd else slice(None) for a in range(data.ndim)
        )
        plane = _NUMPY_REDUCERS[mode](data[index], axis=nd)
    if displayed[0] > displayed[1]:
        plane = plane.T
    # computed levels: the pyramid of the projected plane
    cache: dict[TileKey, npt.NDArray[Any]] = {}
    for level in range(src.grid.nlevels):
        expected = full_plane_level(plane, level, method)
        assert expected.shape == src.grid.levels[level].shape
        for pos in src.grid.positions(level):
            key = ts.key(pos)
            assert key.window == tuple(windows)
            assert key.projection == mode
            y0, y1, x0, x1 = src.grid.levels[level].pixel_bounds(pos[1], pos[2])
            if cached_children:
                got = src.read_tile(key, lookup=cache.get, store=cache.__setitem__)
                cache[key] = got
            else:
                got = src.read_tile(key)
            if got.dtype.kind == "f":
                np.testing.assert_allclose(got, expected[y0:y1, x0:x1], rtol=1e-6)
            else:
                np.testing.assert_array_equal(got, expected[y0:y1, x0:x1])


def test_thick_slice_on_a_stored_pyramid_maps_the_window_per_level() -> None:
    base = np.random.default_rng(5).random((8, 16, 16))
    levels = [base, base.reshape(4, 2, 8, 2, 8, 2).mean(axis=(1, 3, 5))]
    src = TileSource.create(levels, (1, 2), layer_id=1, tile_shape=8, max_root_size=8)
    ts = src.tile_slice((4,), [(3, 6)], "sum")
    # level-0 planes 3..5 overlap level-1 planes 1 (2, 3) and 2 (4, 5)
    assert src.windows_at_level([(3, 6)], 1) == ((1, 3),)
    assert ts.key((1, 0, 0)).window == ((1, 3),)
    assert ts.key((1, 0, 0)).slice == (2,)
    np.testing.assert_allclose(src.read_tile(ts.key((0, 1, 0))), base[3:6, 8:16, 0:8].sum(0))
    np.testing.assert_allclose(src.read_tile(ts.key((1, 0, 0))), levels[1][1:3].sum(0))


class _Liar:
    """Array metadata of (2, 300, 300) float32; reads return ``result(key)`` instead."""

    shape, dtype, ndim = (2, 300, 300), np.dtype(np.float32), 3

    def __init__(self, result: Any) -> None:
        self.result = result

    def __getitem__(self, key: Any) -> Any:
        return self.result(key)


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        pytest.param(lambda key: np.zeros((7, 5), np.float32), r"shape \(7, 5\)", id="shape"),
        pytest.param(lambda key: np.zeros((300, 300), object), "object", id="object"),
        pytest.param(lambda key: np.zeros((300, 300), np.complex64), "complex", id="complex"),
    ],
)
def test_a_bad_tile_read_is_a_typed_error_naming_the_tile(result: Any, fragment: str) -> None:
    from tilescope.errors import ReadValidationError

    src = TileSource.create([_Liar(result)], (1, 2), layer_id=7, tile_shape=512)
    key = src.tile_slice((1,)).key((0, 0, 0))
    with pytest.raises(ReadValidationError, match=fragment) as info:
        src.read_tile(key)
    assert "layer 7 tile" in str(info.value)
