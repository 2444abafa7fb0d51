"""tilescope's Dims and ViewerModel replay napari 0.9's recorded behaviour.

``tests/napari_reference/dims.json`` is written by ``gen_dims.py`` under napari's
own environment (see its docstring). Each case is a sequence of operations; the
state after every operation must match napari's, except the fields a case lists
under ``deviating_fields`` (napari bugs, explained in the case's ``deviation``),
which must equal tilescope's documented values instead.

Viewer cases run twice: with a test-local axis-aligned fake layer (checks the
ViewerModel/LayerList logic alone; cases with rotations are left out, the fake
has no rotation) and with tilescope's real ``Image`` layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _dims_fake_layers import FakeImage

from tilescope.models.dims import Dims
from tilescope.models.layers import Image
from tilescope.models.viewer_model import ViewerModel

REFERENCE = json.loads((Path(__file__).parents[1] / "napari_reference" / "dims.json").read_text())
CASES: list[dict[str, Any]] = REFERENCE["cases"]
DIMS_FIELDS = (
    "ndim",
    "ndisplay",
    "order",
    "axis_labels",
    "range",
    "point",
    "current_step",
    "nsteps",
    "margin_left",
    "margin_right",
    "thickness",
    "displayed",
    "not_displayed",
)

SETTABLE = (
    "ndim",
    "ndisplay",
    "order",
    "thickness",
    "margin_left",
    "margin_right",
    "point",
    "current_step",
)

LayerFactory = Callable[[dict[str, Any]], Any]


def fake_layer(op: dict[str, Any]) -> FakeImage:
    return FakeImage(
        op["shape"],
        scale=op.get("scale"),
        translate=op.get("translate"),
        name=op.get("name", "Image"),
    )


def real_image(op: dict[str, Any]) -> Image:
    kwargs = {k: op[k] for k in ("scale", "translate", "rotate") if k in op}
    return Image(np.zeros(op["shape"], dtype=np.uint8), name=op.get("name", "Image"), **kwargs)


def apply_dims_op(dims: Dims, op: dict[str, Any]) -> None:
    name = op["op"]
    if name == "set_point":
        dims.set_point(op["axis"], op["value"])
    elif name == "set_current_step":
        dims.set_current_step(op["axis"], op["value"])
    elif name == "set_range":
        dims.set_range(op["axis"], op["value"])
    elif name in SETTABLE:
        setattr(dims, name, op["value"])
    elif name == "roll":
        dims.roll()
    elif name == "transpose":
        dims.transpose()
    elif name == "reset":
        dims.reset()
    else:
        raise AssertionError(f"unknown op {op}")


def apply_viewer_op(viewer: ViewerModel, op: dict[str, Any], make_layer: LayerFactory) -> None:
    name = op["op"]
    if name == "add_image":
        viewer.add_layer(make_layer(op))
    elif name == "remove":
        viewer.layers.pop(op["index"])
    elif name == "reverse":
        viewer.layers.reorder(list(reversed(range(len(viewer.layers)))))
    elif name == "set_layer":
        setattr(viewer.layers[op["index"]], op["field"], op["value"])
    elif name == "reset_view":
        viewer.reset_view()
    else:
        apply_dims_op(viewer.dims, op)


def snapshot(dims: Dims) -> dict[str, Any]:
    state = dims.state
    return {
        "ndim": state.ndim,
        "ndisplay": state.ndisplay,
        "order": list(state.order),
        "axis_labels": list(state.axis_labels),
        "range": [list(r) for r in state.range],
        "point": list(state.point),
        "current_step": list(state.current_step),
        "nsteps": list(state.nsteps),
        "margin_left": list(state.margin_left),
        "margin_right": list(state.margin_right),
        "thickness": list(state.thickness),
        "displayed": list(state.displayed),
        "not_displayed": list(state.not_displayed),
    }


def assert_state(
    case: dict[str, Any], index: int, got: dict[str, Any], want: dict[str, Any]
) -> None:
    deviating: dict[str, list[Any]] = case.get("deviating_fields", {})
    where = f"{case['id']} after op {index} {case['ops'][index]}"
    for field in want:
        expected = want[field]
        if field in deviating:
            expected = deviating[field][index]
            assert want[field] != expected, f"{where}: napari now agrees on {field}; drop deviation"
        if isinstance(expected, list) and expected and isinstance(expected[0], str):
            assert got[field] == expected, f"{where}: {field}"
            continue
        note = f" ({case['deviation']})" if field in deviating else ""
        np.testing.assert_allclose(
            np.asarray(got[field], dtype=np.float64),
            np.asarray(expected, dtype=np.float64),
            rtol=1e-9,
            atol=1e-9,
            err_msg=f"{where}: {field} is {got[field]}, napari {want[field]}{note}",
        )


def test_reference_is_napari_0_9() -> None:
    assert REFERENCE["napari_version"].startswith("0.9")
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c["id"]) for c in CASES if c["kind"] == "dims"]
)
def test_dims_matches_napari(case: dict[str, Any]) -> None:
    dims = Dims(**case["init"])
    for i, (op, want) in enumerate(zip(case["ops"], case["states"], strict=True)):
        apply_dims_op(dims, op)
        assert_state(case, i, snapshot(dims), want)


def _viewer_params() -> list[Any]:
    params = []
    for case in CASES:
        if case["kind"] != "viewer":
            continue
        has_rotation = any("rotate" in op for op in case["ops"])
        if not has_rotation:
            params.append(pytest.param(case, fake_layer, id=f"{case['id']}-fake"))
        params.append(pytest.param(case, real_image, id=f"{case['id']}-Image"))
    return params


@pytest.mark.parametrize(("case", "make_layer"), _viewer_params())
def test_viewer_matches_napari(case: dict[str, Any], make_layer: LayerFactory) -> None:
    viewer = ViewerModel(**case["init"], canvas_size=tuple(REFERENCE["canvas_size"]))
    for i, (op, want) in enumerate(zip(case["ops"], case["states"], strict=True)):
        apply_viewer_op(viewer, op, make_layer)
        got = snapshot(viewer.dims)
        got["camera_center"] = list(viewer.camera.center)
        got["camera_zoom"] = viewer.camera.zoom
        got["layer_names"] = [layer.name for layer in viewer.layers]
        assert_state(case, i, got, want)
