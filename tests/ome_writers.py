"""OME-Zarr files written at test time by ome-zarr-py (a writer this project did not write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image, write_labels

OMERO: dict[str, Any] = {
    "channels": [
        {
            "color": "FF0000",
            "window": {"start": 10.0, "end": 900.0, "min": 0.0, "max": 1000.0},
            "label": "DAPI",
            "active": True,
        },
        {
            "color": "00FF00",
            "window": {"start": 20.0, "end": 800.0, "min": 0.0, "max": 1000.0},
            "label": "GFP",
            "active": False,
        },
    ]
}


def image_data(shape: tuple[int, ...] = (2, 3, 64, 96)) -> np.ndarray[Any, Any]:
    return np.random.default_rng(7).integers(0, 1000, shape, dtype=np.uint16)


def write_ome_zarr(
    path: Path,
    version: str,
    data: np.ndarray[Any, Any] | None = None,
    *,
    labels: bool = True,
    omero: bool = True,
) -> np.ndarray[Any, Any]:
    """A ``czyx`` image (0.5 µm pixels, 2 µm planes), 3 levels, channels, and a label image."""
    data = image_data() if data is None else data
    fmt = FormatV04() if version == "0.4" else FormatV05()
    root = zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)
    extra: dict[str, Any] = {"omero": OMERO} if omero else {}
    write_image(
        data,
        root,
        axes="czyx",
        fmt=fmt,
        scale_factors=[2, 4],
        scale={"c": 1.0, "z": 2.0, "y": 0.5, "x": 0.5},
        axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
        storage_options={"chunks": (1, 1, 32, 32)},
        **extra,
    )
    if labels:
        mask = np.zeros(data.shape[1:], dtype=np.uint8)
        mask[:, 10:30, 20:60] = 3
        write_labels(
            mask,
            root,
            name="cells",
            axes="zyx",
            scaler=None,  # its default Scaler overrides scale_factors (and warns)
            fmt=fmt,
            scale_factors=[2],
            scale={"z": 2.0, "y": 0.5, "x": 0.5},
            axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
        )
    return data
