"""Write ``camera_angles.json``: napari 0.9's 3D camera angle conventions.

Runs under napari's own virtual environment, NOT tilescope's::

    QT_QPA_PLATFORM=offscreen /work/napari-venv/bin/python \
        tests/napari_reference/gen_camera_angles.py

It rewrites ``tests/napari_reference/camera_angles.json`` next to this file;
commit both. ``tests/render/test_orientation.py`` checks that
``tilescope.render.orientation`` gives the same answers.

Two groups of cases, from a seeded RNG plus hand-picked angles (default
orientation ``('towards', 'down', 'right')``):

* ``directions``: ``napari.components.Camera(angles=a)``'s ``view_direction``
  and ``up_direction``.
* ``angles``: ``angles_from_view_and_up_directions(view, up)`` for random,
  not necessarily orthogonal, view/up pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from napari.components import Camera
from napari.utils.camera_orientations import (
    DEFAULT_ORIENTATION_TYPED,
    angles_from_view_and_up_directions,
)


def main() -> None:
    rng = np.random.default_rng(20260101)
    picked = [
        (0.0, 0.0, 0.0),
        (0.0, 0.0, 90.0),
        (0.0, 90.0, 0.0),
        (90.0, 0.0, 0.0),
        (0.0, -90.0, 0.0),
        (45.0, 30.0, -60.0),
        (180.0, 0.0, 0.0),
    ]
    angles = picked + [tuple(float(v) for v in rng.uniform(-180, 180, 3)) for _ in range(40)]
    directions = []
    for a in angles:
        cam = Camera(angles=a)
        directions.append(
            {
                "angles": list(a),
                "view": [float(v) for v in cam.view_direction],
                "up": [float(v) for v in cam.up_direction],
            }
        )
    inverse = []
    for _ in range(40):
        view = rng.normal(size=3)
        up = rng.normal(size=3)
        got = angles_from_view_and_up_directions(tuple(view), tuple(up), DEFAULT_ORIENTATION_TYPED)
        inverse.append(
            {"view": view.tolist(), "up": up.tolist(), "angles": [float(v) for v in got]}
        )
    out = Path(__file__).with_name("camera_angles.json")
    payload = {
        "napari": __import__("napari").__version__,
        "directions": directions,
        "angles": inverse,
    }
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
