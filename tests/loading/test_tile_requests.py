"""End to end without a renderer: plan -> requests -> loader -> resident, until final data."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.callbacks import Callback
from loading_fakes import Executors, one_pool_config

from tilescope.cancel import CancelToken
from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import OctreeConfig
from tilescope.loading.delay_queue import FakeClock
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoadRequest
from tilescope.loading.tile_requests import TileRead, tile_requests, want_plan
from tilescope.tiles.coverage import CoveragePlan, plan_coverage
from tilescope.tiles.grid import TileKey
from tilescope.tiles.intersection import visible_tiles
from tilescope.tiles.source import TileSource, downsample2

LAYER = 7


def frame(
    source: TileSource,
    z: int,
    resident: dict[TileKey, npt.NDArray[Any]],
    view: tuple[tuple[float, float], tuple[float, float]],
    canvas: tuple[int, int],
) -> CoveragePlan:
    tiles = source.tile_slice((z,))
    vt = visible_tiles(source.grid, view[0], view[1], canvas, margin=1)
    res = {k.position for k in resident if tiles.owns(k)}
    return plan_coverage(tiles, vt, res)


def assert_drawn_tiles_are_exact(
    source: TileSource, plan: CoveragePlan, resident: dict[TileKey, npt.NDArray[Any]], plane: Any
) -> None:
    for key in plan.draw:
        expected = plane
        for _ in range(key.level):
            expected = downsample2(expected)
        y0, y1, x0, x1 = source.grid.levels[key.level].pixel_bounds(key.row, key.col)
        np.testing.assert_array_equal(resident[key], expected[y0:y1, x0:x1])


def test_synchronous_convergence_to_ideal_tiles() -> None:
    data = np.random.default_rng(0).integers(0, 60000, (3, 600, 700), dtype=np.uint16)
    source = TileSource.create([data], (1, 2), layer_id=LAYER, tile_shape=128, max_root_size=256)
    assert source.grid.nlevels == 3  # level 0 grid of views + two computed levels
    cfg = OctreeConfig.from_dict({"loader_defaults": {"force_synchronous": True}})
    resident: dict[TileKey, npt.NDArray[Any]] = {}
    with ChunkLoader(cfg, cache=ChunkCache(10**8), dispatch_thread=False) as loader:
        zoomed_out = ((-0.5, -0.5), (599.5, 699.5)), (150, 175)
        zoomed_in = ((100.0, 200.0), (300.0, 400.0)), (400, 400)
        for view, canvas in (zoomed_out, zoomed_in):
            for _ in range(5):
                plan = frame(source, 2, resident, view, canvas)
                if plan.complete:
                    break
                loader.set_wanted(LAYER, tile_requests(plan, source, loader.cache))
                resident.update((r.key, r.data) for r in loader.drain() if r.data is not None)
            assert plan.complete
            assert plan.progress == 1.0
            assert_drawn_tiles_are_exact(source, plan, resident, data[2])
        assert {k.level for k in resident} == {0, 1, 2}
        # the computed root was cached pinned
        root = source.tile_slice((2,)).key((2, 0, 0))
        assert loader.cache.is_pinned(root)


def converge(
    loader: ChunkLoader,
    source: TileSource,
    z: int,
    posted: threading.Semaphore,
    resident: dict[TileKey, npt.NDArray[Any]],
) -> CoveragePlan:
    """Frames of the view of the top-left 256² until every ideal tile is resident."""
    view = ((-0.5, -0.5), (255.5, 255.5))
    for _ in range(200):
        plan = frame(source, z, resident, view, (256, 256))
        if plan.complete:
            return plan
        want_plan(loader, plan, source)
        assert posted.acquire(timeout=30), "no load finished"
        resident.update((r.key, r.data) for r in loader.drain() if r.data is not None)
    raise AssertionError("the view never got its ideal tiles")


def test_async_threads_convergence() -> None:
    data = np.random.default_rng(1).random((4, 512, 512)).astype(np.float32)
    source = TileSource.create([data], (1, 2), layer_id=LAYER, tile_shape=64, max_root_size=128)
    posted = threading.Semaphore(0)
    resident: dict[TileKey, npt.NDArray[Any]] = {}
    with ChunkLoader(
        one_pool_config(delay_queue_ms=0, num_workers=3),
        cache=ChunkCache(10**8),
        notify=posted.release,
        dispatch_thread=False,
    ) as loader:
        plan = converge(loader, source, 1, posted, resident)
        assert_drawn_tiles_are_exact(source, plan, resident, data[1])


def test_slice_change_cancels_queued_loads_of_the_old_slice() -> None:
    data = np.zeros((4, 512, 512), dtype=np.uint8)
    source = TileSource.create([data], (1, 2), layer_id=LAYER, tile_shape=64, max_root_size=128)
    clock = FakeClock()
    executors = Executors()
    with ChunkLoader(
        OctreeConfig(),
        cache=ChunkCache(10**8),
        clock=clock,
        executor_factory=executors,
        dispatch_thread=False,
    ) as loader:
        view = ((-0.5, -0.5), (255.5, 255.5))
        plan0 = frame(source, 0, {}, view, (256, 256))
        loader.set_wanted(LAYER, tile_requests(plan0, source, loader.cache))
        queued_before = loader.stats.queued
        assert queued_before > 0
        plan1 = frame(source, 1, {}, view, (256, 256))
        loader.set_wanted(LAYER, tile_requests(plan1, source, loader.cache))
        clock.advance(1.0)
        loader.pump()
        live = [
            args[0].key  # _execute(read, token, clock): read is a TileRead
            for ex in executors.by_offset.values()
            for future, _, args in ex.tasks
            if isinstance(args[0], TileRead) and not future.cancelled()
        ]
        cancelled = [future for ex in executors.by_offset.values() for future, _, _ in ex.tasks]
        assert live
        assert all(k.slice == source.slice_at_level((1,), k.level) for k in live)
        # slice 0's coarse loads (zero-delay pool) had reached the executor: cancelled there
        assert sum(f.cancelled() for f in cancelled) > 0


def test_tile_read_pickles_without_its_cache() -> None:
    data = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    source = TileSource.create([data], (0, 1), layer_id=LAYER, tile_shape=16, max_root_size=16)
    cache = ChunkCache(10**6)
    read = TileRead(source, source.tile_slice(()).key((2, 0, 0)), cache)
    clone = pickle.loads(pickle.dumps(read))
    assert clone.cache is None
    np.testing.assert_array_equal(clone(CancelToken()), read(CancelToken()))
    assert len(cache) == 4  # the four level-1 tiles built on the way to the root


def test_want_plan_builds_requests_only_for_new_tiles() -> None:
    data = np.zeros((512, 512), dtype=np.uint8)
    source = TileSource.create([data], (0, 1), layer_id=LAYER, tile_shape=64, max_root_size=128)
    clock = FakeClock()
    with ChunkLoader(
        OctreeConfig(),
        cache=ChunkCache(10**8),
        clock=clock,
        executor_factory=Executors(),
        dispatch_thread=False,
    ) as loader:
        view = ((-0.5, -0.5), (255.5, 255.5))
        plan = frame_2d(source, {}, view)
        want_plan(loader, plan, source)
        first = loader.stats
        assert first.wanted == len(plan.load)
        built: list[int] = []
        keys = [(t.key, t.level_offset, t.distance) for t in plan.load]

        def must_not_build(i: int) -> LoadRequest:
            built.append(i)
            raise AssertionError("request rebuilt for an already queued tile")

        loader.set_wanted_keys(LAYER, keys, must_not_build)
        assert built == []  # everything is already queued: nothing rebuilt
        assert loader.stats == first
        moved = frame_2d(source, {}, ((299.5, 299.5), (555.5, 555.5)))
        want_plan(loader, moved, source)
        assert loader.stats.wanted == len(moved.load)
        new = {t.key for t in moved.load} - {t.key for t in plan.load}
        gone = {t.key for t in plan.load} - {t.key for t in moved.load}
        assert new
        assert gone
        assert loader.stats.queued + loader.stats.running == len(moved.load)


def frame_2d(
    source: TileSource,
    resident: dict[TileKey, npt.NDArray[Any]],
    view: tuple[tuple[float, float], tuple[float, float]],
) -> CoveragePlan:
    tiles = source.tile_slice(())
    vt = visible_tiles(source.grid, view[0], view[1], (256, 256), margin=1)
    return plan_coverage(tiles, vt, {k.position for k in resident if tiles.owns(k)})


class StoresEveryResult(Callback):  # type: ignore[misc]
    """What dask's opportunistic cache (``dask.cache.Cache``) does: keep task results."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: dict[object, Any] = {}

    def _posttask(self, key: object, value: Any, dsk: object, state: object, id: object) -> None:
        self.stored[key] = value

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.stored.values() if isinstance(v, np.ndarray))


def test_dask_layers_are_cached_once_in_the_chunk_cache() -> None:
    """Tiles of a dask array end up in tilescope's ChunkCache and nowhere in dask."""
    data = np.random.default_rng(3).random((2, 256, 256)).astype(np.float32)
    array = da.from_array(data, chunks=(1, 64, 64))
    source = TileSource.create([array], (1, 2), layer_id=LAYER, tile_shape=64, max_root_size=64)
    posted = threading.Semaphore(0)
    resident: dict[TileKey, npt.NDArray[Any]] = {}
    with (
        StoresEveryResult() as dask_cache,
        ChunkLoader(
            one_pool_config(delay_queue_ms=0, num_workers=2),
            cache=ChunkCache(10**8),
            notify=posted.release,
        ) as loader,
    ):
        array[0, :64, :64].compute()
        assert dask_cache.nbytes() > 0  # a global dask cache does see ordinary computes
        dask_cache.stored.clear()
        plan = converge(loader, source, 1, posted, resident)
        assert_drawn_tiles_are_exact(source, plan, resident, data[1])
        assert dask_cache.stored == {}  # dask kept nothing ...
        level0 = [k for k in resident if k.level == 0]
        assert len(level0) == 16
        assert all(k in loader.cache for k in level0)  # ... the chunk cache has the tiles
        assert loader.cache.stats.bytes >= data[1].nbytes


def test_two_views_of_one_volume_share_a_cache_without_mixing_tiles() -> None:
    """Sources showing axes (1, 2) and (0, 2) of one volume, same layer id and slice
    index: the loader's cache answers each with its own plane (equal keys used to
    return the z-plane for the y request)."""
    vol = np.random.default_rng(8).random((64, 64, 64)).astype(np.float32)
    zyx = TileSource.create([vol], (1, 2), layer_id=LAYER, tile_shape=32, max_root_size=32)
    zx = TileSource.create([vol], (0, 2), layer_id=LAYER, tile_shape=32, max_root_size=32)
    cfg = OctreeConfig.from_dict({"loader_defaults": {"force_synchronous": True}})
    with ChunkLoader(cfg, cache=ChunkCache(10**8), dispatch_thread=False) as loader:
        got: dict[str, dict[TileKey, npt.NDArray[Any]]] = {}
        hits = []
        for name, source in (("zyx", zyx), ("zx", zx), ("zyx again", zyx)):
            tiles = source.tile_slice((3,))
            keys = [
                tiles.key(p)
                for lvl in range(source.grid.nlevels)
                for p in source.grid.positions(lvl)
            ]
            loader.set_wanted(
                LAYER, [LoadRequest(k, TileRead(source, k, loader.cache)) for k in keys]
            )
            got[name] = {r.key: r.data for r in loader.drain() if r.data is not None}
            assert set(got[name]) == set(keys)
            hits.append(loader.cache.stats.hits)
        # the zx pass found nothing of zyx's in the cache; the second zyx pass did
        assert hits[0] == hits[1] < hits[2]
    for name, plane in (("zyx", vol[3]), ("zx", vol[:, 3, :]), ("zyx again", vol[3])):
        for key, tile in got[name].items():
            expected = plane
            for _ in range(key.level):
                expected = downsample2(expected)
            y0, y1, x0, x1 = zyx.grid.levels[key.level].pixel_bounds(key.row, key.col)
            np.testing.assert_array_equal(tile, expected[y0:y1, x0:x1], err_msg=name)
