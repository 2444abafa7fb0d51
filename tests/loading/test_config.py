"""Config: napari defaults, JSON files, env var, validation errors naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tilescope.errors import ConfigError
from tilescope.loading.config import (
    DEFAULT_OCTREE_CONFIG,
    ENV_VAR,
    OctreeConfig,
    PoolSettings,
    get_config,
    set_config,
)

NAPARI_DEFAULT_OCTREE_CONFIG = {  # copied from napari's docs (reference/), not from our module
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


def test_defaults_equal_napari() -> None:
    assert DEFAULT_OCTREE_CONFIG == NAPARI_DEFAULT_OCTREE_CONFIG
    default = OctreeConfig()
    assert OctreeConfig.from_dict(NAPARI_DEFAULT_OCTREE_CONFIG) == default
    as_dict = default.to_dict()
    for section in ("loader_defaults", "octree"):
        for name, value in NAPARI_DEFAULT_OCTREE_CONFIG[section].items():
            if name == "loaders":
                continue
            assert as_dict[section][name] == value, f"{section}.{name}"
    assert as_dict["octree"]["loaders"] == {
        "0": {"num_workers": 10, "delay_queue_ms": 100},
        "2": {"num_workers": 10, "delay_queue_ms": 0},
    }
    assert default.loader_defaults.executor_kind == "threads"
    assert default.pools() == (
        PoolSettings(0, num_workers=10, auto_sync_ms=30, delay_queue_ms=100),
        PoolSettings(2, num_workers=10, auto_sync_ms=30, delay_queue_ms=0),
    )


def test_json_roundtrip_with_string_loader_keys(tmp_path: Path) -> None:
    cfg = OctreeConfig.from_dict(
        {
            "loader_defaults": {"num_workers": 4, "log_path": "/tmp/x.jsonl"},
            "octree": {"tile_size": 512, "loaders": {"0": {"delay_queue_ms": 50}, "3": {}}},
            "cache": {"budget_bytes": 1 << 30, "pinned_levels": 2},
        }
    )
    path = tmp_path / "octree.json"
    path.write_text(json.dumps(cfg.to_dict()))
    again = OctreeConfig.from_file(path)
    assert again == cfg
    assert again.pools() == (
        PoolSettings(0, num_workers=4, auto_sync_ms=30, delay_queue_ms=50),
        PoolSettings(3, num_workers=4, auto_sync_ms=30, delay_queue_ms=100),
    )
    assert again.pool_for(2).level_offset == 0
    assert again.pool_for(7).level_offset == 3
    assert again.log_path == "/tmp/x.jsonl"


def test_pool_zero_always_exists() -> None:
    cfg = OctreeConfig.from_dict({"octree": {"loaders": {"2": {"delay_queue_ms": 0}}}})
    assert [p.level_offset for p in cfg.pools()] == [0, 2]
    assert cfg.pool_for(1).delay_queue_ms == 100  # from loader_defaults
    assert OctreeConfig.from_dict({"octree": {"loaders": {}}}).pools() == (
        PoolSettings(0, 10, 30, 100),
    )


def test_octree_log_path_is_the_fallback_log() -> None:
    assert OctreeConfig.from_dict({"octree": {"log_path": "a.jsonl"}}).log_path == "a.jsonl"


def test_use_processes_and_executor() -> None:
    cfg = OctreeConfig.from_dict({"loader_defaults": {"use_processes": True}})
    assert cfg.loader_defaults.executor_kind == "processes"
    cfg = OctreeConfig.from_dict({"loader_defaults": {"executor": "dask"}})
    assert cfg.loader_defaults.executor_kind == "dask"
    assert OctreeConfig().with_loader(force_synchronous=True).loader_defaults.force_synchronous


@pytest.mark.parametrize(
    ("data", "names"),
    [
        pytest.param({"loader": {}}, "'loader'", id="unknown-top"),
        pytest.param({"loader_defaults": {"workers": 3}}, "loader_defaults.workers", id="typo"),
        pytest.param({"octree": {"tilesize": 3}}, "octree.tilesize", id="octree-typo"),
        pytest.param(
            {"octree": {"loaders": {"0": {"delay_ms": 1}}}},
            "octree.loaders.0.delay_ms",
            id="loader-typo",
        ),
        pytest.param({"cache": {"budget": 1}}, "cache.budget", id="cache-typo"),
        pytest.param(
            {"loader_defaults": {"num_workers": "10"}},
            "loader_defaults.num_workers",
            id="str-for-int",
        ),
        pytest.param(
            {"loader_defaults": {"num_workers": True}},
            "loader_defaults.num_workers",
            id="bool-for-int",
        ),
        pytest.param(
            {"loader_defaults": {"num_workers": 0}}, "loader_defaults.num_workers", id="zero"
        ),
        pytest.param(
            {"loader_defaults": {"auto_sync_ms": -1}},
            "loader_defaults.auto_sync_ms",
            id="negative",
        ),
        pytest.param(
            {"loader_defaults": {"force_synchronous": 1}},
            "loader_defaults.force_synchronous",
            id="int-for-bool",
        ),
        pytest.param(
            {"loader_defaults": {"log_path": 3}}, "loader_defaults.log_path", id="int-path"
        ),
        pytest.param(
            {"loader_defaults": {"executor": "gpu"}}, "loader_defaults.executor", id="executor"
        ),
        pytest.param({"octree": {"loaders": {"two": {}}}}, "octree.loaders.two", id="loader-key"),
        pytest.param({"octree": {"loaders": {"-1": {}}}}, "octree.loaders.-1", id="negative-key"),
        pytest.param(
            {"octree": {"loaders": {"0": {"num_workers": 2.5}}}},
            "octree.loaders.0.num_workers",
            id="float-workers",
        ),
        pytest.param({"octree": {"loaders": []}}, "octree.loaders", id="loaders-list"),
        pytest.param({"octree": {"enabled": False}}, "octree.enabled", id="disabled"),
        pytest.param({"cache": {"budget_fraction": 2}}, "cache.budget_fraction", id="fraction"),
        pytest.param(
            {"render": {"defer_present": "yes"}}, "render.defer_present", id="str-for-bool"
        ),
        pytest.param([], "config", id="not-a-mapping"),
    ],
)
def test_invalid_config_names_the_key(data: Any, names: str) -> None:
    with pytest.raises(ConfigError) as info:
        OctreeConfig.from_dict(data)
    assert names in str(info.value)


def test_env_var(tmp_path: Path) -> None:
    assert OctreeConfig.from_env({}) == OctreeConfig()
    assert OctreeConfig.from_env({ENV_VAR: "1"}) == OctreeConfig()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"octree": {"tile_size": 128}}))
    assert OctreeConfig.from_env({ENV_VAR: str(path)}).octree.tile_size == 128
    with pytest.raises(ConfigError, match="cannot be turned off"):
        OctreeConfig.from_env({ENV_VAR: "0"})
    with pytest.raises(ConfigError, match=r"missing\.json"):
        OctreeConfig.from_env({ENV_VAR: str(tmp_path / "missing.json")})
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        OctreeConfig.from_env({ENV_VAR: str(path)})


def test_get_and_set_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    previous = set_config(None)
    try:
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"loader_defaults": {"num_workers": 3}}))
        monkeypatch.setenv(ENV_VAR, str(path))
        assert get_config().loader_defaults.num_workers == 3  # read from the env once
        set_config({"loader_defaults": {"num_workers": 5}})  # settable from Python
        assert get_config().loader_defaults.num_workers == 5
        with pytest.raises(ConfigError, match="bogus"):
            set_config({"bogus": 1})
        assert get_config().loader_defaults.num_workers == 5  # unchanged after an error
    finally:
        set_config(previous)


def test_render_switches_read_from_json() -> None:
    default = OctreeConfig().render
    assert default.native_window
    assert default.defer_present
    got = OctreeConfig.from_dict({"render": {"native_window": True, "defer_present": False}})
    assert got.render.native_window
    assert not got.render.defer_present
