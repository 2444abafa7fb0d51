"""Tile-engine and loader configuration: napari's octree config, validated and frozen.

The defaults equal napari's ``DEFAULT_OCTREE_CONFIG``::

    {
        "loader_defaults": {
            "log_path": None, "force_synchronous": False, "num_workers": 10,
            "use_processes": False, "auto_sync_ms": 30, "delay_queue_ms": 100,
        },
        "octree": {
            "enabled": True, "tile_size": 256, "log_path": None,
            "loaders": {0: {"num_workers": 10, "delay_queue_ms": 100},
                        2: {"num_workers": 10, "delay_queue_ms": 0}},
        },
    }

``loaders`` keys are level offsets from the ideal level (``"0"``, ``"2"`` as JSON
strings); a load at offset ``k`` goes to the pool with the largest key ``<= k``.
Each loader may override ``num_workers``, ``auto_sync_ms`` and
``delay_queue_ms``; the rest comes from ``loader_defaults``.  A pool at offset 0
always exists (from ``loader_defaults`` when ``loaders`` has no ``0``).

tilescope additions (all optional): ``loader_defaults.executor`` (``"threads"``,
``"processes"`` or ``"dask"`` for a ``dask.distributed`` client; default from
``use_processes``), ``loader_defaults.background_nice`` (the nice value, 0-19, of the
read, slice and HTTP event-loop threads: the main thread gets a core first; Linux only; default
10; 0 turns it off); ``octree.max_root_size``, ``octree.margin_tiles``,
``octree.coverage_levels``, ``octree.finer_depth``, a ``cache`` section (``budget_bytes``,
``budget_fraction`` of RAM, ``pinned_levels``) and a ``render`` section
(``upload_budget_ms`` per frame, ``vram_budget_bytes`` for every layer's texture atlas
together, ``page_size`` of an atlas page's side and ``page_bytes`` its most bytes,
``show_placeholders`` to mark tiles drawn coarser than ideal, ``debug_tiles`` to outline
tiles by level; ``TILESCOPE_DEBUG_TILES=1`` turns the outlines on too; ``motion_scale``: in
a window, frames drawn while the view moves render at this fraction of the resolution,
scaled up, if a full-resolution frame took longer than ``motion_paint_ms`` (software
OpenGL); 1 turns it off; ``native_window``: a window's canvas draws into a native OpenGL
window rather than a composited ``QOpenGLWidget``; ``defer_present``: that window shows a
frame when the rasteriser has finished it, and the main thread does not wait for it) and a
``prefetch`` section for scrubbing non-displayed axes (``enabled``; ``radius``: slices on
each side of the current one whose coarse tiles are kept warm; ``budget_bytes``: the
neighbourhood is prefetched at the finest level whose tiles of the view fit this budget, the
coarsest level if none does; ``direction_steps``: at most this many slices ahead in the
direction the slider moves (those it reaches while a load runs, and the next, are asked
for), at a level chosen from its speed; ``num_workers`` of the prefetch pool, which starts
a load only while no visible load is waiting; ``idle_after_s``: a slider still this long has
stopped moving; ``stand_in``: a slice with nothing resident shows the nearest slice that has
resident tiles, marked as placeholders, until its own arrive).

Tiled, asynchronous rendering is always on in tilescope, so ``octree.enabled``
must be true (it is accepted so napari config files work).  ``octree.log_path``
is used for the loader log when ``loader_defaults.log_path`` is unset.

Where it comes from: :func:`get_config` returns the process default, read once
from the environment (``TILESCOPE_OCTREE`` unset or ``1``: the defaults;
``TILESCOPE_OCTREE=/path/config.json``: that file) unless :func:`set_config`
was called.  Unknown keys and wrong types raise
:class:`~tilescope.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from tilescope.data.priority import DEFAULT_BACKGROUND_NICE
from tilescope.errors import ConfigError

__all__ = [
    "DEFAULT_OCTREE_CONFIG",
    "ENV_VAR",
    "CacheSettings",
    "ExecutorKind",
    "LoaderDefaults",
    "OctreeConfig",
    "OctreeSettings",
    "PoolOverrides",
    "RenderSettings",
    "PoolSettings",
    "PrefetchSettings",
    "get_config",
    "set_config",
]

ENV_VAR = "TILESCOPE_OCTREE"
ExecutorKind = Literal["threads", "processes", "dask"]
_EXECUTORS = ("threads", "processes", "dask")

#: napari's DEFAULT_OCTREE_CONFIG, verbatim in shape and values.
DEFAULT_OCTREE_CONFIG: dict[str, Any] = {
    "loader_defaults": {
        "log_path": None,
        "force_synchronous": False,
        "num_workers": 10,
        "use_processes": False,
        "auto_sync_ms": 30,
        "delay_queue_ms": 100,
    },
    "octree": {
        "enabled": True,
        "tile_size": 256,
        "log_path": None,
        "loaders": {
            0: {"num_workers": 10, "delay_queue_ms": 100},
            2: {"num_workers": 10, "delay_queue_ms": 0},
        },
    },
}


@dataclass(frozen=True, slots=True)
class LoaderDefaults:
    """Settings of every loader pool unless a pool overrides them."""

    log_path: str | None = None
    force_synchronous: bool = False
    num_workers: int = 10
    use_processes: bool = False
    auto_sync_ms: float = 30.0
    delay_queue_ms: float = 100.0
    executor: ExecutorKind | None = None
    """``None``: ``"processes"`` when ``use_processes`` else ``"threads"``."""
    background_nice: int = DEFAULT_BACKGROUND_NICE
    """Nice value (0-19, Linux) of the read, slice and HTTP event-loop threads, so the main
    thread gets a core first (see :mod:`tilescope.data.priority`); 0: the process's."""

    @property
    def executor_kind(self) -> ExecutorKind:
        """The executor kind in effect."""
        if self.executor is not None:
            return self.executor
        return "processes" if self.use_processes else "threads"


@dataclass(frozen=True, slots=True)
class PoolOverrides:
    """Per-pool overrides of :class:`LoaderDefaults` (``None``: use the default)."""

    num_workers: int | None = None
    auto_sync_ms: float | None = None
    delay_queue_ms: float | None = None


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """The resolved settings of one loader pool."""

    level_offset: int
    num_workers: int
    auto_sync_ms: float
    delay_queue_ms: float


def _default_loaders() -> tuple[tuple[int, PoolOverrides], ...]:
    return ((0, PoolOverrides(10, None, 100.0)), (2, PoolOverrides(10, None, 0.0)))


@dataclass(frozen=True, slots=True)
class OctreeSettings:
    """Tile settings (napari's ``octree`` section plus tilescope's additions)."""

    enabled: bool = True
    tile_size: int = 256
    log_path: str | None = None
    loaders: tuple[tuple[int, PoolOverrides], ...] = field(default_factory=_default_loaders)
    max_root_size: int = 1024
    margin_tiles: int = 1
    coverage_levels: int = 2
    finer_depth: int = 2


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """RAM chunk-cache budget: ``budget_bytes`` if set, else ``budget_fraction`` of RAM."""

    budget_bytes: int | None = None
    budget_fraction: float = 0.1
    pinned_levels: int = 1


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """How tiles reach the screen: per-frame upload budget, VRAM budget, marks."""

    upload_budget_ms: float = 8.0
    vram_budget_bytes: int = 1 << 30
    page_size: int = 2048
    page_bytes: int = 8 << 20
    """Most bytes of one atlas page: a page of 4-byte texels is 2048 x 1024 (see
    :class:`~tilescope.render.atlas.TextureAtlas`'s ``max_page_bytes``)."""
    show_placeholders: bool = True
    debug_tiles: bool = False
    motion_scale: float = 0.5
    """Frames drawn while the view moves render at this fraction of the window's resolution
    (per side), when full-resolution frames are slow; 1 turns it off."""
    motion_paint_ms: float = 8.0
    """Full-resolution frames slower than this make moving frames use ``motion_scale``."""
    native_window: bool = True
    """A window's canvas draws into a native OpenGL window; false: vispy's QOpenGLWidget,
    which Qt composites into the window every frame (9-10 ms a frame on software OpenGL)."""
    defer_present: bool = True
    """A native window's frame is shown (swapped) once the GPU or software rasteriser has
    finished it, polled through a GL fence: the main thread goes on meanwhile instead of
    waiting in the swap. False: every frame swaps at once, waiting for the raster."""


@dataclass(frozen=True, slots=True)
class PrefetchSettings:
    """Scrubbing: the warm neighbourhood of the current slice and prefetch along the motion."""

    enabled: bool = True
    radius: int = 2
    """Slices on each side (per not-displayed axis) whose coarse tiles are kept warm."""
    budget_bytes: int = 32 << 20
    """The neighbourhood's level: the finest whose tiles of the view fit (else the coarsest)."""
    direction_steps: int = 4
    """Most slices ahead in the direction of travel, while the slider moves (as many as it
    reaches while one load runs, and the next, are asked for)."""
    num_workers: int = 2
    """Workers of the prefetch pool (it starts loads only while no visible load waits)."""
    idle_after_s: float = 0.5
    """A slider that has not moved for this long is at rest (no direction prefetch)."""
    stand_in: bool = True
    """A slice with nothing resident shows the nearest resident slice, as placeholders."""


@dataclass(frozen=True, slots=True)
class OctreeConfig:
    """The whole configuration: :meth:`from_dict`, :meth:`from_file`, :meth:`from_env`."""

    loader_defaults: LoaderDefaults = field(default_factory=LoaderDefaults)
    octree: OctreeSettings = field(default_factory=OctreeSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    prefetch: PrefetchSettings = field(default_factory=PrefetchSettings)

    # -- derived -------------------------------------------------------------
    def pools(self) -> tuple[PoolSettings, ...]:
        """Resolved pool settings, by ascending level offset (offset 0 always present)."""
        d = self.loader_defaults
        loaders = dict(self.octree.loaders)
        loaders.setdefault(0, PoolOverrides())
        return tuple(
            PoolSettings(
                level_offset=offset,
                num_workers=d.num_workers if o.num_workers is None else o.num_workers,
                auto_sync_ms=d.auto_sync_ms if o.auto_sync_ms is None else o.auto_sync_ms,
                delay_queue_ms=d.delay_queue_ms if o.delay_queue_ms is None else o.delay_queue_ms,
            )
            for offset, o in sorted(loaders.items())
        )

    def pool_for(self, level_offset: int) -> PoolSettings:
        """The pool with the largest key ``<= level_offset`` (offset 0 for anything below)."""
        pools = self.pools()
        return max(
            (p for p in pools if p.level_offset <= level_offset),
            default=pools[0],
            key=lambda p: p.level_offset,
        )

    @property
    def log_path(self) -> str | None:
        """Where the loader writes its JSON-lines log, if anywhere."""
        return self.loader_defaults.log_path or self.octree.log_path

    # -- conversions ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (loader keys as strings) that :meth:`from_dict` reads back."""
        loaders = {
            str(offset): {k: v for k, v in asdict(ov).items() if v is not None}
            for offset, ov in self.octree.loaders
        }
        return {
            "loader_defaults": asdict(self.loader_defaults),
            "octree": {**asdict(self.octree), "loaders": loaders},
            "cache": asdict(self.cache),
            "render": asdict(self.render),
            "prefetch": asdict(self.prefetch),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OctreeConfig:
        """Validate a napari-style config dict (missing keys take the defaults)."""
        top = _mapping(data, "config")
        _check_keys(top, {"loader_defaults", "octree", "cache", "render", "prefetch"}, "")
        return cls(
            loader_defaults=_parse_loader_defaults(top.get("loader_defaults", {})),
            octree=_parse_octree(top.get("octree", {})),
            cache=_parse_cache(top.get("cache", {})),
            render=_parse_render(top.get("render", {})),
            prefetch=_parse_prefetch(top.get("prefetch", {})),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> OctreeConfig:
        """Read a JSON config file."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read tile config file {str(p)!r}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"tile config file {str(p)!r} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OctreeConfig:
        """From ``TILESCOPE_OCTREE``: unset, empty or ``1`` -> defaults; else a JSON file path."""
        env = os.environ if environ is None else environ
        value = env.get(ENV_VAR, "").strip()
        if value in ("", "1"):
            return cls()
        if value == "0":
            raise ConfigError(
                f"{ENV_VAR}=0: tiled asynchronous rendering cannot be turned off in tilescope; "
                f"unset {ENV_VAR}, set it to 1, or to the path of a JSON config file"
            )
        return cls.from_file(value)

    def with_loader(self, **changes: Any) -> OctreeConfig:
        """A copy with ``loader_defaults`` fields changed (validated)."""
        merged = self.to_dict()
        merged["loader_defaults"].update(changes)
        return OctreeConfig.from_dict(merged)


# -- validation helpers --------------------------------------------------------
def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping (JSON object), got {type(value).__name__}")
    return cast(Mapping[str, Any], value)


def _check_keys(section: Mapping[Any, Any], allowed: set[str], prefix: str) -> None:
    for key in section:
        if key not in allowed:
            raise ConfigError(
                f"unknown config key '{prefix}{key}'; allowed keys here: {sorted(allowed)}"
            )


def _int(value: object, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config key {name!r} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"config key {name!r} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"config key {name!r} must be <= {maximum}, got {value}")
    return value


def _number(value: object, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"config key {name!r} must be a number, got {value!r}")
    if not value >= minimum:
        raise ConfigError(f"config key {name!r} must be >= {minimum}, got {value}")
    return float(value)


def _fraction(value: object, name: str) -> float:
    """A number in (0, 1]."""
    number = _number(value, name, 0)
    if not 0 < number <= 1:
        raise ConfigError(f"config key {name!r} must be > 0 and <= 1, got {value}")
    return number


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"config key {name!r} must be true or false, got {value!r}")
    return value


def _opt_path(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(f"config key {name!r} must be a path string or null, got {value!r}")
    return os.fspath(value)


def _parse_loader_defaults(raw: object) -> LoaderDefaults:
    sec = _mapping(raw, "'loader_defaults'")
    p = "loader_defaults."
    _check_keys(sec, set(LoaderDefaults.__dataclass_fields__), p)
    d = LoaderDefaults()
    executor = sec.get("executor", d.executor)
    if executor is not None and executor not in _EXECUTORS:
        raise ConfigError(
            f"config key '{p}executor' must be one of {list(_EXECUTORS)} or null, got {executor!r}"
        )
    return LoaderDefaults(
        log_path=_opt_path(sec.get("log_path", d.log_path), p + "log_path"),
        force_synchronous=_bool(
            sec.get("force_synchronous", d.force_synchronous), p + "force_synchronous"
        ),
        num_workers=_int(sec.get("num_workers", d.num_workers), p + "num_workers", 1),
        use_processes=_bool(sec.get("use_processes", d.use_processes), p + "use_processes"),
        auto_sync_ms=_number(sec.get("auto_sync_ms", d.auto_sync_ms), p + "auto_sync_ms", 0),
        delay_queue_ms=_number(
            sec.get("delay_queue_ms", d.delay_queue_ms), p + "delay_queue_ms", 0
        ),
        executor=cast(ExecutorKind | None, executor),
        background_nice=_int(
            sec.get("background_nice", d.background_nice), p + "background_nice", 0, 19
        ),
    )


def _parse_loaders(raw: object) -> tuple[tuple[int, PoolOverrides], ...]:
    sec = _mapping(raw, "'octree.loaders'")
    out: dict[int, PoolOverrides] = {}
    items: list[tuple[object, object]] = list(sec.items())
    for raw_key, raw_value in items:
        name = f"octree.loaders.{raw_key}"
        if isinstance(raw_key, bool):
            raise ConfigError(f"config key {name!r}: loader keys are level offsets (integers)")
        try:
            offset = int(cast(Any, raw_key))
        except (TypeError, ValueError):
            raise ConfigError(
                f'config key {name!r}: loader keys are level offsets such as "0" or "2"'
            ) from None
        if offset < 0 or (isinstance(raw_key, str) and raw_key.strip() != str(offset)):
            raise ConfigError(f"config key {name!r}: loader keys are non-negative integers")
        if offset in out:
            raise ConfigError(f"config key {name!r}: level offset {offset} is given twice")
        entry = _mapping(raw_value, repr(name))
        _check_keys(entry, {"num_workers", "auto_sync_ms", "delay_queue_ms"}, name + ".")
        out[offset] = PoolOverrides(
            num_workers=None
            if entry.get("num_workers") is None
            else _int(entry["num_workers"], name + ".num_workers", 1),
            auto_sync_ms=None
            if entry.get("auto_sync_ms") is None
            else _number(entry["auto_sync_ms"], name + ".auto_sync_ms", 0),
            delay_queue_ms=None
            if entry.get("delay_queue_ms") is None
            else _number(entry["delay_queue_ms"], name + ".delay_queue_ms", 0),
        )
    return tuple(sorted(out.items()))


def _parse_octree(raw: object) -> OctreeSettings:
    sec = _mapping(raw, "'octree'")
    p = "octree."
    _check_keys(sec, set(OctreeSettings.__dataclass_fields__), p)
    d = OctreeSettings()
    enabled = _bool(sec.get("enabled", True), p + "enabled")
    if not enabled:
        raise ConfigError(
            "config key 'octree.enabled' is false, but tiled asynchronous rendering is "
            "always on in tilescope; remove the key or set it to true"
        )
    return OctreeSettings(
        enabled=True,
        tile_size=_int(sec.get("tile_size", d.tile_size), p + "tile_size", 1),
        log_path=_opt_path(sec.get("log_path", d.log_path), p + "log_path"),
        loaders=_parse_loaders(sec["loaders"]) if "loaders" in sec else d.loaders,
        max_root_size=_int(sec.get("max_root_size", d.max_root_size), p + "max_root_size", 1),
        margin_tiles=_int(sec.get("margin_tiles", d.margin_tiles), p + "margin_tiles", 0),
        coverage_levels=_int(
            sec.get("coverage_levels", d.coverage_levels), p + "coverage_levels", 0
        ),
        finer_depth=_int(sec.get("finer_depth", d.finer_depth), p + "finer_depth", 0),
    )


def _parse_cache(raw: object) -> CacheSettings:
    sec = _mapping(raw, "'cache'")
    p = "cache."
    _check_keys(sec, set(CacheSettings.__dataclass_fields__), p)
    d = CacheSettings()
    budget = sec.get("budget_bytes", d.budget_bytes)
    fraction = _number(sec.get("budget_fraction", d.budget_fraction), p + "budget_fraction", 0)
    if fraction > 1:
        raise ConfigError(f"config key '{p}budget_fraction' must be <= 1, got {fraction}")
    return CacheSettings(
        budget_bytes=None if budget is None else _int(budget, p + "budget_bytes", 0),
        budget_fraction=fraction,
        pinned_levels=_int(sec.get("pinned_levels", d.pinned_levels), p + "pinned_levels", 0),
    )


def _parse_render(raw: object) -> RenderSettings:
    sec = _mapping(raw, "'render'")
    p = "render."
    _check_keys(sec, set(RenderSettings.__dataclass_fields__), p)
    d = RenderSettings()
    return RenderSettings(
        upload_budget_ms=_number(
            sec.get("upload_budget_ms", d.upload_budget_ms), p + "upload_budget_ms", 0
        ),
        vram_budget_bytes=_int(
            sec.get("vram_budget_bytes", d.vram_budget_bytes), p + "vram_budget_bytes", 1
        ),
        page_size=_int(sec.get("page_size", d.page_size), p + "page_size", 16),
        page_bytes=_int(sec.get("page_bytes", d.page_bytes), p + "page_bytes", 1),
        show_placeholders=_bool(
            sec.get("show_placeholders", d.show_placeholders), p + "show_placeholders"
        ),
        debug_tiles=_bool(sec.get("debug_tiles", d.debug_tiles), p + "debug_tiles"),
        motion_scale=_fraction(sec.get("motion_scale", d.motion_scale), p + "motion_scale"),
        motion_paint_ms=_number(
            sec.get("motion_paint_ms", d.motion_paint_ms), p + "motion_paint_ms", 0
        ),
        native_window=_bool(sec.get("native_window", d.native_window), p + "native_window"),
        defer_present=_bool(sec.get("defer_present", d.defer_present), p + "defer_present"),
    )


def _parse_prefetch(raw: object) -> PrefetchSettings:
    sec = _mapping(raw, "'prefetch'")
    p = "prefetch."
    _check_keys(sec, set(PrefetchSettings.__dataclass_fields__), p)
    d = PrefetchSettings()
    return PrefetchSettings(
        enabled=_bool(sec.get("enabled", d.enabled), p + "enabled"),
        radius=_int(sec.get("radius", d.radius), p + "radius", 0),
        budget_bytes=_int(sec.get("budget_bytes", d.budget_bytes), p + "budget_bytes", 0),
        direction_steps=_int(
            sec.get("direction_steps", d.direction_steps), p + "direction_steps", 0
        ),
        num_workers=_int(sec.get("num_workers", d.num_workers), p + "num_workers", 1),
        idle_after_s=_number(sec.get("idle_after_s", d.idle_after_s), p + "idle_after_s", 0),
        stand_in=_bool(sec.get("stand_in", d.stand_in), p + "stand_in"),
    )


# -- process default -----------------------------------------------------------
_lock = threading.Lock()
_current: OctreeConfig | None = None


def get_config() -> OctreeConfig:
    """The process-wide default config (from ``TILESCOPE_OCTREE`` on first use)."""
    global _current
    with _lock:
        if _current is None:
            _current = OctreeConfig.from_env()
        return _current


def set_config(config: OctreeConfig | Mapping[str, Any] | None) -> OctreeConfig | None:
    """Set the process default (a config, a napari-style dict, or ``None`` to re-read the env).

    Returns the previous explicit value (``None`` if it came from the environment
    or was never read), so tests can restore it.  Loaders already created keep
    the config they were built with.
    """
    global _current
    new = OctreeConfig.from_dict(config) if isinstance(config, Mapping) else config
    with _lock:
        previous, _current = _current, new
    return previous
