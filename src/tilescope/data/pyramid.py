"""Build an OME-Zarr 0.5 pyramid from any array, with dask, locally or on a cluster.

``write_pyramid(data, "out.zarr")`` writes level ``s0`` (the data, rechunked) and then each
level ``s{n+1}`` from level ``s{n}`` *as stored*: every level's dask graph reads the previous
level back from disk in blocks of two output chunks per downsampled axis, reduces each block
by 2 (mean for images, mode for labels) and writes the result chunk-aligned. So memory stays at
a few chunks per worker whatever the input size, and the graph of one level never includes the
previous one. ``t`` and ``c`` are never downsampled; ``z`` only when asked.

Geometry: a level-``n+1`` pixel is the statistic of the 2×2 (×2) block of level-``n`` pixels it
covers; at an odd edge the block holds only the pixels present (level size is ``ceil(n / 2)``).
Its centre lies half a level-``n`` pixel past the block's first pixel, so each level's
``coordinateTransformations`` carry ``scale * 2**n`` and a translation of
``scale * (2**n - 1) / 2`` on the downsampled axes, plus the input's own translation.

Metadata (axes with types and units, per-level transforms, ``omero`` channels) is built with
yaozarrs' OME-Zarr 0.5 models, so an invalid combination is refused before any data is
computed; it is written last, so an interrupted run never leaves a valid-looking pyramid.
"""

from __future__ import annotations

import importlib
import math
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.data.downsample import Method, downsample_block, level_shapes
from tilescope.data.pyramid_source import Channel, PyramidSource, read_source
from tilescope.errors import DataSourceError, PyramidError, UnsupportedFormatError

__all__ = [  # Channel, PyramidSource and read_source live in pyramid_source; here for one import
    "DEFAULT_CHUNK",
    "Channel",
    "PyramidLevel",
    "PyramidSource",
    "read_source",
    "write_pyramid",
]

#: Default chunk edge on y/x (other axes get 1); also the size at which the pyramid stops.
DEFAULT_CHUNK = 256

_AXIS_TYPES = {"t": "time", "c": "channel"}
_UNIT_ALIASES = {
    "µm": "micrometer",
    "μm": "micrometer",
    "um": "micrometer",
    "micron": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "Å": "angstrom",
    "s": "second",
    "sec": "second",
    "ms": "millisecond",
    "min": "minute",
    "h": "hour",
}
# Colours for channels without one (hex RGB, as omero writes them).
_COLORS_1 = ("FFFFFF",)
_COLORS_2 = ("00FF00", "FF00FF")
_COLORS_N = ("FF0000", "00FF00", "0000FF", "FFFF00", "FF00FF", "00FFFF", "FFFFFF")


@dataclass(frozen=True, slots=True)
class PyramidLevel:
    """One written level: its dataset path, shape, chunks and physical transform."""

    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...]


# -- writing ----------------------------------------------------------------------------------


def write_pyramid(
    data: Any,
    path: str | os.PathLike[str],
    *,
    levels: int | None = None,
    chunks: int | Sequence[int] | None = None,
    axes: str | Sequence[str] | None = None,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    units: str | Sequence[str | None] | None = None,
    channels: Sequence[Channel] | None = None,
    labels: bool = False,
    downsample_z: bool = False,
    name: str | None = None,
    overwrite: bool = False,
    scheduler: str | None = None,
    progress: bool = True,
) -> list[PyramidLevel]:
    """Write ``data`` (numpy, dask, zarr or any array-like; a list of levels uses level 0; a
    :class:`PyramidSource` from :func:`read_source`, whose metadata are then the defaults) as
    an OME-Zarr 0.5 pyramid at ``path``; returns the levels written.

    - ``levels``: how many (default: until a level fits in one chunk on y/x).
    - ``chunks``: one int for y/x (other axes get 1), or one per axis (default 256 on y/x).
    - ``axes``: names such as ``"cyx"`` or ``["t", "c", "z", "y", "x"]`` (default: the last
      ``ndim`` of ``tczyx``); ``t`` is time, ``c`` channel, any other name space.
    - ``scale``/``translation``: level 0's physical pixel size and offset, one per axis;
      ``units``: one per axis, or one string for every space axis (``"µm"`` is accepted).
    - ``channels``: omero display settings, one per channel (default: labels ``channel i``,
      standard colours, the data's range as window).
    - ``labels``: integer labels: mode instead of mean, ``image-label`` metadata, no omero.
    - ``scheduler``: a dask.distributed scheduler address (``tcp://host:8786``); ``None``
      computes with local threads. Workers must see ``path`` at the same place.
    - ``progress``: a progress bar per level on stderr.
    """
    source = data if isinstance(data, PyramidSource) else PyramidSource(data)
    try:
        return _write(
            source,
            Path(path),
            levels=levels,
            chunks=chunks,
            axes=axes,
            scale=scale,
            translation=translation,
            units=units,
            channels=channels,
            labels=labels,
            downsample_z=downsample_z,
            name=name,
            overwrite=overwrite,
            scheduler=scheduler,
            progress=progress,
        )
    finally:
        if source.close is not None:
            source.close()


def _write(
    source: PyramidSource,
    out: Path,
    *,
    levels: int | None,
    chunks: int | Sequence[int] | None,
    axes: str | Sequence[str] | None,
    scale: Sequence[float] | None,
    translation: Sequence[float] | None,
    units: str | Sequence[str | None] | None,
    channels: Sequence[Channel] | None,
    labels: bool,
    downsample_z: bool,
    name: str | None,
    overwrite: bool,
    scheduler: str | None,
    progress: bool,
) -> list[PyramidLevel]:
    arr = _as_array(source.data)
    ndim = len(arr.shape)
    axis_names = _axis_names(axes if axes is not None else source.axes, ndim)
    axis_types = tuple(_AXIS_TYPES.get(a, "space") for a in axis_names)
    spatial = [i for i, t in enumerate(axis_types) if t == "space"]
    if len(spatial) < 2:
        raise PyramidError(f"axes {''.join(axis_names)!r} need at least two space axes (y, x).")
    reduce_axes = spatial[-3:] if downsample_z else spatial[-2:]
    chunk_shape = _chunk_shape(chunks, arr.shape, axis_names, spatial[-2:])
    shapes = level_shapes(arr.shape, chunk_shape, reduce_axes, levels, until=spatial[-2:])
    dtype = np.dtype(arr.dtype)
    if dtype != np.bool_ and not (
        np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
    ):
        raise UnsupportedFormatError(f"cannot build a pyramid of {dtype} data: need real numbers.")
    if labels and not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
        raise PyramidError(f"labels must be integers, not {dtype}; drop --labels for an image.")
    base_scale = _per_axis(scale if scale is not None else source.scale, ndim, 1.0, "scale")
    base_translation = _per_axis(
        translation if translation is not None else source.translation, ndim, 0.0, "translation"
    )
    if any(s <= 0 for s in base_scale):
        raise PyramidError(f"scale must be positive on every axis, not {base_scale}.")
    unit_list = _units(units if units is not None else source.units, axis_types)
    written = [
        PyramidLevel(
            path=f"s{n}",
            shape=s,
            chunks=tuple(min(c, n_) for c, n_ in zip(chunk_shape, s, strict=True)),
            scale=tuple(sc * 2**n if i in reduce_axes else sc for i, sc in enumerate(base_scale)),
            translation=tuple(
                tr + base_scale[i] * (2**n - 1) / 2 if i in reduce_axes else tr
                for i, tr in enumerate(base_translation)
            ),
        )
        for n, s in enumerate(shapes)
    ]
    channel_axis = axis_types.index("channel") if "channel" in axis_types else None
    if channels is None and source.channels is not None:
        channels = source.channels
    if (
        channel_axis is not None
        and channels is not None
        and len(channels) != arr.shape[channel_axis]
    ):
        raise PyramidError(
            f"{len(channels)} channel settings given for {arr.shape[channel_axis]} channels."
        )
    title = name if name is not None else (source.name or out.name.removesuffix(".zarr"))

    def metadata(omero: dict[str, Any] | None) -> dict[str, Any]:
        return _ome_metadata(
            axis_names=axis_names,
            axis_types=axis_types,
            units=unit_list,
            levels=written,
            name=title,
            labels=labels,
            omero=omero,
        )

    metadata(None)  # refuse bad metadata before computing anything
    _prepare_output(out, overwrite, arr, remove=False)

    import zarr

    method: Method = "mode" if labels else "mean"
    with _runner(scheduler) as runner, _progress_bar(progress) as bar:  # connect, then write
        _prepare_output(out, overwrite, arr, remove=True)
        # absolute: the arrays travel to dask workers, which may run in another directory
        group = zarr.open_group(str(out.absolute()), mode="w-", zarr_format=3)
        previous: Any = None
        for level in written:
            target = group.create_array(
                level.path,
                shape=level.shape,
                chunks=level.chunks,
                dtype=dtype,
                dimension_names=list(axis_names),
                fill_value=0,
            )
            graph = _level_graph(arr, previous, level, reduce_axes, method)
            markers = graph.map_blocks(
                _store_block,
                target=target,
                dtype=np.uint8,
                chunks=tuple((1,) * len(c) for c in graph.chunks),
                meta=np.empty((0,) * ndim, dtype=np.uint8),
            )
            label = f"{level.path} {'×'.join(str(s) for s in level.shape)}"
            runner.store(markers, bar(label, math.prod(markers.numblocks)))
            previous = target
        omero = None
        if channel_axis is not None and not labels:
            omero = _omero(channels, previous, channel_axis, runner)
    group.attrs.put({"ome": metadata(omero)})
    return written


def _as_array(data: Any) -> Any:
    if isinstance(data, list | tuple):
        if not data:
            raise PyramidError("an empty list of levels has nothing to write.")
        data = data[0]
    if not all(hasattr(data, a) for a in ("shape", "dtype", "__getitem__")):
        raise PyramidError(f"cannot build a pyramid from {type(data).__name__}: need an array.")
    if not 2 <= len(data.shape) <= 5:
        raise PyramidError(
            f"OME-Zarr images have 2 to 5 dimensions; this array has shape {tuple(data.shape)}."
        )
    if any(s == 0 for s in data.shape):
        raise PyramidError(f"cannot build a pyramid of an empty array (shape {data.shape}).")
    return data


def _axis_names(axes: str | Sequence[str] | None, ndim: int) -> tuple[str, ...]:
    names = tuple("tczyx"[-ndim:]) if axes is None else tuple(axes)
    if len(names) != ndim:
        raise PyramidError(f"{len(names)} axis names {names} for {ndim} dimensions.")
    if len(set(names)) != ndim:
        raise PyramidError(f"axis names must be unique, not {names}.")
    return names


def _chunk_shape(
    chunks: int | Sequence[int] | None,
    shape: Sequence[int],
    names: Sequence[str],
    yx: Sequence[int],
) -> tuple[int, ...]:
    ndim = len(shape)
    if chunks is None:
        chunks = DEFAULT_CHUNK
    if isinstance(chunks, int | np.integer):
        per_axis = tuple(int(chunks) if i in yx else 1 for i in range(ndim))
    else:
        per_axis = tuple(int(c) for c in chunks)
        if len(per_axis) != ndim:
            raise PyramidError(
                f"chunks {per_axis} has {len(per_axis)} values for axes {''.join(names)}: "
                f"give one value (y and x) or {ndim}."
            )
    if any(c < 1 for c in per_axis):
        raise PyramidError(f"chunks must be positive integers, not {per_axis}.")
    return per_axis


def _per_axis(
    values: Sequence[float] | None, ndim: int, default: float, what: str
) -> tuple[float, ...]:
    if values is None:
        return (default,) * ndim
    out = tuple(float(v) for v in values)
    if len(out) != ndim:
        raise PyramidError(f"{what} needs one value per axis ({ndim}), not {out}.")
    if not all(math.isfinite(v) for v in out):
        raise PyramidError(f"{what} must be finite numbers, not {out}.")
    return out


def _units(
    units: str | Sequence[str | None] | None, types: Sequence[str]
) -> tuple[str | None, ...]:
    if units is None:
        return (None,) * len(types)
    if isinstance(units, str):
        listed: list[str | None] = [units if t == "space" else None for t in types]
    else:
        listed = list(units)
        if len(listed) != len(types):
            raise PyramidError(f"units needs one value per axis ({len(types)}), not {listed}.")
    return tuple(_UNIT_ALIASES.get(u, u) if u else None for u in listed)


def _prepare_output(out: Path, overwrite: bool, data: Any, *, remove: bool) -> None:
    """Refuse an output that exists (unless ``overwrite``), is not a zarr store, or is the
    input; with ``remove``, delete the old store (only once the computation can start)."""
    if not (out.exists() or out.is_symlink()):
        if not out.parent.is_dir():
            raise DataSourceError(f"cannot write {str(out)!r}: {str(out.parent)!r} does not exist.")
        return
    if not overwrite:
        raise DataSourceError(f"{str(out)!r} already exists: pass --overwrite to replace it.")
    is_store = out.is_dir() and (
        any((out / m).exists() for m in ("zarr.json", ".zgroup", ".zarray"))
        or not any(out.iterdir())
    )
    if not is_store:
        raise DataSourceError(
            f"refusing to overwrite {str(out)!r}: it is not a zarr store; remove it yourself."
        )
    root = getattr(getattr(data, "store", None), "root", None)  # a zarr array on local disk
    if root is not None and Path(root).resolve().is_relative_to(out.resolve()):
        raise DataSourceError(f"cannot overwrite {str(out)!r}: it is the input being read.")
    if remove:
        shutil.rmtree(out)


def _level_graph(
    data: Any, previous: Any, level: PyramidLevel, reduce_axes: Sequence[int], method: Method
) -> Any:
    """The dask array of ``level``, chunked exactly like its zarr array: level 0 from ``data``,
    any other from the ``previous`` level's zarr array as written."""
    da: Any = importlib.import_module("dask.array")

    if previous is None:
        if isinstance(data, da.Array):
            return data.rechunk(level.chunks)
        return da.from_array(data, chunks=level.chunks, asarray=True)
    read_chunks = tuple(2 * c if i in reduce_axes else c for i, c in enumerate(level.chunks))
    x = da.from_zarr(previous, chunks=read_chunks)
    out_chunks = tuple(
        tuple(-(-c // 2) for c in cs) if i in reduce_axes else cs for i, cs in enumerate(x.chunks)
    )
    return x.map_blocks(
        downsample_block,
        axes=tuple(reduce_axes),
        method=method,
        chunks=out_chunks,
        dtype=x.dtype,
        meta=np.empty((0,) * x.ndim, dtype=x.dtype),
    )


def _store_block(block: Any, target: Any, block_info: dict[Any, Any] | None = None) -> Any:
    """Write one chunk-aligned block into ``target`` (runs in a worker); a 1-byte marker back."""
    assert block_info is not None
    region = tuple(slice(a, b) for a, b in block_info[0]["array-location"])
    target[region] = np.asarray(block)
    return np.ones((1,) * block.ndim, dtype=np.uint8)


class _Runner:
    """Computes a level's per-chunk markers (reporting each finished chunk) and small values,
    on local threads or on a dask.distributed cluster."""

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def store(self, markers: Any, advance: Callable[[int], None]) -> None:
        if self.client is None:
            callbacks: Any = importlib.import_module("dask.callbacks")

            name = markers.name
            done = [0]

            def posttask(key: Any, *_: Any) -> None:
                if isinstance(key, tuple) and key and key[0] == name:
                    done[0] += 1  # the scheduler calls this from one thread
                    advance(1)

            with callbacks.Callback(posttask=posttask):
                markers.compute(scheduler="threads")
            # a chunk fused into the final task (a one-chunk level) has no posttask of its own
            advance(math.prod(markers.numblocks) - done[0])
            return
        distributed: Any = importlib.import_module("distributed")
        futures = distributed.futures_of(self.client.persist(markers))
        try:
            for f in distributed.as_completed(futures, loop=self.client.loop):
                f.result()  # raises the task's error here
                advance(1)
        finally:
            self.client.cancel(futures)

    def value(self, x: Any) -> np.ndarray[Any, Any]:
        if self.client is None:
            return np.asarray(x.compute(scheduler="threads"))
        return np.asarray(self.client.compute(x).result())


@contextmanager
def _runner(scheduler: str | None) -> Iterator[_Runner]:
    if scheduler is None:
        yield _Runner()
        return
    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError as e:
        raise PyramidError(
            "--scheduler needs dask.distributed: pip install distributed, then try again."
        ) from e
    try:
        client = distributed.Client(scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise DataSourceError(
            f"cannot connect to the dask scheduler at {scheduler!r} ({e}); is the cluster "
            "running, and is the address what its scheduler printed?"
        ) from e
    try:
        yield _Runner(client)
    finally:
        client.close()


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """``bar(label, total)`` starts one bar and returns its ``advance(n)``."""
    if not enabled:
        yield lambda label, total: lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as progress:

        def bar(label: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(label, total=total)
            return lambda n: progress.advance(task, n)

        yield bar


def _omero(
    channels: Sequence[Channel] | None, coarsest: Any, channel_axis: int, runner: _Runner
) -> dict[str, Any]:
    """omero metadata; missing windows are the coarsest level's per-channel range."""
    da: Any = importlib.import_module("dask.array")

    x = da.from_zarr(coarsest)
    other = tuple(i for i in range(x.ndim) if i != channel_axis)
    floating = np.issubdtype(x.dtype, np.floating)
    lo, hi = (da.nanmin, da.nanmax) if floating else (da.min, da.max)
    ranges = runner.value(da.stack([lo(x, axis=other), hi(x, axis=other)])).astype(np.float64)
    n = x.shape[channel_axis]
    if channels is None:
        colors = _COLORS_1 if n == 1 else _COLORS_2 if n == 2 else _COLORS_N
        channels = [Channel(f"channel {i}", colors[i % len(colors)]) for i in range(n)]
    out = []
    for i, c in enumerate(channels):
        start, end = c.window if c.window is not None else (ranges[0, i], ranges[1, i])
        if np.issubdtype(x.dtype, np.integer):
            info = np.iinfo(x.dtype)
            vmin, vmax = float(info.min), float(info.max)
        else:
            vmin, vmax = float(ranges[0, i]), float(ranges[1, i])
        out.append(
            {
                "label": c.label,
                "color": c.color,
                "active": c.active,
                "window": {
                    "min": min(vmin, float(start)),
                    "max": max(vmax, float(end)),
                    "start": float(start),
                    "end": float(end),
                },
            }
        )
    return {"channels": out, "rdefs": {"model": "color"}}


def _ome_metadata(
    *,
    axis_names: Sequence[str],
    axis_types: Sequence[str],
    units: Sequence[str | None],
    levels: Sequence[PyramidLevel],
    name: str,
    labels: bool,
    omero: dict[str, Any] | None,
) -> dict[str, Any]:
    """The group's ``ome`` attributes, validated by yaozarrs' OME-Zarr 0.5 models."""
    from pydantic import ValidationError
    from yaozarrs import v05

    translate = any(any(t != 0 for t in lv.translation) for lv in levels)
    doc: dict[str, Any] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": name,
                "axes": [
                    {"name": a, "type": t, **({"unit": u} if u else {})}
                    for a, t, u in zip(axis_names, axis_types, units, strict=True)
                ],
                "datasets": [
                    {
                        "path": lv.path,
                        "coordinateTransformations": [
                            {"type": "scale", "scale": list(lv.scale)},
                            *(
                                [{"type": "translation", "translation": list(lv.translation)}]
                                if translate
                                else []
                            ),
                        ],
                    }
                    for lv in levels
                ],
                "type": "mode" if labels else "mean",
                "metadata": {"method": "tilescope.data.pyramid.downsample_block"},
            }
        ],
    }
    if labels:
        doc["image-label"] = {}
    if omero is not None:
        doc["omero"] = omero
    model = v05.LabelImage if labels else v05.Image
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        try:
            valid = model.model_validate(doc)
        except ValidationError as e:
            raise PyramidError(
                f"these settings do not make valid OME-Zarr 0.5 metadata: {e}"
            ) from e
    for note in notes:
        raise PyramidError(f"OME-Zarr 0.5 metadata: {note.message}")
    dumped: dict[str, Any] = valid.model_dump(mode="json", exclude_none=True, by_alias=True)
    return dumped
