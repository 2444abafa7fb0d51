"""OME-Zarr images (NGFF 0.4 on zarr v2, 0.5 on zarr v3) as layer specs, with their metadata.

What the metadata says becomes what the layers show:

- ``multiscales[0].datasets`` -> the pyramid levels, by their paths (any names), finest first;
- the level-0 ``coordinateTransformations`` (dataset and multiscale ones composed) -> the
  layers' ``scale`` and ``translate`` in physical units; every later level must agree with
  its downsampling (its scale over level 0's matches the shape ratio to within a pixel);
- ``axes`` -> axis labels and units (in each layer's ``metadata``: ``axis_labels``,
  ``units``); an axis of type ``channel`` -> one image layer per channel, blended additively,
  with ``omero`` ``color`` -> colormap, ``window`` -> contrast limits, ``label`` -> name,
  ``active`` -> visible;
- ``labels/`` -> one labels layer per listed label image, in the same physical space;
- a plate, a well or a bioformats2raw collection -> :class:`UnsupportedFormatError` saying
  what is there and which path opens one image.

The metadata is validated with ``yaozarrs`` (pydantic models of the NGFF specs), chosen over
ome-zarr-models because it validates the JSON we already fetched — it needs no zarr access
of its own, so a remote image costs no extra requests — and depends only on pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tilescope.data.channels import default_channel_colormaps, split_channels
from tilescope.data.spec import LayerSpec
from tilescope.errors import DataSourceError, UnsupportedFormatError

__all__ = ["GroupReader", "is_ome_zarr", "ome_metadata", "read_ome_zarr"]


class GroupReader(Protocol):
    """Access to the nodes below an image group (local or remote alike)."""

    def array(self, path: str) -> Any:
        """The zarr array at ``path`` (relative to the image group); raises when missing."""
        ...

    def arrays(self, paths: Sequence[str]) -> list[Any]:
        """The arrays at ``paths``, opened concurrently; a failed one is its exception."""
        ...

    def attrs(self, path: str) -> Mapping[str, Any] | None:
        """The attributes of the group at ``path``, or None when there is no group there."""
        ...


class _Prefixed:
    """A :class:`GroupReader` for a sub-group (``labels/nuclei``) of another."""

    def __init__(self, reader: GroupReader, prefix: str) -> None:
        self._reader = reader
        self._prefix = prefix.rstrip("/") + "/"

    def array(self, path: str) -> Any:
        return self._reader.array(self._prefix + path)

    def arrays(self, paths: Sequence[str]) -> list[Any]:
        return self._reader.arrays([self._prefix + p for p in paths])

    def attrs(self, path: str) -> Mapping[str, Any] | None:
        return self._reader.attrs(self._prefix + path)


@dataclass(frozen=True, slots=True)
class _Multiscale:
    """One validated multiscale image: levels, axes and the level-0 transform."""

    levels: list[Any]
    axis_names: tuple[str, ...]
    axis_types: tuple[str | None, ...]
    units: tuple[str | None, ...]
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    name: str | None


def ome_metadata(attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(version, ome attributes)`` of a group's attributes, or None when not OME-Zarr."""
    ome = attrs.get("ome")
    if isinstance(ome, Mapping):
        return str(ome.get("version", "0.5")), dict(ome)
    for key in ("multiscales", "plate", "well"):
        value = attrs.get(key)
        if key == "multiscales" and isinstance(value, list) and value:
            first = value[0]
            version = first.get("version", "0.4") if isinstance(first, Mapping) else "0.4"
            return str(version), dict(attrs)
        if isinstance(value, Mapping):
            return str(value.get("version", "0.4")), dict(attrs)
    if "bioformats2raw.layout" in attrs or "labels" in attrs:
        return "0.4", dict(attrs)
    return None


def is_ome_zarr(attrs: Mapping[str, Any]) -> bool:
    """Whether a zarr group's attributes carry OME-Zarr metadata."""
    return ome_metadata(attrs) is not None


def _models(version: str) -> Any:
    import yaozarrs

    if version == "0.4":
        return yaozarrs.v04
    if version == "0.5":
        return yaozarrs.v05
    raise UnsupportedFormatError(
        f"OME-Zarr version {version!r} is not supported: tilescope reads NGFF 0.4 (zarr v2) "
        "and 0.5 (zarr v3); convert older files with ome-zarr-py or bioformats2raw."
    )


def _validate(cls: Any, attrs: Mapping[str, Any], where: str, what: str) -> Any:
    import pydantic
    import yaozarrs

    try:
        return yaozarrs.validate_ome_object(dict(attrs), cls)
    except pydantic.ValidationError as e:
        if "omero" in attrs and all(err["loc"][:1] == ("omero",) for err in e.errors()):
            # omero is transitional display metadata: a faulty block costs its colours and
            # windows (napari's defaults are used), not the image
            return _validate(cls, {k: v for k, v in attrs.items() if k != "omero"}, where, what)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:3]
        )
        raise DataSourceError(
            f"{where!r} has invalid OME-Zarr {what} metadata ({problems}); fix the metadata "
            "(or rewrite the image with ome-zarr-py) and try again."
        ) from None


def read_ome_zarr(
    attrs: Mapping[str, Any], reader: GroupReader, where: str, name: str
) -> list[LayerSpec]:
    """The layers of an OME-Zarr group: its image (split by channel) and its labels.

    ``attrs`` are the group's attributes, ``reader`` opens what lies below it; ``where``
    names the group (path or URL) in messages; ``name`` is the default layer name.
    """
    found = ome_metadata(attrs)
    if found is None:
        raise UnsupportedFormatError(f"{where!r} has no OME-Zarr metadata")
    version, ome = found
    _refuse_collections(ome, where)
    models = _models(version)
    image = _validate(models.Image, _for_model(version, ome), where, "image")
    ms = _multiscale(image.multiscales[0], reader, where)
    specs = _image_specs(ms, image.omero, ms.name or name)
    specs.extend(_label_specs(reader, where))
    return specs


def _for_model(version: str, ome: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes in the shape the version's model expects (0.5 keeps ``version`` at top)."""
    data = dict(ome)
    if version == "0.5":
        data.setdefault("version", "0.5")
    return data


def _refuse_collections(ome: Mapping[str, Any], where: str) -> None:
    base = where.rstrip("/")
    plate = ome.get("plate")
    if isinstance(plate, Mapping):
        rows = [r.get("name") for r in plate.get("rows", []) if isinstance(r, Mapping)]
        cols = [c.get("name") for c in plate.get("columns", []) if isinstance(c, Mapping)]
        wells = [w.get("path") for w in plate.get("wells", []) if isinstance(w, Mapping)]
        fields = plate.get("field_count")
        first = f"{base}/{wells[0]}/0" if wells else f"{base}/ROW/COLUMN/0"
        raise UnsupportedFormatError(
            f"{where!r} is an OME-Zarr plate ({len(rows)} rows {rows}, {len(cols)} columns "
            f"{cols}, {len(wells)} wells"
            + (f", {fields} fields per well" if fields is not None else "")
            + f"); tilescope opens one field of view at a time: open e.g. {first!r} "
            "(PLATE/ROW/COLUMN/FIELD)."
        )
    well = ome.get("well")
    if isinstance(well, Mapping):
        images = [i.get("path") for i in well.get("images", []) if isinstance(i, Mapping)]
        first = f"{base}/{images[0]}" if images else f"{base}/0"
        raise UnsupportedFormatError(
            f"{where!r} is an OME-Zarr well with {len(images)} fields {images}; open one field, "
            f"e.g. {first!r}."
        )
    if "bioformats2raw.layout" in ome and "multiscales" not in ome:
        raise UnsupportedFormatError(
            f"{where!r} is a bioformats2raw collection of images; open one of them, e.g. "
            f"{base + '/0'!r}."
        )
    if "multiscales" not in ome:
        raise UnsupportedFormatError(
            f"{where!r} is an OME-Zarr group without an image (no 'multiscales'"
            + (": it lists labels; open the image group above it" if "labels" in ome else "")
            + ")."
        )


def _transform(transforms: Sequence[Any] | None, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    scale = np.ones(ndim)
    translate = np.zeros(ndim)
    for t in transforms or ():
        kind = getattr(t, "type", None)
        if kind == "scale" and getattr(t, "scale", None) is not None:
            s = np.asarray(t.scale, dtype=np.float64)
            scale, translate = scale * s, translate * s
        elif kind == "translation" and getattr(t, "translation", None) is not None:
            translate = translate + np.asarray(t.translation, dtype=np.float64)
    return scale, translate


def _multiscale(multiscale: Any, reader: GroupReader, where: str) -> _Multiscale:
    axes = list(multiscale.axes)
    ndim = len(axes)
    names = tuple(str(a.name) for a in axes)
    types = tuple(getattr(a, "type", None) for a in axes)
    units = tuple(getattr(a, "unit", None) for a in axes)
    outer = getattr(multiscale, "coordinateTransformations", None)
    levels: list[Any] = []
    scales: list[np.ndarray] = []
    translate0 = np.zeros(ndim)
    datasets = list(multiscale.datasets)
    opened = reader.arrays([str(d.path) for d in datasets])  # one round trip for all levels
    for i, (dataset, array) in enumerate(zip(datasets, opened, strict=True)):
        path = str(dataset.path)
        if isinstance(array, BaseException):
            e = array
            if isinstance(e, DataSourceError) or "codec" in str(e).lower():
                raise e  # a codec is named with the package to install by the caller
            raise DataSourceError(
                f"{where!r}: pyramid level {i} ({path!r}), listed in the multiscales metadata, "
                f"cannot be opened ({type(e).__name__}: {e}); the image is incomplete — "
                "rewrite it, or remove that level from the metadata."
            ) from e
        if len(array.shape) != ndim:
            raise DataSourceError(
                f"{where!r}: the metadata lists {ndim} axes {list(names)} but level {path!r} has "
                f"{len(array.shape)} (shape {tuple(array.shape)}); the axes and the arrays "
                "must agree."
            )
        s, t = _transform(dataset.coordinateTransformations, ndim)
        so, to = _transform(outer, ndim)
        scale, translate = s * so, t * so + to
        if i == 0:
            translate0 = translate
        scales.append(scale)
        levels.append(array)
    shape0 = np.asarray(levels[0].shape, dtype=np.float64)
    for i in range(1, len(levels)):
        factor = scales[i] / scales[0]
        shape = np.asarray(levels[i].shape, dtype=np.float64)
        # Level i covers level 0's extent: shape * factor ≈ shape0 within one coarse pixel.
        if np.any(np.abs(shape * factor - shape0) > np.maximum(factor, 1.0) + 1e-6):
            raise DataSourceError(
                f"{where!r}: level {multiscale.datasets[i].path!r} has shape "
                f"{tuple(levels[i].shape)} and scale {scales[i].tolist()}, which does not "
                f"match level 0 (shape {tuple(levels[0].shape)}, scale {scales[0].tolist()}) "
                "downsampled by the ratio of their scales; fix its coordinateTransformations."
            )
    return _Multiscale(
        levels=levels,
        axis_names=names,
        axis_types=types,
        units=units,
        scale=tuple(float(v) for v in scales[0]),
        translate=tuple(float(v) for v in translate0),
        name=multiscale.name,
    )


def _channel_axis(ms: _Multiscale) -> int | None:
    for i, kind in enumerate(ms.axis_types):
        if kind == "channel":
            return i
    return None


def _drop(values: Sequence[Any], axis: int | None) -> tuple[Any, ...]:
    return tuple(v for i, v in enumerate(values) if i != axis)


def _colormap(color: str | None, fallback: str) -> Any:
    from cmap import Colormap

    if not color:
        return fallback
    text = color if color.startswith("#") else f"#{color}"
    try:
        return Colormap(["#000000", text], name=f"omero {text}")
    except Exception:  # a colour cmap cannot parse: keep the default rather than fail
        return fallback


def _image_specs(ms: _Multiscale, omero: Any, name: str) -> list[LayerSpec]:
    data: Any = ms.levels if len(ms.levels) > 1 else ms.levels[0]
    c = _channel_axis(ms)
    metadata = {
        "axis_labels": _drop(ms.axis_names, c),
        "units": _drop(ms.units, c),
    }
    common: dict[str, Any] = {
        "scale": _drop(ms.scale, c),
        "translate": _drop(ms.translate, c),
        "metadata": metadata,
    }
    if len(ms.levels) > 1:
        common["multiscale"] = True
    if c is None:
        return [LayerSpec(data, name=name, kwargs=common)]
    n = int(ms.levels[0].shape[c])
    channels = list(getattr(omero, "channels", None) or [])
    if channels and len(channels) != n:
        channels = []  # omero disagrees with the data: keep napari's defaults
    per: dict[str, Any] = {"name": [f"{name} [{i}]" for i in range(n)]}
    colormaps: list[Any] = default_channel_colormaps(n)
    if channels:
        per["name"] = [ch.label or f"{name} [{i}]" for i, ch in enumerate(channels)]
        colormaps = [_colormap(ch.color, colormaps[i]) for i, ch in enumerate(channels)]
        windows = [ch.window for ch in channels]
        if all(w is not None and w.end > w.start for w in windows):
            per["contrast_limits"] = [(float(w.start), float(w.end)) for w in windows]
        per["visible"] = [ch.active is not False for ch in channels]
    per["colormap"] = colormaps
    kwargs = {**common, **per, "blending": "additive"}
    return [
        LayerSpec(s.data, name=str(s.kwargs.pop("name")), kwargs=s.kwargs)
        for s in split_channels(data, c, kwargs)
    ]


def _label_specs(reader: GroupReader, where: str) -> list[LayerSpec]:
    """Labels layers for ``labels/`` (absent: none), in the image's physical space."""
    group_attrs = reader.attrs("labels")
    if group_attrs is None:
        return []
    found = ome_metadata(group_attrs)
    names = (found[1] if found else dict(group_attrs)).get("labels", [])
    specs = []
    for label in names if isinstance(names, list) else []:
        label_where = f"{where.rstrip('/')}/labels/{label}"
        attrs = reader.attrs(f"labels/{label}")
        meta = ome_metadata(attrs) if attrs is not None else None
        if meta is None:
            raise DataSourceError(
                f"{label_where!r} is listed in labels/ but holds no OME-Zarr label image; "
                "remove it from the list or write it again."
            )
        version, ome = meta
        model = _validate(
            _models(version).LabelImage, _for_model(version, ome), label_where, "label image"
        )
        ms = _multiscale(model.multiscales[0], _Prefixed(reader, f"labels/{label}"), label_where)
        data: Any = ms.levels if len(ms.levels) > 1 else ms.levels[0]
        kwargs: dict[str, Any] = {
            "scale": ms.scale,
            "translate": ms.translate,
            "metadata": {"axis_labels": ms.axis_names, "units": ms.units},
        }
        if len(ms.levels) > 1:
            kwargs["multiscale"] = True
        colors = _label_colors(getattr(model, "image_label", None))
        if colors:
            kwargs["color"] = colors
        specs.append(LayerSpec(data, layer_type="labels", name=str(label), kwargs=kwargs))
    return specs


def _label_colors(image_label: Any) -> dict[int, tuple[float, float, float, float]]:
    """``image-label.colors`` (``label-value`` -> RGBA 0-255) as label -> RGBA in [0, 1]."""
    out: dict[int, tuple[float, float, float, float]] = {}
    for entry in getattr(image_label, "colors", None) or ():
        value, rgba = getattr(entry, "label_value", None), getattr(entry, "rgba", None)
        if isinstance(value, int | float) and rgba is not None and len(rgba) == 4:
            r, g, b, a = (float(c) / 255.0 for c in rgba)
            out[int(value)] = (r, g, b, a)
    return out
