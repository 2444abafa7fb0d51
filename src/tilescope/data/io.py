"""Open files and URLs as layer data: ``.npy``, TIFF, zarr and OME-Zarr, local or remote.

Everything opens lazily: ``.npy`` is memory-mapped, TIFF and zarr are read through zarr, so
opening a 50 GB file reads only its header. What comes back is a list of :class:`LayerSpec`
values; the viewer turns them into layers. Errors say what was wrong and what to do.

This module only dispatches: :mod:`~tilescope.data.zarr_io` (zarr stores, local or remote),
:mod:`~tilescope.data.ome_zarr` (OME-Zarr metadata), :mod:`~tilescope.data.tiff` (TIFF) and
:mod:`~tilescope.data.remote` (URLs, timeouts, concurrency).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.data.remote import RemoteOptions, is_url, open_remote_store, url_name
from tilescope.data.spec import LayerSpec
from tilescope.data.tiff import read_tiff
from tilescope.data.zarr_io import read_zarr_store
from tilescope.errors import DataSourceError, UnsupportedFormatError

__all__ = ["SUPPORTED_SUFFIXES", "LayerSpec", "read_path"]

SUPPORTED_SUFFIXES = (".npy", ".tif", ".tiff", ".svs", ".ndpi", ".zarr")
_TIFF_SUFFIXES = (".tif", ".tiff", ".svs", ".ndpi")


def read_path(
    path: str | os.PathLike[str], *, remote: RemoteOptions | None = None
) -> list[LayerSpec]:
    """Open ``path`` (a file, a zarr directory or an ``http(s)://``, ``s3://``, ``gs://`` URL
    of a zarr store) lazily and return the layers it holds.

    Raises :class:`DataSourceError` when the path or URL is missing or unreadable and
    :class:`UnsupportedFormatError` for a format (or codec) tilescope does not read.
    """
    text = os.fspath(path)
    if is_url(text):
        return _read_url(text, remote)
    if text.startswith("file://"):
        text = text[len("file://") :]
    p = Path(text)
    if not p.exists():
        raise DataSourceError(f"{str(p)!r} does not exist: check the path and try again.")
    suffix = p.suffix.lower()
    name = p.stem if suffix != ".zarr" else p.name[: -len(".zarr")]
    if suffix == ".npy":
        return [LayerSpec(_read_npy(p), name=name)]
    if suffix in _TIFF_SUFFIXES:
        return read_tiff(p)
    if suffix == ".zarr" or (p.is_dir() and _looks_like_zarr(p)):
        from zarr.storage import LocalStore

        return read_zarr_store(LocalStore(p, read_only=True), str(p), name)
    raise UnsupportedFormatError(
        f"cannot read {str(p)!r}: unsupported format {suffix or '(no suffix)'!r}. "
        f"tilescope reads {', '.join(SUPPORTED_SUFFIXES)} (a zarr store may be a directory) "
        "and http(s)://, s3://, gs:// URLs of zarr stores."
    )


def _read_url(url: str, remote: RemoteOptions | None) -> list[LayerSpec]:
    if url.split("?", 1)[0].lower().endswith(_TIFF_SUFFIXES):
        raise UnsupportedFormatError(
            f"cannot read {url!r}: TIFF files are read from local paths only; download it, "
            "or convert it to OME-Zarr, and open that."
        )
    store = open_remote_store(url, remote)
    return read_zarr_store(store, url, url_name(url) or "image", listable=False)


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
