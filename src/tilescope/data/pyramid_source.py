"""Open an input for :func:`tilescope.data.pyramid.write_pyramid`, with its metadata.

An OME-Zarr (0.4 or 0.5) gives its level 0 and its axes, units, scale, translation and omero
channels, validated with yaozarrs' models; anything :func:`tilescope.data.io.read_path` reads
(.npy, TIFF, zarr) gives its first layer's level 0. Only metadata are read here: the data stay
lazy, and paths are made absolute because dask workers read them again, maybe elsewhere.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.errors import DataSourceError, UnsupportedFormatError

__all__ = ["Channel", "PyramidSource", "read_source"]

_RGB_CHUNK = 256  # y/x chunk of the lazy (c, y, x) view of an RGB image


@dataclass(frozen=True, slots=True)
class Channel:
    """Display settings of one channel, written as omero metadata.

    ``color`` is hex RGB (``"FF0000"``); ``window`` is the ``(start, end)`` contrast window,
    ``None`` to take the data's range (from the coarsest level, which is cheap to read).
    """

    label: str
    color: str = "FFFFFF"
    window: tuple[float, float] | None = None
    active: bool = True


@dataclass(frozen=True)
class PyramidSource:
    """What :func:`read_source` found: level-0 data and whatever metadata the input carries."""

    data: Any
    axes: tuple[str, ...] | None = None
    scale: tuple[float, ...] | None = None
    translation: tuple[float, ...] | None = None
    units: tuple[str | None, ...] | None = None
    channels: tuple[Channel, ...] | None = None
    name: str = ""
    close: Callable[[], None] | None = field(default=None, compare=False)


def read_source(path: str | os.PathLike[str]) -> PyramidSource:
    """Open ``path`` lazily for :func:`write_pyramid`: an OME-Zarr (0.4 or 0.5, its first
    multiscale's level 0 and its axes, units, scale, translation and channels), or anything
    :func:`tilescope.data.io.read_path` reads (.npy, TIFF, zarr; its first layer, level 0).
    A ``(y, x, 3 or 4)`` image is taken as RGB(A) and becomes ``(c, y, x)`` with red, green,
    blue (and alpha) channels, as OME-Zarr stores colour.
    """
    from tilescope.data.io import read_path

    p = Path(path)
    if not p.exists():
        raise DataSourceError(f"{str(p)!r} does not exist: check the path and try again.")
    p = p.absolute()  # lazy arrays are read again by dask workers, maybe in another directory
    ome = _ome_source(p) if p.is_dir() else None
    if ome is not None:
        return ome
    specs = read_path(p)
    spec = specs[0]
    data = spec.data[0] if isinstance(spec.data, list | tuple) else spec.data
    kw = spec.kwargs
    shape = tuple(data.shape)
    if "axis_labels" not in kw and len(shape) == 3 and shape[-1] in (3, 4) and min(shape[:2]) > 4:
        # (y, x, RGB[A]) as slides and photos store it: OME-Zarr wants channels first
        da: Any = importlib.import_module("dask.array")

        colors = ("FF0000", "00FF00", "0000FF", "FFFFFF")
        names = ("red", "green", "blue", "alpha")
        dtype = np.dtype(data.dtype)
        info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
        window = (float(info.min), float(info.max)) if info is not None else None
        return PyramidSource(
            data=da.moveaxis(da.from_array(data, chunks=(_RGB_CHUNK, _RGB_CHUNK, -1)), -1, 0),
            axes=("c", "y", "x"),
            channels=tuple(Channel(names[i], colors[i], window) for i in range(shape[-1])),
            name=spec.name,
            close=spec.close,
        )

    def seq(key: str) -> tuple[Any, ...] | None:
        v = kw.get(key)
        return tuple(v) if isinstance(v, Sequence) and len(v) == len(data.shape) else None

    return PyramidSource(
        data=data,
        axes=seq("axis_labels"),
        scale=seq("scale"),
        translation=seq("translate"),
        units=seq("units"),
        name=spec.name,
        close=spec.close,
    )


def _ome_source(p: Path) -> PyramidSource | None:
    """The OME-Zarr image at ``p``, or ``None`` when ``p`` holds no OME multiscales metadata.

    Validated with yaozarrs' models; only level 0 is opened (the pyramid is rebuilt from it).
    """
    import yaozarrs
    import zarr

    text = None
    for meta in ("zarr.json", ".zattrs"):
        f = p / meta
        if f.is_file():
            raw = f.read_text(encoding="utf-8")
            try:
                doc = json.loads(raw)
            except ValueError as e:
                raise DataSourceError(f"{str(f)!r} is not valid JSON ({e}).") from e
            attrs = doc.get("attributes", {}) if meta == "zarr.json" else doc
            if isinstance(attrs, dict) and ("ome" in attrs or "multiscales" in attrs):
                text = raw
            break
    if text is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SHOULD-level notes about someone else's file
            model: Any = yaozarrs.validate_ome_json(text)
    except ValueError as e:
        raise DataSourceError(f"{str(p)!r} has invalid OME-Zarr metadata: {e}") from e
    image = getattr(getattr(model, "attributes", None), "ome", model)
    multiscales = getattr(image, "multiscales", None)
    if not multiscales:
        raise UnsupportedFormatError(
            f"{str(p)!r} is an OME-Zarr {type(image).__name__}, not an image: open one of its "
            "images (a well's field, or a series) instead."
        )
    ms = multiscales[0]
    ds = ms.datasets[0]
    axes = tuple(a.name for a in ms.axes)
    scale = [1.0] * len(axes)
    translation = [0.0] * len(axes)
    for transforms in (ds.coordinateTransformations, ms.coordinateTransformations or []):
        for t in transforms:
            if t.type == "scale":
                translation = [tr * s for tr, s in zip(translation, t.scale, strict=True)]
                scale = [a * b for a, b in zip(scale, t.scale, strict=True)]
            elif t.type == "translation":
                translation = [a + b for a, b in zip(translation, t.translation, strict=True)]
    try:
        data = zarr.open_array(str(p / ds.path), mode="r")
    except Exception as e:  # zarr raises several types for missing or corrupt arrays
        raise DataSourceError(f"cannot open level {ds.path!r} of {str(p)!r}: {e}") from e
    omero = getattr(image, "omero", None)
    channels = None
    if omero is not None and omero.channels:
        channels = tuple(
            Channel(
                label=c.label or f"channel {i}",
                color=c.color,
                window=(c.window.start, c.window.end),
                active=c.active if c.active is not None else True,
            )
            for i, c in enumerate(omero.channels)
        )
    return PyramidSource(
        data=data,
        axes=axes,
        scale=tuple(scale),
        translation=tuple(translation),
        units=tuple(a.unit for a in ms.axes),
        channels=channels,
        name=ms.name or p.name.removesuffix(".zarr"),
    )
