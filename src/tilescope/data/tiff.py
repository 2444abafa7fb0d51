"""TIFF files (plain, pyramidal OME-TIFF with sub-IFDs, SVS, NDPI, generic series) as layers.

Read through tifffile's zarr interface: every level is a zarr array whose chunks are the
file's tiles (or strips), so a view reads only the tiles it needs and never a whole level.
Metadata becomes layer keywords:

- OME-XML ``PhysicalSizeX/Y/Z`` (and their units), an SVS ``MPP``, or resolution tags in real
  units -> ``scale`` (micrometres unless the file says otherwise) and units per axis;
- the series' axes -> axis labels (``t, c, z, y, x``); a ``C`` axis -> one image layer per
  channel (:mod:`tilescope.data.channels`), named after the OME ``Channel`` names, coloured
  from OME ``Color`` when given;
- RGB(A) samples stay one RGB layer.

A compression whose decoder is missing (imagecodecs not installed, or a codec it lacks) is
an :class:`UnsupportedFormatError` at open time naming the package, never a black picture.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tilescope.data.channels import default_channel_colormaps, split_channels
from tilescope.data.spec import LayerSpec
from tilescope.errors import DataSourceError, UnsupportedFormatError

__all__ = ["read_tiff"]

_AXIS_LABELS = {"T": "t", "C": "c", "Z": "z", "Y": "y", "X": "x", "S": "rgb", "Q": "q", "I": "i"}
_UNITS = {"µm": "micrometer", "um": "micrometer", "nm": "nanometer", "mm": "millimeter"}


def _unit_name(unit: str | None) -> str:
    if not unit:
        return "micrometer"
    return _UNITS.get(unit, unit)


def read_tiff(path: Path) -> list[LayerSpec]:
    """The layers of the TIFF at ``path`` (its first series); one ``close`` for all of them."""
    import tifffile

    where = repr(str(path))
    try:
        tf = tifffile.TiffFile(path)
    except Exception as e:  # tifffile raises many types on corrupt files
        raise DataSourceError(f"cannot read {where} as a TIFF file: {e}") from e
    try:
        return _read(tf, where)
    except BaseException:
        tf.close()
        raise


def _read(tf: Any, where: str) -> list[LayerSpec]:
    import zarr

    if not tf.series:
        raise DataSourceError(f"the TIFF file {where} contains no image data.")
    series = tf.series[0]
    _check_codecs(series, where)
    try:
        store = series.aszarr()
        node = zarr.open(store, mode="r")
    except Exception as e:
        raise DataSourceError(f"cannot read {where} as a TIFF file: {e}") from e
    levels: list[Any] = []
    if isinstance(node, zarr.Array):
        levels.append(node)
    else:
        while str(len(levels)) in node:
            levels.append(node[str(len(levels))])
        if not levels:
            raise DataSourceError(f"the TIFF file {where} contains no image data.")
    axes = str(series.axes).upper()
    if len(axes) != len(levels[0].shape):
        axes = axes[-len(levels[0].shape) :].rjust(len(levels[0].shape), "Q")
    rgb = axes.endswith("S") and int(levels[0].shape[-1]) in (3, 4)
    spatial, units = _physical_sizes(tf, axes)
    data: Any = levels if len(levels) > 1 else levels[0]
    name = Path(tf.filename).name.split(".")[0] or "image"
    layer_axes = axes[:-1] if rgb else axes
    c = layer_axes.find("C")
    c = c if c >= 0 and not rgb else -1
    kept = [a for i, a in enumerate(layer_axes) if i != c]
    kwargs: dict[str, Any] = {
        "scale": tuple(spatial.get(a, 1.0) for a in kept),
        "metadata": {
            "axis_labels": tuple(_AXIS_LABELS.get(a, a.lower()) for a in kept),
            "units": tuple(units.get(a) for a in kept),
        },
    }
    if len(levels) > 1:
        kwargs["multiscale"] = True
    if rgb:
        kwargs["rgb"] = True
    closer = _shared_close(tf.close, 1)
    if c < 0:
        return [LayerSpec(data, name=name, kwargs=kwargs, close=closer[0])]
    n = int(levels[0].shape[c])
    names, colors = _ome_channels(tf, n)
    kwargs["name"] = [nm or f"{name} [{i}]" for i, nm in enumerate(names)]
    defaults = default_channel_colormaps(n)
    kwargs["colormap"] = [_color_map(col) or defaults[i] for i, col in enumerate(colors)]
    specs = split_channels(data, c, kwargs)
    closers = _shared_close(tf.close, len(specs))
    return [
        LayerSpec(s.data, name=str(s.kwargs.pop("name")), kwargs=s.kwargs, close=closers[i])
        for i, s in enumerate(specs)
    ]


def _shared_close(close: Callable[[], None], n: int) -> list[Callable[[], None]]:
    """``n`` closers of one file: the file closes once all ``n`` have been called."""
    remaining = set(range(n))

    def make(i: int) -> Callable[[], None]:
        def closer() -> None:
            if i in remaining:
                remaining.discard(i)
                if not remaining:
                    close()

        return closer

    return [make(i) for i in range(n)]


def _check_codecs(series: Any, where: str) -> None:
    """Refuse a level whose compression tifffile cannot decode, naming what to install."""
    import tifffile

    for i, level in enumerate(series.levels):
        page = level.keyframe
        compression = page.compression
        if compression in tifffile.TIFF.DECOMPRESSORS:
            continue
        label = getattr(compression, "name", "an unknown scheme")
        raise UnsupportedFormatError(
            f"cannot read {where}: level {i} is compressed with {label} (TIFF compression "
            f"{int(compression)}), "
            "which no installed decoder reads; install or upgrade imagecodecs "
            "(`pip install -U imagecodecs`) and try again."
        )


def _ome_pixels(tf: Any) -> Any:
    xml = tf.ome_metadata
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.endswith("}Pixels") or el.tag == "Pixels":
            return el
    return None


def _physical_sizes(tf: Any, axes: str) -> tuple[dict[str, float], dict[str, str | None]]:
    """Physical pixel size and unit per axis letter, from OME-XML, SVS MPP or resolution."""
    sizes: dict[str, float] = {}
    units: dict[str, str | None] = {}
    pixels = _ome_pixels(tf)
    if pixels is not None:
        for axis in "XYZ":
            value = pixels.get(f"PhysicalSize{axis}")
            if value is not None:
                try:
                    sizes[axis] = float(value)
                except ValueError:
                    continue
                units[axis] = _unit_name(pixels.get(f"PhysicalSize{axis}Unit"))
        return sizes, units
    page = tf.pages.first
    if tf.is_svs:
        match = re.search(r"MPP\s*=\s*([0-9.eE+-]+)", str(page.description))
        if match:
            mpp = float(match.group(1))
            return {"X": mpp, "Y": mpp}, {"X": "micrometer", "Y": "micrometer"}
    try:
        import tifffile

        res = page.get_resolution(tifffile.RESUNIT.MICROMETER)
        unit = page.tags.valueof("ResolutionUnit")
    except Exception:  # no or odd resolution tags: pixels stay unit-less
        return sizes, units
    if unit in (2, 3, 4, 5) and res and res[0] > 0 and res[1] > 0 and "Y" in axes:
        return (
            {"X": 1.0 / float(res[0]), "Y": 1.0 / float(res[1])},
            {"X": "micrometer", "Y": "micrometer"},
        )
    return sizes, units


def _ome_channels(tf: Any, n: int) -> tuple[list[str | None], list[int | None]]:
    names: list[str | None] = [None] * n
    colors: list[int | None] = [None] * n
    pixels = _ome_pixels(tf)
    if pixels is None:
        return names, colors
    channels = [el for el in pixels if el.tag.endswith("Channel")]
    if len(channels) != n:
        return names, colors
    for i, ch in enumerate(channels):
        names[i] = ch.get("Name")
        color = ch.get("Color")
        if color is not None:
            try:
                colors[i] = int(color)
            except ValueError:
                colors[i] = None
    return names, colors


def _color_map(color: int | None) -> Any:
    """OME ``Color`` (signed 32-bit RGBA) -> a black-to-colour colormap; None for white/none."""
    if color is None:
        return None
    from cmap import Colormap

    rgba = color & 0xFFFFFFFF
    r, g, b = (rgba >> 24) & 0xFF, (rgba >> 16) & 0xFF, (rgba >> 8) & 0xFF
    if (r, g, b) == (255, 255, 255):
        return None
    return Colormap(["#000000", f"#{r:02x}{g:02x}{b:02x}"], name=f"ome #{r:02x}{g:02x}{b:02x}")
