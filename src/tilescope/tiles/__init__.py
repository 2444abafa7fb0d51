"""Pure tile math: level choice, tile grids, visible tiles, coverage plans.

No Qt, no GPU, no I/O on the main thread: :class:`TileSource.read_tile` is the
one function that touches layer data, and it runs in loader workers.
"""

from tilescope.tiles.coverage import CoveragePlan, TileLoad, plan_coverage
from tilescope.tiles.grid import (
    LevelGrid,
    Position,
    TileGrid,
    TileKey,
    TileSlice,
    build_tile_grid,
)
from tilescope.tiles.intersection import ViewTiles, visible_tiles
from tilescope.tiles.levels import (
    compute_multiscale_level,
    compute_multiscale_level_and_corners,
    downsample_factors_from_shapes,
    ideal_level,
    level_and_corners_for_view,
)
from tilescope.tiles.quads import Rect, disjoint_rects, tile_texcoords
from tilescope.tiles.source import TileSource, downsample2

__all__ = [
    "CoveragePlan",
    "LevelGrid",
    "Position",
    "Rect",
    "TileGrid",
    "TileKey",
    "TileLoad",
    "TileSlice",
    "TileSource",
    "ViewTiles",
    "build_tile_grid",
    "compute_multiscale_level",
    "disjoint_rects",
    "compute_multiscale_level_and_corners",
    "downsample2",
    "downsample_factors_from_shapes",
    "ideal_level",
    "level_and_corners_for_view",
    "plan_coverage",
    "tile_texcoords",
    "visible_tiles",
]
