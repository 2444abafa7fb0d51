"""Status-bar text for the cursor readout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from tilescope.views.status import (
    format_coordinates,
    format_cursor,
    format_value,
    unit_symbol,
    world_units,
)

pytestmark = pytest.mark.qt


@dataclass(frozen=True)
class Info:
    world: tuple[float, ...]
    layer_name: str | None = None
    value: Any = None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(None, "-", id="none"),
        pytest.param(np.uint16(4095), "4095", id="uint16"),
        pytest.param(np.float32(0.123456), "0.1235", id="float"),
        pytest.param(3.0, "3", id="whole-float"),
        pytest.param(np.array([255, 128, 0], np.uint8), "(255, 128, 0)", id="rgb"),
        pytest.param(np.bool_(True), "True", id="bool"),
        pytest.param(float("nan"), "nan", id="nan"),
    ],
)
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


def test_format_coordinates_with_and_without_labels() -> None:
    assert format_coordinates((12.0, 40.5, 7.25)) == "[12, 40.5, 7.25]"
    assert format_coordinates((1.0, 2.0), ("y", "x")) == "y=1 x=2"
    assert format_coordinates((1.0, 2.0), ("x",)) == "[1, 2]"  # labels that do not fit


def test_format_cursor() -> None:
    assert format_cursor(None) == ""
    assert format_cursor(Info((3.0, 4.5))) == "[3, 4.5]"
    text = format_cursor(Info((3.0, 4.5), "nuclei", np.uint8(7)), ("y", "x"))
    assert text == "y=3 x=4.5  nuclei: 7"


@dataclass
class FakeLayer:
    metadata: dict[str, Any]
    visible: bool = True


def test_units_are_shown_with_coordinates() -> None:
    assert unit_symbol("micrometer") == "µm"
    assert unit_symbol("parsec") == "parsec"
    assert unit_symbol(None) == ""
    units = ("second", "micrometer", "micrometer")
    assert format_coordinates((3.0, 1.0, 2.5), ("t", "y", "x"), units) == "t=3 s y=1 µm x=2.5 µm"
    assert format_coordinates((1.0, 2.0), None, (None, "nanometer")) == "[1, 2 nm]"
    text = format_cursor(Info((3.0, 4.5), "cells", 7), ("y", "x"), ("micrometer",) * 2)
    assert text == "y=3 µm x=4.5 µm  cells: 7"


def test_world_units_come_from_the_top_visible_layer_right_aligned() -> None:
    plain = FakeLayer({})
    um = FakeLayer({"units": ("micrometer", "micrometer")})
    nm = FakeLayer({"units": ("nanometer", "nanometer")}, visible=False)
    assert world_units([plain], 3) is None
    assert world_units([um, plain, nm], 3) == (None, "micrometer", "micrometer")
