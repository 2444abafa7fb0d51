"""Open files as layer data: ``.npy``, TIFF (pyramidal or not) and zarr arrays.

Everything opens lazily: ``.npy`` is memory-mapped, TIFF and zarr are read through zarr, so
opening a 50 GB file reads only its header. What comes back is a list of :class:`LayerSpec`
values; the viewer turns them into layers. Errors say what was wrong and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tilescope.errors import DataSourceError, UnsupportedFormatError

__all__ = ["SUPPORTED_SUFFIXES", "LayerSpec", "read_path"]

SUPPORTED_SUFFIXES = (".npy", ".tif", ".tiff", ".zarr")


@dataclass(frozen=True)
class LayerSpec:
    """What a reader found: layer data (one array or a list of pyramid levels) and its kind."""

    data: Any
    layer_type: Literal["image", "labels"] = "image"
    name: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Releases the open file behind lazy data (TIFF); call it when the layer goes away.
    close: Callable[[], None] | None = None


def read_path(path: str | os.PathLike[str]) -> list[LayerSpec]:
    """Open ``path`` lazily and return the layers it holds.

    Raises :class:`DataSourceError` when the path is missing or unreadable and
    :class:`UnsupportedFormatError` for a format tilescope does not read.
    """
    p = Path(path)
    if not p.exists():
        raise DataSourceError(f"{str(p)!r} does not exist: check the path and try again.")
    suffix = p.suffix.lower()
    name = p.stem if suffix != ".zarr" else p.name[: -len(".zarr")]
    if suffix == ".npy":
        return [LayerSpec(_read_npy(p), name=name)]
    if suffix in (".tif", ".tiff"):
        data, close = _read_tiff(p)
        return [LayerSpec(data, name=name, close=close)]
    if suffix == ".zarr" or (p.is_dir() and _looks_like_zarr(p)):
        return [LayerSpec(_read_zarr(p), name=name)]
    raise UnsupportedFormatError(
        f"cannot read {str(p)!r}: unsupported format {suffix or '(no suffix)'!r}. "
        f"tilescope reads {', '.join(SUPPORTED_SUFFIXES)} (a zarr store may be a directory)."
    )


def _looks_like_zarr(p: Path) -> bool:
    return any((p / m).exists() for m in ("zarr.json", ".zarray", ".zgroup"))


def _read_npy(p: Path) -> np.ndarray[Any, Any]:
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataSourceError(
            f"cannot read {str(p)!r} as a .npy file ({e}); is it a file written by numpy.save?"
        ) from e
    if not isinstance(arr, np.ndarray):
        raise UnsupportedFormatError(f"{str(p)!r} holds no single array; save one with np.save.")
    return arr


def _read_tiff(p: Path) -> tuple[Any, Callable[[], None]]:
    """The TIFF's image (or pyramid levels) as zarr arrays, and the closer of the open file."""
    import tifffile
    import zarr

    try:
        store = tifffile.imread(p, aszarr=True)
    except Exception as e:  # tifffile raises many types on corrupt files
        raise DataSourceError(f"cannot read {str(p)!r} as a TIFF file: {e}") from e
    try:
        node = zarr.open(store, mode="r")
        if isinstance(node, zarr.Array):
            return node, store.close
        levels = _group_levels(node)
        if not levels:
            raise DataSourceError(f"the TIFF file {str(p)!r} contains no image data.")
        return (levels if len(levels) > 1 else levels[0]), store.close
    except DataSourceError:
        store.close()
        raise
    except Exception as e:
        store.close()
        raise DataSourceError(f"cannot read {str(p)!r} as a TIFF file: {e}") from e


def _read_zarr(p: Path) -> Any:
    import zarr

    try:
        node = zarr.open(str(p), mode="r")
    except Exception as e:  # zarr raises several types for missing/corrupt metadata
        raise DataSourceError(f"cannot open {str(p)!r} as a zarr store: {e}") from e
    if isinstance(node, zarr.Array):
        return node
    levels = _group_levels(node)
    if levels:
        return levels if len(levels) > 1 else levels[0]
    arrays = sorted(name for name, _ in node.arrays())
    hint = (
        f" It holds arrays {arrays}: open one of them, e.g. {str(p / arrays[0])!r}."
        if arrays
        else " It holds no arrays."
    )
    raise UnsupportedFormatError(
        f"{str(p)!r} is a zarr group without numbered pyramid levels (0, 1, ...).{hint}"
    )


def _group_levels(group: Any) -> list[Any]:
    """Arrays named 0, 1, 2, ... in a group, in order: a pyramid, finest first."""
    arrays = dict(group.arrays())
    levels = []
    i = 0
    while str(i) in arrays:
        levels.append(arrays[str(i)])
        i += 1
    return levels
