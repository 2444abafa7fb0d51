"""Zarr stores (local directories or remote URLs) as layer specs.

One code path for both: a store (:class:`zarr.storage.LocalStore` or
:class:`zarr.storage.FsspecStore`) is opened with zarr 3, which reads zarr v2 and v3 alike.
A group with OME-Zarr metadata goes to :mod:`tilescope.data.ome_zarr`; a plain group whose
arrays are named ``0, 1, 2, ...`` is a pyramid; a plain array is one image. Nothing here lists
a store's keys except to name the arrays of a group that is neither (HTTP cannot list), and
nothing reads array values: opening costs a few metadata requests.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tilescope.data.ome_zarr import is_ome_zarr, read_ome_zarr
from tilescope.data.remote import describe_error
from tilescope.data.spec import LayerSpec
from tilescope.data.zarr_chunks import ChunkReader
from tilescope.errors import DataSourceError, UnsupportedFormatError

__all__ = ["NamedReads", "StoreReader", "fast_reads", "read_zarr_store"]

#: Codec id prefixes and the package that provides them (named when one is missing).
CODEC_PACKAGES: tuple[tuple[str, str], ...] = (
    ("imagecodecs", "imagecodecs"),
    ("numcodecs.", "numcodecs"),
    ("blosc", "numcodecs"),
    ("zstd", "numcodecs"),
    ("lz4", "numcodecs"),
)


def _register_extra_codecs() -> None:
    """Make imagecodecs' numcodecs codecs (JPEG, JPEG-XL, ... in zarr v2) known to zarr."""
    try:
        from imagecodecs.numcodecs import register_codecs
    except ImportError:  # imagecodecs absent: such arrays fail with a clear message below
        return
    register_codecs(verbose=False)


def codec_error(exc: BaseException, where: str) -> UnsupportedFormatError | None:
    """An error naming the package to install when ``exc`` is an unknown-codec error."""
    text = str(exc)
    if "codec" not in text.lower() or not isinstance(exc, ValueError | KeyError):
        return None
    codec = text.split(":", 1)[-1].strip().strip("'\"")
    package = next((pkg for prefix, pkg in CODEC_PACKAGES if codec.startswith(prefix)), None)
    todo = (
        f"install {package!r} (`pip install {package}`) and try again"
        if package
        else "install the package that provides this codec (for zarr v2: a numcodecs "
        "plugin) and try again"
    )
    return UnsupportedFormatError(
        f"cannot read {where!r}: its data uses the codec {codec!r}, which is not available; {todo}."
    )


def open_error(exc: BaseException, where: str, what: str = "a zarr store") -> Exception:
    """The user-facing error for a failure to open ``where``."""
    codec = codec_error(exc, where)
    if codec is not None:
        return codec
    if isinstance(exc, FileNotFoundError):
        return DataSourceError(
            f"cannot open {where!r} as {what}: no zarr metadata found (zarr.json, or .zgroup / "
            ".zarray for zarr v2); check the path or URL."
        )
    if type(exc).__name__ == "JSONDecodeError":
        return DataSourceError(
            f"cannot open {where!r} as {what}: its metadata (zarr.json or .zattrs/.zarray) is not "
            f"valid JSON ({exc}); the store is damaged: rewrite it."
        )
    return DataSourceError(f"cannot open {where!r} as {what}: {describe_error(exc)}")


class NamedReads:
    """A zarr array whose read failures say which array (path or URL) and what happened.

    Basic selections of the common layouts are read by a
    :class:`~tilescope.data.zarr_chunks.ChunkReader`, others by zarr. zarr raises bare
    ``TimeoutError()`` (empty message) or aiohttp's status errors from a
    chunk read; the layer's error state then shows e.g. ``reading 'http://h/img.zarr/s0'
    failed: the request timed out ...``. Everything else is the wrapped array's.
    """

    __slots__ = ("__weakref__", "_array", "_chunk_shape", "_chunks", "_shape", "_where")

    def __init__(self, array: Any, where: str) -> None:
        self._array = array
        self._where = where
        # read-only arrays: asked for on every frame's slice math, built once
        self._shape = tuple(int(n) for n in array.shape)
        self._chunk_shape = tuple(int(c) for c in array.chunks)
        # basic selections of common layouts skip zarr's per-read CPU (see zarr_chunks)
        self._chunks = ChunkReader.for_array(array)

    def __reduce__(self) -> tuple[Any, ...]:
        # process executors: the chunk reader is rebuilt from the array on the other side
        return (NamedReads, (self._array, self._where))

    @property
    def array(self) -> Any:
        """The zarr array read from."""
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> Any:
        return self._array.dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def chunks(self) -> tuple[int, ...]:
        return self._chunk_shape

    def __getitem__(self, key: Any) -> Any:
        try:
            if self._chunks is not None:
                out = self._chunks.read(key)
                if out is not None:
                    return out
            return self._array[key]
        except (IndexError, TypeError):
            raise  # a bad key is the caller's error, not the store's
        except Exception as e:
            raise DataSourceError(f"reading {self._where!r} failed: {describe_error(e)}") from e

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        import numpy as np

        out = np.asarray(self[...])
        return out.astype(dtype) if dtype is not None else out

    def __repr__(self) -> str:
        return f"NamedReads({self._where!r}, shape={self.shape}, dtype={self.dtype})"


#: id(zarr array) -> weak references to it and to its NamedReads: one wrapper per array
#: while anything reads through it, so a slice request's signature (arrays by identity) stays
#: the same from one request to the next; neither is kept alive by this map
_WRAPPERS: dict[int, tuple[weakref.ref[Any], weakref.ref[NamedReads]]] = {}


def fast_reads(level: Any) -> Any:
    """``level`` to read from: a zarr array the caller made (``add_image(zarr_array)``, a
    list of them as a pyramid) is read through :class:`NamedReads` (always the same one for
    the same array), so it gets the chunk reader's reads (zarr-python's own cost ~0.5 ms of
    CPU per chunk, holding the GIL the main thread needs) and failures naming the array;
    anything else is returned as is. zarr is never imported here: an array of it means it
    already is."""
    zarr = sys.modules.get("zarr")
    if zarr is None or isinstance(level, NamedReads) or not isinstance(level, zarr.Array):
        return level
    key = id(level)
    known = _WRAPPERS.get(key)
    if known is not None and known[0]() is level:
        existing = known[1]()
        if existing is not None:
            return existing
    reads = NamedReads(level, array_location(level))
    # the entry goes with the array (its id may then be reused by another object)
    ref = weakref.ref(level, functools.partial(_forget_wrapper, key))
    _WRAPPERS[key] = (ref, weakref.ref(reads))
    return reads


def _forget_wrapper(key: int, ref: weakref.ref[Any]) -> None:
    known = _WRAPPERS.get(key)
    if known is not None and known[0] is ref:
        del _WRAPPERS[key]


def array_location(array: Any) -> str:
    """Where a zarr array lives, for messages: its directory or URL."""
    store_path = array.store_path
    store = store_path.store
    base = getattr(store, "root", None)  # LocalStore: a directory
    if base is None:
        base = getattr(store, "path", None)  # FsspecStore: the URL
    if base is None:  # a memory store or another kind: zarr's own description
        return str(store_path)
    base = str(base).rstrip("/")
    return f"{base}/{store_path.path}" if store_path.path else base


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class StoreReader:
    """Opens arrays and group attributes below ``root`` of a zarr store (a GroupReader).

    ``zarr_format`` (the root's) is passed on, so zarr asks for one metadata key per node
    instead of probing zarr v2 and v3 keys alike: a third of the requests over HTTP.
    """

    def __init__(
        self, store: Any, where: str, root: str = "", zarr_format: int | None = None
    ) -> None:
        self._store = store
        self._where = where
        self._root = root
        self._format = zarr_format

    def array(self, path: str) -> Any:
        import zarr

        array = zarr.open_array(
            store=self._store,
            path=_join(self._root, path),
            mode="r",
            zarr_format=self._format,  # type: ignore[arg-type]
        )
        return NamedReads(array, f"{self._where.rstrip('/')}/{_join(self._root, path)}")

    def arrays(self, paths: Sequence[str]) -> list[Any]:
        if len(paths) <= 1:
            return [self._try_array(p) for p in paths]
        with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
            return list(pool.map(self._try_array, paths))

    def _try_array(self, path: str) -> Any:
        try:
            return self.array(path)
        except Exception as e:  # reported per level by the caller
            return e

    def attrs(self, path: str) -> Mapping[str, Any] | None:
        import zarr

        try:
            group = zarr.open_group(
                store=self._store,
                path=_join(self._root, path),
                mode="r",
                zarr_format=self._format,  # type: ignore[arg-type]
                use_consolidated=False,
            )
        except FileNotFoundError:
            return None
        except Exception as e:
            raise open_error(e, f"{self._where.rstrip('/')}/{path}") from e
        return group.attrs.asdict()


def read_zarr_store(store: Any, where: str, name: str, *, listable: bool = True) -> list[LayerSpec]:
    """The layers in a zarr store: OME-Zarr, a pyramid group (``0, 1, ...``) or one array.

    ``where`` names the store in messages; ``listable`` is False for stores that cannot list
    their keys (HTTP), where a pyramid group's levels are found by trying ``0, 1, ...``.
    """
    import zarr
    from zarr.errors import ContainsArrayError

    _register_extra_codecs()
    node: Any
    try:  # a group first (OME-Zarr): one round trip where zarr.open tries an array first
        node = zarr.open_group(store=store, mode="r", use_consolidated=False)
    except (FileNotFoundError, ContainsArrayError):
        try:
            node = zarr.open_array(store=store, mode="r")
        except Exception as e:
            raise open_error(e, where) from e
    except Exception as e:
        raise open_error(e, where) from e
    if isinstance(node, zarr.Array):
        return [LayerSpec(NamedReads(node, where), name=name)]
    attrs = node.attrs.asdict()
    reader = StoreReader(store, where, zarr_format=node.metadata.zarr_format)
    if is_ome_zarr(attrs):
        try:
            return read_ome_zarr(attrs, reader, where, name)
        except (DataSourceError, UnsupportedFormatError):
            raise
        except Exception as e:
            raise open_error(e, where, "an OME-Zarr image") from e
    levels = _numbered_levels(reader, where)
    if levels:
        return [LayerSpec(levels if len(levels) > 1 else levels[0], name=name)]
    hint = ""
    if listable:
        arrays = sorted(key for key, _ in node.arrays())
        hint = (
            f" It holds arrays {arrays}: open one of them, e.g. "
            f"{where.rstrip('/') + '/' + arrays[0]!r}."
            if arrays
            else " It holds no arrays."
        )
    raise UnsupportedFormatError(
        f"{where!r} is a zarr group without OME-Zarr metadata or numbered pyramid levels "
        f"(0, 1, ...).{hint}"
    )


def _numbered_levels(reader: StoreReader, where: str) -> list[Any]:
    """Arrays named ``0, 1, 2, ...`` below the group, in order (a pyramid, finest first)."""
    levels: list[Any] = []
    while True:
        try:
            levels.append(reader.array(str(len(levels))))
        except FileNotFoundError:
            return levels
        except Exception as e:
            raise open_error(e, f"{where.rstrip('/')}/{len(levels)}") from e
