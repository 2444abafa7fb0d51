"""tilescope's transforms, extents and axis mapping against napari 0.9.

The cases come from ``tests/napari_reference/gen_transforms.py`` (run under napari's
own venv); its docstring says how to regenerate ``transforms.json`` and where
tilescope differs on purpose (#3882).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tilescope.models.dims import Dims, DimsState
from tilescope.models.dims_mapping import layer_axes
from tilescope.models.layers import Image, Points
from tilescope.slicing import ImageSliceRequest, build_slice_request

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "napari_reference" / "transforms.json").read_text()
)


def test_reference_is_napari_09() -> None:
    assert REFERENCE["napari_version"].startswith("0.9")
    kinds = {k for c in REFERENCE["transforms"] for k in c["kwargs"]}
    assert kinds == {"scale", "translate", "rotate", "shear", "affine"}


@pytest.mark.parametrize(
    "case", REFERENCE["transforms"], ids=[f"t{i}" for i in range(len(REFERENCE["transforms"]))]
)
def test_world_to_data_and_extent_match_napari(case: dict[str, Any]) -> None:
    layer = Image(np.zeros(case["shape"], np.float32), contrast_limits=(0, 1), **case["kwargs"])
    for q in case["queries"]:
        np.testing.assert_allclose(layer.world_to_data(q["world"]), q["world_to_data"], atol=1e-8)
        np.testing.assert_allclose(layer.data_to_world(q["world"]), q["data_to_world"], atol=1e-8)
    _assert_extents_match(layer, case)


@pytest.mark.parametrize("case", REFERENCE["points_extent"])
def test_points_extent_matches_napari(case: dict[str, Any]) -> None:
    _assert_extents_match(Points(np.array(case["data"]), **case["kwargs"]), case)


def _assert_extents_match(layer: Image | Points, case: dict[str, Any]) -> None:
    ext = layer.extent
    np.testing.assert_allclose(ext.data, case["extent_data"])
    np.testing.assert_allclose(ext.world, case["extent_world"], atol=1e-8)
    np.testing.assert_allclose(ext.step, case["extent_step"], rtol=1e-8)
    # what the camera fits: half a pixel around images, the largest radius around points
    augmented = layer.extent_augmented.world
    np.testing.assert_allclose(augmented, case["extent_augmented_world"], atol=1e-8)


def _dims(order: list[int]) -> DimsState:
    n = len(order)
    return Dims(n, order=order, range=[(0.0, 3.0, 1.0)] * n, point=[1.0] * n).state


def test_same_dim_layers_map_like_napari() -> None:
    """A layer as deep as the world is displayed exactly as napari does, for every order."""
    for case in REFERENCE["axis_mapping"]:
        big = case["layers"][0]
        axes = layer_axes(_dims(case["order"]), len(big["shape"]))
        assert list(axes.displayed) == big["displayed"]
        assert list(axes.not_displayed) == sorted(big["not_displayed"])
        layer = Image(np.zeros(big["shape"], np.uint8))
        request = build_slice_request(layer, _dims(case["order"]))
        assert isinstance(request, ImageSliceRequest)
        assert list(request().data.shape) == big["slice_shape"]


def test_lower_dim_layer_issue_3882() -> None:
    """napari's mapping of a 2D layer changes with ``dims.order``; tilescope's does not.

    For every order, napari's displayed axes of the 2D layer are recorded.  They vary
    with the order even when the world axes the 2D layer owns are not both displayed
    (the bug).  tilescope displays a layer axis only where its own world axis is
    displayed, so each layer axis always pairs with the same world axis.
    """
    napari_pairs: set[tuple[int, int]] = set()
    differing = 0
    for case in REFERENCE["axis_mapping"]:
        small = case["layers"][1]
        ndim_world, ndim_layer = case["world_ndim"], len(small["shape"])
        off = ndim_world - ndim_layer
        # napari: world axis displayed at position m <-> layer axis small["displayed"][m]
        for w, a in zip(case["displayed_world"], small["displayed"], strict=True):
            napari_pairs.add((w, a))
        ours = layer_axes(_dims(case["order"]), ndim_layer)
        for w, a in zip(ours.displayed_world, ours.displayed, strict=True):
            assert a == (w - off if w >= off else None)
        if list(ours.displayed) != small["displayed"]:
            differing += 1
    # napari pairs one world axis with different layer axes depending on the order
    worlds = [w for w, _ in napari_pairs]
    assert len(worlds) > len(set(worlds))
    assert differing > 0


def test_lower_dim_layer_slice_with_transposed_world_order() -> None:
    """World order (0, 2, 1) transposes the view; both napari and tilescope transpose
    a 2D layer then (napari's recorded slice shape (6, 5)), while (2, 0, 1) is where
    napari goes wrong."""
    case = next(c for c in REFERENCE["axis_mapping"] if c["order"] == [0, 2, 1])
    small = case["layers"][1]
    layer = Image(np.arange(30, dtype=np.float32).reshape(small["shape"]))
    request = build_slice_request(layer, _dims([0, 2, 1]))
    assert isinstance(request, ImageSliceRequest)
    assert list(request().data.shape) == small["slice_shape"]
    wrong = next(c for c in REFERENCE["axis_mapping"] if c["order"] == [2, 0, 1])
    assert wrong["layers"][1]["slice_shape"] == [6, 5]  # napari: transposed, on axes it lacks
    request = build_slice_request(layer, _dims([2, 0, 1]))
    assert isinstance(request, ImageSliceRequest)
    assert request().data.shape == (1, 5)  # tilescope: a line along world axis 1, sliced at x
