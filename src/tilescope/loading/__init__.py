"""Asynchronous chunk loading: loader pools, delay queues, cancel tokens, the RAM cache, config.

The main thread declares what each layer wants (:meth:`ChunkLoader.set_wanted`)
and drains finished chunks (:meth:`ChunkLoader.drain`); everything that can take
unbounded time runs in the loader's workers.
"""

from tilescope.cancel import Cancelled, CancelToken
from tilescope.loading.cache import CacheStats, ChunkCache
from tilescope.loading.config import (
    DEFAULT_OCTREE_CONFIG,
    OctreeConfig,
    get_config,
    set_config,
)
from tilescope.loading.delay_queue import DelayQueue, FakeClock
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoaderPool, LoadRequest, LoadResult
from tilescope.loading.tile_requests import TileRead, tile_requests, want_plan

__all__ = [
    "DEFAULT_OCTREE_CONFIG",
    "CacheStats",
    "CancelToken",
    "Cancelled",
    "ChunkCache",
    "ChunkLoader",
    "DelayQueue",
    "FakeClock",
    "LoadRequest",
    "LoadResult",
    "LoaderPool",
    "OctreeConfig",
    "TileRead",
    "get_config",
    "set_config",
    "tile_requests",
    "want_plan",
]
