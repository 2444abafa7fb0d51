"""From a coverage plan to loader requests: the glue between ``tiles`` and the loader.

:func:`tile_requests` turns the loads of a
:class:`~tilescope.tiles.coverage.CoveragePlan` into
:class:`~tilescope.loading.loader.LoadRequest` values whose ``read`` is a
:class:`TileRead`: a frozen, picklable callable that reads (or, for computed
levels, builds) one tile from its :class:`~tilescope.tiles.source.TileSource`
in a worker.  With a cache, computed tiles reuse cached children and cache the
intermediate tiles they build (in worker threads; a request sent to a worker
process travels without the cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from tilescope.cancel import CancelToken
from tilescope.loading.cache import ChunkCache
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoadRequest
from tilescope.tiles.coverage import CoveragePlan, TileLoad
from tilescope.tiles.grid import TileKey
from tilescope.tiles.source import TileSource

__all__ = ["TileRead", "tile_requests", "want_plan"]


@dataclass(frozen=True, slots=True)
class TileRead:
    """Read one tile (worker side).

    Pickles without its cache (a cache cannot cross into a worker process), so
    the same requests work with thread and process executors.
    """

    source: TileSource
    key: TileKey
    cache: ChunkCache | None = None

    def __reduce__(self) -> tuple[type[TileRead], tuple[TileSource, TileKey, None]]:
        return (TileRead, (self.source, self.key, None))

    def __call__(self, token: CancelToken) -> npt.NDArray[Any]:
        """Return the tile's pixels; checks ``token`` between steps.  Worker threads only."""
        if self.cache is None:
            return self.source.read_tile(self.key, token)
        return self.source.read_tile(self.key, token, self.cache.peek, self.cache.put)


def tile_requests(
    plan: CoveragePlan,
    source: TileSource,
    cache: ChunkCache | None = None,
    pinned_levels: int = 1,
) -> list[LoadRequest]:
    """The plan's loads as requests, in priority order.

    Tiles of the ``pinned_levels`` coarsest levels are cached pinned.
    """
    first_pinned = source.grid.root_level - pinned_levels + 1
    return [_request(load, source, cache, first_pinned) for load in plan.load]


def _request(
    load: TileLoad, source: TileSource, cache: ChunkCache | None, first_pinned: int
) -> LoadRequest:
    return LoadRequest(
        key=load.key,
        read=TileRead(source, load.key, cache),
        level_offset=load.level_offset,
        distance=load.distance,
        pinned=load.key.level >= first_pinned,
    )


def want_plan(loader: ChunkLoader, plan: CoveragePlan, source: TileSource) -> None:
    """Hand a layer's plan to the loader: ``set_wanted`` without rebuilding known requests.

    Equivalent to ``loader.set_wanted(source.layer_id, tile_requests(plan, source,
    loader.cache, pinned_levels))`` but builds request objects only for tiles that
    need a new load, which keeps the per-frame cost of panning low.
    """
    loads = plan.load
    cache = loader.cache
    first_pinned = source.grid.root_level - loader.config.cache.pinned_levels + 1

    def make_request(i: int) -> LoadRequest:
        return _request(loads[i], source, cache, first_pinned)

    loader.set_wanted_keys(
        source.layer_id, [(t.key, t.level_offset, t.distance) for t in loads], make_request
    )
