"""What ``Viewer.add_image`` does to its input before any layer exists.

- an xarray ``DataArray`` (or a list of them, a pyramid) becomes its underlying array, with
  ``dims`` -> ``metadata["axis_labels"]`` and regular coordinates -> ``scale``/``translate``
  (explicit keywords win); xarray itself is never imported, so it stays optional;
- ``channel_axis`` splits the data into one spec per channel (:mod:`tilescope.data.channels`).

Pure: nothing here reads array values (xarray coordinates are small 1-D arrays).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tilescope.data.channels import ChannelSpec, split_channels

__all__ = ["image_specs", "is_xarray", "unwrap_xarray"]


def is_xarray(data: object) -> bool:
    """Whether ``data`` is an xarray ``DataArray`` (checked without importing xarray)."""
    t = type(data)
    return t.__name__ == "DataArray" and t.__module__.split(".")[0] == "xarray"


def _regular(coord: Any) -> tuple[float, float] | None:
    """``(step, start)`` of an evenly spaced numeric 1-D coordinate, else None."""
    values = np.asarray(coord)
    if values.ndim != 1 or values.size < 2 or not np.issubdtype(values.dtype, np.number):
        return None
    steps = np.diff(values.astype(np.float64))
    step = float(steps.mean())
    if step == 0 or not np.allclose(steps, step, rtol=1e-6, atol=0):
        return None
    return step, float(values[0])


def unwrap_xarray(data: Any, kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The array inside a ``DataArray`` (or pyramid of them) and the keywords its labels imply."""
    out = dict(kwargs)
    levels = list(data) if isinstance(data, list | tuple) else None
    first = levels[0] if levels else data
    if not is_xarray(first):
        return data, out
    dims = tuple(str(d) for d in first.dims)
    metadata = dict(out.get("metadata") or {})
    metadata.setdefault("axis_labels", dims)
    units = tuple(first.coords[d].attrs.get("units") if d in first.coords else None for d in dims)
    if any(u is not None for u in units):
        metadata.setdefault("units", units)
    out["metadata"] = metadata
    scale: list[float] = []
    translate: list[float] = []
    for d in dims:
        regular = _regular(first.coords[d]) if d in first.coords else None
        step, start = regular if regular is not None else (1.0, 0.0)
        scale.append(step)
        translate.append(start)
    out.setdefault("scale", tuple(scale))
    out.setdefault("translate", tuple(translate))
    if levels is not None:
        return [lv.data if is_xarray(lv) else lv for lv in levels], out
    return first.data, out


def image_specs(
    data: Any, channel_axis: int | None, kwargs: Mapping[str, Any]
) -> list[ChannelSpec]:
    """One spec per layer ``add_image`` makes: the data (unwrapped, maybe split) and keywords."""
    array, kw = unwrap_xarray(data, kwargs)
    if channel_axis is None:
        return [ChannelSpec(array, kw)]
    ndim = len((array[0] if isinstance(array, list | tuple) else array).shape)
    axis = channel_axis % ndim if -ndim <= channel_axis < ndim else channel_axis
    meta = kw.get("metadata")
    if isinstance(meta, Mapping) and 0 <= axis < ndim:
        trimmed = dict(meta)
        for key in ("axis_labels", "units"):
            values = trimmed.get(key)
            if isinstance(values, tuple) and len(values) == ndim:
                trimmed[key] = values[:axis] + values[axis + 1 :]
        kw["metadata"] = trimmed
        for key in ("scale", "translate"):
            values = kw.get(key)
            derived = key not in kwargs and kw is not kwargs
            if derived and isinstance(values, tuple) and len(values) == ndim:
                kw[key] = values[:axis] + values[axis + 1 :]
    return split_channels(array, channel_axis, kw)
