"""Write ``projection.json``: napari 0.9's (thick) slices of small image layers.

Runs under napari's own virtual environment, NOT tilescope's::

    QT_QPA_PLATFORM=offscreen /work/napari-venv/bin/python \
        tests/napari_reference/gen_projection.py

It rewrites ``tests/napari_reference/projection.json`` next to this file; commit
both.  ``tests/slicing/test_projection_napari.py`` replays every case through
``tilescope.slicing.build_slice_request`` and compares.

Each case is an ``Image`` layer (3D ``(7, 4, 5)`` or 4D ``(5, 4, 3, 4)``, one of
several dtypes, optionally scaled and translated) in a ``ViewerModel`` together
with a large empty "frame" layer that widens the world range, so slice points
outside the test layer are reachable (napari clamps ``dims.point`` to the range).
For every projection mode (none, sum, mean, max, min) and a set of points and
margins (whole and fractional), the generator records the dims values napari
actually used, the sliced data (``layer._slice.image.raw``), whether the slice
is empty, and *which planes napari read*: a probe layer of the same shape and
transform, whose plane ``k`` (flat index over the sliced axes) holds ``2**k`` and
which is sum-projected over the same window, encodes the read planes as the bits
of its value.

Where tilescope differs on purpose: napari reads ``range(round(lo), round(hi))``
(plus ``round(hi)`` only when ``hi`` is whole), round-half-to-even, so with
fractional windows it can leave out the current plane (point 1, margins
(1, 0.4) reads only plane 0) or be asymmetric.  tilescope reads the planes whose
centres lie in the window (see ``tilescope.slicing.projection``).  The test
requires identical results whenever both read the same planes, and checks the
remaining cases against tilescope's rule.
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

OUT = Path(__file__).with_name("projection.json")

MODES = ("none", "sum", "mean", "max", "min")


def _window_values(nsliced: int) -> list[tuple[list[float], list[float], list[float]]]:
    """(point, margin_left, margin_right) triples for the sliced axes."""
    whole = [
        ([3.0], [0.0], [0.0]),
        ([3.0], [1.0], [1.0]),
        ([3.0], [2.0], [0.0]),
        ([0.0], [2.0], [2.0]),
        ([6.0], [3.0], [3.0]),
        ([2.0], [10.0], [10.0]),
        ([-3.0], [1.0], [1.0]),
        ([12.0], [2.0], [2.0]),
        ([-2.0], [2.0], [2.0]),
    ]
    frac = [
        ([2.4], [0.0], [0.0]),
        ([2.5], [0.0], [0.0]),
        ([3.5], [0.0], [0.0]),
        ([1.0], [1.0], [0.4]),
        ([3.0], [0.5], [0.5]),
        ([3.2], [1.3], [0.6]),
        ([2.7], [0.2], [0.2]),
        ([-0.6], [0.0], [0.0]),
        ([6.6], [0.0], [0.0]),
        ([-1.4], [1.0], [1.0]),
    ]
    triples = whole + frac
    if nsliced == 1:
        return triples
    out = []
    for (p1, l1, r1), (p2, l2, r2) in itertools.product(triples[:8], triples[9:13]):
        out.append(([p1[0], p2[0] * 0.5], [l1[0], l2[0]], [r1[0], r2[0]]))
    return out


def _layer_specs(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [
        {"shape": [7, 4, 5], "dtype": "float32", "kwargs": {}},
        {"shape": [7, 4, 5], "dtype": "uint8", "kwargs": {}},
        {"shape": [7, 4, 5], "dtype": "int16", "kwargs": {"scale": [2.0, 1.0, 1.0]}},
        {
            "shape": [7, 4, 5],
            "dtype": "float64",
            "kwargs": {"scale": [0.5, 1.0, 1.0], "translate": [1.0, 0.0, 0.0]},
        },
        {"shape": [5, 4, 3, 4], "dtype": "uint16", "kwargs": {}},
    ]


def cases(rng: np.random.Generator) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The layers (with their data) and the cases that slice them."""
    layers: list[dict[str, Any]] = []
    out = []
    for index, spec in enumerate(_layer_specs(rng)):
        shape = tuple(spec["shape"])
        ndim = len(shape)
        nsliced = ndim - 2
        dtype = np.dtype(spec["dtype"])
        high = 200 if dtype.kind in "ui" else 1000
        data = rng.integers(0, high, shape).astype(dtype)
        layers.append({**spec, "data": data.tolist()})
        planes = int(np.prod(shape[:nsliced]))
        probe = (2.0 ** np.arange(planes)).reshape(shape[:nsliced])
        probe = np.broadcast_to(probe[(...,) + (None,) * 2], shape).astype(np.float64)
        for mode in MODES:
            viewer = ViewerModel()
            frame_shape = (40,) * nsliced + shape[nsliced:]
            viewer.add_image(
                np.zeros(frame_shape, np.uint8), translate=[-15.0] * nsliced + [0, 0], name="frame"
            )
            layer = viewer.add_image(
                data, projection_mode=mode, contrast_limits=(0, high), **spec["kwargs"]
            )
            probe_layer = viewer.add_image(
                probe,
                projection_mode="none" if mode == "none" else "sum",
                contrast_limits=(0, 1),
                **spec["kwargs"],
            )
            for point, ml, mr in _window_values(nsliced):
                viewer.dims.margin_left = (*tuple(ml), 0.0, 0.0)
                viewer.dims.margin_right = (*tuple(mr), 0.0, 0.0)
                viewer.dims.point = (*tuple(point), 0.0, 0.0)
                sl = layer._slice
                raw = np.asarray(sl.image.raw)
                bits = int(np.asarray(probe_layer._slice.image.raw).flat[0])
                planes_read = [] if sl.empty else [k for k in range(planes) if bits >> k & 1]
                out.append(
                    {
                        "layer": index,
                        "mode": mode,
                        "point": [float(v) for v in viewer.dims.point],
                        "margin_left": [float(v) for v in viewer.dims.margin_left],
                        "margin_right": [float(v) for v in viewer.dims.margin_right],
                        "empty": bool(sl.empty),
                        "planes_read": planes_read,
                        "result_dtype": str(raw.dtype),
                        "result": raw.tolist(),
                    }
                )
    return layers, out


def main() -> None:
    rng = np.random.default_rng(5957)
    layers, all_cases = cases(rng)
    out = {"napari_version": napari.__version__, "layers": layers, "cases": all_cases}
    OUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUT} ({len(all_cases)} cases)")


if __name__ == "__main__":
    main()
