"""Split multichannel data into one image layer per channel (napari's ``channel_axis``).

``viewer.add_image(data, channel_axis=k, **kwargs)`` becomes one ``add_image`` per channel:
:func:`split_channels` returns the per-channel data (a lazy view, never a copy or a read) and
keyword arguments, following napari's rules:

- a keyword whose value is a list (or tuple) of one entry per channel gives each channel its
  entry; any other value applies to every channel. Keywords whose single value is itself a
  sequence (``contrast_limits``, ``scale``, ``translate``, ``rotate``, ``shear``, ``affine``)
  are per-channel only when given as a sequence of such sequences;
- ``blending`` defaults to ``"additive"``; ``colormap`` defaults to ``gray`` for one channel,
  ``magenta``/``green`` for two, and cycles ``cyan, yellow, magenta, red, green, blue`` for more;
- ``name`` defaults to ``"Image"``; a single name ``n`` names the channels ``n [0]``, ``n [1]``, ...
  (a list names each channel);
- transforms (``scale``, ``translate``, ...) refer to the axes left once the channel axis is
  removed; a pyramid (a list of levels) is split level by level.

Pure: nothing here reads array values or imports a GUI library.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tilescope.errors import LayerDataError, LayerPropertyError

__all__ = [
    "ChannelView",
    "ChannelSpec",
    "channel_view",
    "default_channel_colormaps",
    "split_channels",
]

#: Keywords whose single value is a sequence: per-channel only as a sequence of sequences.
SEQUENCE_VALUED = frozenset({"contrast_limits", "scale", "translate", "rotate", "shear", "affine"})
#: Keywords that describe the whole call, never split per channel.
SHARED = frozenset({"multiscale", "metadata"})

MAGENTA_GREEN = ("magenta", "green")
CYMRGB = ("cyan", "yellow", "magenta", "red", "green", "blue")


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel's data (a lazy view) and the keywords of its ``add_image`` call."""

    data: Any
    kwargs: dict[str, Any]


class ChannelView:
    """One index along one axis of an array, without reading it (a lazy ``data[..., i, ...]``).

    Indexing composes with the channel index, so only the requested region is read. zarr and
    tifffile arrays read eagerly on ``__getitem__``, hence this view rather than slicing them.
    ``chunks`` (when the base array has them) drop the channel axis, so tile grids can still
    follow the store's chunks.
    """

    __slots__ = ("_axis", "_base", "_index", "_shape")

    def __init__(self, base: Any, axis: int, index: int) -> None:
        self._base = base
        self._axis = axis
        self._index = index
        shape = tuple(int(n) for n in base.shape)
        self._shape = shape[:axis] + shape[axis + 1 :]

    @property
    def base(self) -> Any:
        """The multichannel array this view reads from."""
        return self._base

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = np.dtype(self._base.dtype)
        return dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def chunks(self) -> tuple[int, ...] | None:
        chunks = getattr(self._base, "chunks", None)
        if chunks is None or len(chunks) != len(self._shape) + 1:
            return None
        if not all(isinstance(c, int | np.integer) for c in chunks):
            return None
        kept = tuple(int(c) for c in chunks)
        return kept[: self._axis] + kept[self._axis + 1 :]

    def __getitem__(self, key: Any) -> Any:
        items = _expand_key(key, len(self._shape))
        full = (*items[: self._axis], self._index, *items[self._axis :])
        return self._base[full]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        out = np.asarray(self[(slice(None),) * len(self._shape)])
        return out.astype(dtype) if dtype is not None else out

    def __repr__(self) -> str:
        return f"ChannelView({type(self._base).__name__}, axis={self._axis}, index={self._index})"


def _expand_key(key: Any, ndim: int) -> tuple[Any, ...]:
    """A basic index (ints, slices, one Ellipsis) as exactly ``ndim`` entries."""
    items = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in items):
        at = next(i for i, k in enumerate(items) if k is Ellipsis)
        fill = ndim - (len(items) - 1)
        items = (*items[:at], *(slice(None),) * fill, *items[at + 1 :])
    if len(items) > ndim:
        raise IndexError(f"too many indices: {len(items)} for {ndim} axes")
    return (*items, *(slice(None),) * (ndim - len(items)))


def channel_view(data: Any, axis: int, index: int) -> Any:
    """``data`` at ``index`` along ``axis``, lazily: a numpy view, a dask slice, else a view."""
    if isinstance(data, np.ndarray):
        return data[(slice(None),) * axis + (index,)]
    module = type(data).__module__
    if module.startswith("dask."):
        return data[(slice(None),) * axis + (index,)]
    return ChannelView(data, axis, index)


def default_channel_colormaps(n: int) -> list[str]:
    """napari's defaults: gray for one channel, magenta/green for two, else CYMRGB cycled."""
    if n == 1:
        return ["gray"]
    if n == 2:
        return list(MAGENTA_GREEN)
    return list(itertools.islice(itertools.cycle(CYMRGB), n))


def _is_per_channel(key: str, value: Any, n: int) -> bool:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | np.ndarray):
        return False
    if key in SEQUENCE_VALUED:
        items = list(value)
        return bool(items) and all(
            (isinstance(v, Sequence | np.ndarray) and not isinstance(v, str)) or v is None
            for v in items
        )
    return True


def split_channels(data: Any, channel_axis: int, kwargs: Mapping[str, Any]) -> list[ChannelSpec]:
    """One :class:`ChannelSpec` per index along ``channel_axis`` of ``data`` (or of every level).

    Raises :class:`LayerDataError` for an axis outside the data and
    :class:`LayerPropertyError` for a per-channel list of the wrong length.
    """
    multiscale = kwargs.get("multiscale")
    is_pyramid = (
        multiscale is not False and isinstance(data, list | tuple) and len(data) > 0
    ) or bool(multiscale)
    levels: list[Any] = list(data) if is_pyramid else [data]
    ndim = len(levels[0].shape)
    if not -ndim <= channel_axis < ndim:
        raise LayerDataError(
            f"channel_axis={channel_axis} is outside data with {ndim} axes "
            f"(shape {tuple(levels[0].shape)}); use an axis in {-ndim}..{ndim - 1}"
        )
    axis = channel_axis % ndim
    n = int(levels[0].shape[axis])
    for i, level in enumerate(levels[1:], start=1):
        if len(level.shape) != ndim or int(level.shape[axis]) != n:
            raise LayerDataError(
                f"pyramid level {i} has shape {tuple(level.shape)}: every level needs the "
                f"{n} channels of level 0 along axis {axis}"
            )
    per: dict[str, list[Any]] = {}
    shared: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in SHARED and _is_per_channel(key, value, n):
            values = list(value)
            if len(values) != n:
                raise LayerPropertyError(
                    f"{key} has {len(values)} entries but channel_axis={channel_axis} has "
                    f"{n} channels: give one value per channel, or a single value for all"
                )
            per[key] = values
        else:
            shared[key] = value
    if shared.get("colormap") is None and "colormap" not in per:
        per["colormap"] = list(default_channel_colormaps(n))
        shared.pop("colormap", None)
    if shared.get("blending") is None and "blending" not in per:
        shared["blending"] = "additive"
    base_name = shared.pop("name", None)
    if "name" not in per:
        stem = "Image" if base_name is None else str(base_name)
        per["name"] = [f"{stem} [{i}]" for i in range(n)]
    specs = []
    for i in range(n):
        views = [channel_view(level, axis, i) for level in levels]
        channel_data: Any = views if is_pyramid else views[0]
        kw = dict(shared)
        kw.update({key: values[i] for key, values in per.items()})
        specs.append(ChannelSpec(channel_data, kw))
    return specs
