"""Write ``transforms.json``: napari 0.9's layer transforms, extents and axis mapping.

Runs under napari's own virtual environment, NOT tilescope's::

    QT_QPA_PLATFORM=offscreen /work/napari-venv/bin/python \
        tests/napari_reference/gen_transforms.py

It rewrites ``tests/napari_reference/transforms.json`` next to this file; commit
both.  ``tests/models/test_transforms_napari.py`` loads the JSON and compares
tilescope's :class:`~tilescope.models.transforms.Transform` and layer models.

Groups of cases, all from a seeded RNG (deterministic):

* ``transforms``: ``napari.layers.Image(np.zeros(shape), scale=, translate=,
  rotate=, shear=, affine=)`` for 2-4 dimensions, with rotate as an angle (2D),
  three angles (3D) or a matrix, shear as upper-triangular coefficients or a
  lower-triangular matrix, and affine as a homogeneous matrix.  Recorded:
  ``world_to_data`` and ``data_to_world`` of random points (some of them longer
  or shorter than the layer's ndim, to pin napari's right-alignment), and
  ``extent.data``, ``extent.world``, ``extent.step`` and the augmented world extent
  (``_extent_augmented.world``, half a pixel wider: what the camera fits).
* ``points_extent``: ``napari.layers.Points`` extents (plain and augmented by the
  largest point radius) under scale/translate/rotate, with per-point sizes.
* ``axis_mapping``: a ``ViewerModel`` holding a 3D image (and a 4D world with a 2D
  image) for every ``dims.order`` permutation; recorded are each layer's displayed
  and sliced layer axes (``layer._slice_input``) and the shape of the 2D layer's
  slice.

Where tilescope differs from napari on purpose:

* Axis mapping (napari #3882, open): napari's ``_world_to_layer_dims`` reorders a
  lower-dimensional layer's axes when ``dims.order`` changes.  With world order
  ``(2, 0, 1)`` a 2D layer (world axes 1 and 2) is displayed as layer axes
  ``(1, 0)``, i.e. transposed and drawn along world axes 0 and 1 that it does not
  own.  tilescope maps by axis identity: the layer shows its axis 0 (world 1),
  has a length-1 axis for world 0, and is sliced along its axis 1 (world 2).  The
  test asserts napari's mapping *does* change with the order and ours does not.
* ``affine`` given as an ``ndim x ndim`` matrix is a linear map in tilescope; napari
  reads any square matrix as homogeneous (an ``ndim x ndim`` one as an
  ``(ndim-1)``-D affine).  Only homogeneous matrices are recorded here.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import napari
import numpy as np
from napari.components import ViewerModel
from napari.layers import Image, Points

OUT = Path(__file__).with_name("transforms.json")


def _rotation(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def _random_kwargs(rng: np.random.Generator, ndim: int) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if rng.random() < 0.8:
        kw["scale"] = (rng.uniform(0.2, 5, ndim) * rng.choice([-1, 1, 1, 1], ndim)).tolist()
    if rng.random() < 0.8:
        kw["translate"] = rng.uniform(-50, 50, ndim).tolist()
    if ndim >= 2 and rng.random() < 0.5:
        choice = rng.integers(3)
        if choice == 0 or ndim < 3:
            kw["rotate"] = float(rng.uniform(-180, 180))
        elif choice == 1:
            kw["rotate"] = rng.uniform(-90, 90, 3).tolist()
        else:
            kw["rotate"] = _rotation(rng, ndim).tolist()
    if ndim >= 2 and rng.random() < 0.4:
        if rng.random() < 0.7:
            kw["shear"] = rng.uniform(-1, 1, ndim * (ndim - 1) // 2).tolist()
        else:
            sh = np.eye(ndim)
            sh[np.tril_indices(ndim, -1)] = rng.uniform(-1, 1, ndim * (ndim - 1) // 2)
            kw["shear"] = sh.tolist()
    if rng.random() < 0.4:
        aff = np.eye(ndim + 1)
        lin = np.diag(rng.uniform(0.5, 2, ndim))
        if ndim >= 2:
            lin = _rotation(rng, ndim) @ lin
        aff[:ndim, :ndim] = lin
        aff[:ndim, ndim] = rng.uniform(-20, 20, ndim)
        kw["affine"] = aff.tolist()
    return kw


def transform_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for _ in range(150):
        ndim = int(rng.integers(2, 5))
        if ndim == 3 and rng.random() < 0.3:
            kw = {"rotate": rng.uniform(-90, 90, 3).tolist(), "scale": [1.0, 2.0, 3.0]}
        else:
            kw = _random_kwargs(rng, ndim)
        shape = tuple(int(s) for s in rng.integers(1, 9, ndim))
        layer = Image(np.zeros(shape, dtype=np.float32), **kw)
        queries = []
        for _q in range(4):
            length = ndim + int(rng.integers(-1, 2))
            world = rng.uniform(-30, 30, length)
            queries.append(
                {
                    "world": world.tolist(),
                    "world_to_data": np.asarray(layer.world_to_data(world)).tolist(),
                    "data_to_world": list(map(float, layer.data_to_world(world))),
                }
            )
        ext = layer.extent
        cases.append(
            {
                "shape": list(shape),
                "kwargs": kw,
                "queries": queries,
                "extent_data": np.asarray(ext.data).tolist(),
                "extent_world": np.asarray(ext.world).tolist(),
                "extent_step": np.asarray(ext.step).tolist(),
                "extent_augmented_world": np.asarray(layer._extent_augmented.world).tolist(),
            }
        )
    return cases


def points_extent_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for _ in range(20):
        ndim = int(rng.integers(2, 4))
        data = rng.uniform(-10, 10, (int(rng.integers(1, 6)), ndim))
        kw = {
            "scale": rng.uniform(0.5, 3, ndim).tolist(),
            "translate": rng.uniform(-5, 5, ndim).tolist(),
        }
        if rng.random() < 0.5:
            kw["rotate"] = float(rng.uniform(-180, 180))
        kw["size"] = [1.0 + 2 * i for i in range(len(data))]  # no draw: keeps the RNG stream
        layer = Points(data, **kw)
        ext = layer.extent
        cases.append(
            {
                "data": data.tolist(),
                "kwargs": kw,
                "extent_data": np.asarray(ext.data).tolist(),
                "extent_world": np.asarray(ext.world).tolist(),
                "extent_step": np.asarray(ext.step).tolist(),
                "extent_augmented_world": np.asarray(layer._extent_augmented.world).tolist(),
            }
        )
    return cases


def axis_mapping_cases() -> list[dict[str, Any]]:
    cases = []
    for world_shape, layer_shape in (((4, 5, 6), (5, 6)), ((3, 4, 5, 6), (5, 6))):
        nworld = len(world_shape)
        for order in itertools.permutations(range(nworld)):
            viewer = ViewerModel()
            big = viewer.add_image(np.zeros(world_shape, dtype=np.uint8), name="big")
            small = viewer.add_image(
                np.arange(np.prod(layer_shape), dtype=np.float32).reshape(layer_shape),
                name="small",
            )
            viewer.dims.order = order
            viewer.dims.point = (1.0,) * nworld
            cases.append(
                {
                    "world_ndim": nworld,
                    "order": list(order),
                    "displayed_world": [int(a) for a in viewer.dims.displayed],
                    "layers": [
                        {
                            "shape": list(layer.data.shape),
                            "displayed": [int(a) for a in layer._slice_input.displayed],
                            "not_displayed": [int(a) for a in layer._slice_input.not_displayed],
                            "slice_shape": [int(n) for n in np.shape(layer._slice.image.raw)],
                        }
                        for layer in (big, small)
                    ],
                }
            )
    return cases


def main() -> None:
    rng = np.random.default_rng(20260826)
    out = {
        "napari_version": napari.__version__,
        "transforms": transform_cases(rng),
        "points_extent": points_extent_cases(rng),
        "axis_mapping": axis_mapping_cases(),
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT} ({len(out['transforms'])} transform cases)")


if __name__ == "__main__":
    main()
