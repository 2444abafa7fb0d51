"""The ``prefetch`` config section: defaults, parsing, round trip, strict errors."""

from __future__ import annotations

import pytest

from tilescope.errors import ConfigError
from tilescope.loading.config import OctreeConfig, PrefetchSettings


def test_defaults_and_round_trip() -> None:
    cfg = OctreeConfig()
    assert cfg.prefetch == PrefetchSettings()
    custom = OctreeConfig.from_dict(
        {
            "prefetch": {
                "radius": 5,
                "budget_bytes": 1 << 20,
                "direction_steps": 8,
                "num_workers": 3,
                "idle_after_s": 0.25,
                "enabled": False,
                "stand_in": False,
            }
        }
    )
    p = custom.prefetch
    assert (p.radius, p.budget_bytes, p.direction_steps, p.num_workers) == (5, 1 << 20, 8, 3)
    assert (p.idle_after_s, p.enabled, p.stand_in) == (0.25, False, False)
    assert OctreeConfig.from_dict(custom.to_dict()) == custom


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"radius": -1}, "'prefetch.radius' must be >= 0"),
        ({"num_workers": 0}, "'prefetch.num_workers' must be >= 1"),
        ({"budget_bytes": 1.5}, "'prefetch.budget_bytes' must be an integer"),
        ({"enabled": "yes"}, "'prefetch.enabled' must be true or false"),
        ({"radious": 2}, "unknown config key 'prefetch.radious'"),
    ],
)
def test_bad_values_name_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        OctreeConfig.from_dict({"prefetch": section})
