"""The array protocol: what tilescope accepts as layer data, and multiscale pyramids of it.

Any object with ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` is layer data:
numpy, dask, zarr, tensorstore and xarray arrays all qualify.  Nothing here reads
array *values*: validation looks at metadata only, so a 100 TB lazy array is
validated as fast as a small one.  A sequence of such arrays whose shapes never
grow from one level to the next is a multiscale pyramid (:class:`MultiScaleData`).

Pure Python/numpy; safe to call from any thread.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tilescope.errors import ArrayProtocolError, LayerDataError, LayerPropertyError

__all__ = [
    "ArrayLike",
    "MultiScaleData",
    "as_layer_data",
    "is_multiscale",
    "validate_array",
]

_REQUIRED = ("shape", "dtype", "ndim", "__getitem__")


@runtime_checkable
class ArrayLike(Protocol):
    """The subset of the array API tilescope needs from layer data.

    ``__getitem__`` must accept a tuple of ints and slices and return something
    ``np.asarray`` can convert (numpy, dask and zarr all do).
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> Any: ...

    @property
    def ndim(self) -> int: ...

    def __getitem__(self, key: Any) -> Any: ...


def _type_name(obj: object) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def validate_array(obj: object, name: str = "data") -> ArrayLike:
    """Return ``obj`` if it satisfies :class:`ArrayLike`, else raise :class:`ArrayProtocolError`.

    The message names every missing attribute and the offending type, and says
    how to fix the usual mistakes (a nested list, a dask array of unknown shape).
    Only metadata is read.
    """
    missing = [a for a in _REQUIRED if not hasattr(type(obj), a) and not hasattr(obj, a)]
    if missing:
        hint = ""
        if isinstance(obj, list | tuple):
            hint = " Wrap nested lists with numpy.asarray(...) first."
        raise ArrayProtocolError(
            f"{name} of type {_type_name(obj)} is not an array: it lacks "
            f"{', '.join(repr(m) for m in missing)}. Layer data needs 'shape', 'dtype', "
            f"'ndim' and '__getitem__' (numpy, dask, zarr, tensorstore and xarray arrays all "
            f"qualify).{hint}"
        )
    arr: Any = obj
    shape = arr.shape
    try:
        dims = tuple(shape)
    except TypeError as e:
        raise ArrayProtocolError(
            f"{name}.shape of {_type_name(obj)} is not a sequence of ints: {shape!r}"
        ) from e
    for n in dims:
        if isinstance(n, float) and np.isnan(n):
            raise ArrayProtocolError(
                f"{name} has an unknown shape {dims}: its size along some axis is not known "
                "(a dask array after boolean indexing?). Call .compute_chunk_sizes() first."
            )
        if not isinstance(n, numbers.Integral) or int(n) < 0:
            raise ArrayProtocolError(
                f"{name}.shape must be non-negative ints, got {dims} from {_type_name(obj)}"
            )
    if int(arr.ndim) != len(dims):
        raise ArrayProtocolError(
            f"{name}.ndim is {arr.ndim} but its shape {dims} has {len(dims)} axes"
        )
    try:
        np.dtype(arr.dtype)
    except TypeError as e:
        raise ArrayProtocolError(
            f"{name}.dtype {arr.dtype!r} of {_type_name(obj)} is not a numpy dtype"
        ) from e
    return arr  # type: ignore[no-any-return]


def shape_of(arr: ArrayLike) -> tuple[int, ...]:
    """``arr.shape`` as a tuple of Python ints."""
    return tuple(int(n) for n in arr.shape)


class MultiScaleData(Sequence[ArrayLike]):
    """A pyramid: arrays of the same ndim and dtype whose shapes never grow.

    Level 0 is the finest.  ``shape``, ``dtype``, ``ndim`` are level 0's, so a
    :class:`MultiScaleData` can stand where one array's metadata is expected;
    indexing with an int returns a level (it is a sequence of levels, not an array).

    Raises
    ------
    LayerDataError
        When empty, or levels differ in ndim or dtype, or a level is larger than the
        previous one along some axis.
    ArrayProtocolError
        When a level is not an array.
    """

    __slots__ = ("_levels", "_shapes")

    def __init__(self, levels: Sequence[Any]) -> None:
        if isinstance(levels, MultiScaleData):
            levels = list(levels)
        if not isinstance(levels, Sequence) or isinstance(levels, str | bytes):
            raise LayerDataError(
                f"multiscale data must be a list or tuple of arrays, got {_type_name(levels)}"
            )
        if len(levels) == 0:
            raise LayerDataError("multiscale data must hold at least one level, got none")
        checked = [validate_array(a, name=f"level {i}") for i, a in enumerate(levels)]
        shapes = [shape_of(a) for a in checked]
        ndim0, dtype0 = len(shapes[0]), np.dtype(checked[0].dtype)
        for i, (a, s) in enumerate(zip(checked, shapes, strict=True)):
            if len(s) != ndim0:
                raise LayerDataError(
                    f"every multiscale level must have the same ndim: level 0 has shape "
                    f"{shapes[0]} but level {i} has shape {s}"
                )
            if np.dtype(a.dtype) != dtype0:
                raise LayerDataError(
                    f"every multiscale level must have the same dtype: level 0 is {dtype0} "
                    f"but level {i} is {np.dtype(a.dtype)}"
                )
            if i and any(n > p for n, p in zip(s, shapes[i - 1], strict=True)):
                raise LayerDataError(
                    f"multiscale levels must go from finest to coarsest (shapes never "
                    f"growing): level {i - 1} has shape {shapes[i - 1]} but level {i} has {s}"
                )
            if any(n == 0 for n in s):
                raise LayerDataError(f"multiscale level {i} is empty (shape {s})")
        self._levels: tuple[ArrayLike, ...] = tuple(checked)
        self._shapes: tuple[tuple[int, ...], ...] = tuple(shapes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of level 0 (the finest)."""
        return self._shapes[0]

    @property
    def dtype(self) -> np.dtype[Any]:
        """The common dtype of every level."""
        dt: np.dtype[Any] = np.dtype(self._levels[0].dtype)
        return dt

    @property
    def ndim(self) -> int:
        """The common number of axes of every level."""
        return len(self._shapes[0])

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shape of each level, finest first."""
        return self._shapes

    @property
    def level_shapes(self) -> npt.NDArray[np.int64]:
        """``(levels, ndim)`` int array of the level shapes."""
        return np.array(self._shapes, dtype=np.int64)

    @property
    def downsample_factors(self) -> npt.NDArray[np.float64]:
        """``(levels, ndim)`` float array ``shape[0] / shape[level]`` (napari's definition)."""
        shapes = self.level_shapes.astype(np.float64)
        result: npt.NDArray[np.float64] = shapes[0] / shapes
        return result

    def __len__(self) -> int:
        return len(self._levels)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return MultiScaleData(self._levels[index])
        if not isinstance(index, numbers.Integral):
            raise TypeError(
                f"MultiScaleData is indexed by level (an int), got {_type_name(index)}; "
                "index a level's array instead, e.g. data[0][...]"
            )
        return self._levels[int(index)]

    def __iter__(self) -> Iterator[ArrayLike]:
        return iter(self._levels)

    def __repr__(self) -> str:
        return f"<MultiScaleData {len(self)} levels, dtype {self.dtype}, shapes {self._shapes}>"


def is_multiscale(data: object) -> bool:
    """Guess whether ``data`` is a multiscale pyramid (``multiscale=None``), like napari.

    A :class:`MultiScaleData` is; a single array is not (whatever its ndim); a
    list/tuple of one array is not (it is unwrapped); a list/tuple of arrays whose
    sizes strictly decrease is.  Anything else is ambiguous and raises
    :class:`LayerDataError` (e.g. several arrays of one size: a stack, not a pyramid).
    """
    if isinstance(data, MultiScaleData):
        return True
    if not isinstance(data, list | tuple):
        return False
    if len(data) <= 1:
        return False
    levels = [validate_array(a, name=f"level {i}") for i, a in enumerate(data)]
    sizes = [int(np.prod(shape_of(a), dtype=np.int64)) for a in levels]
    if all(s == sizes[0] for s in sizes):
        raise LayerDataError(
            f"got a list of {len(sizes)} arrays of one size ({sizes[0]} elements): a "
            "multiscale pyramid needs arrays of decreasing size. To view them as a stack, "
            "pass numpy.stack(...) (or dask.array.stack) instead."
        )
    if not all(a > b for a, b in itertools.pairwise(sizes)):
        raise LayerDataError(
            f"got a list of arrays whose sizes {sizes} do not decrease: a multiscale "
            "pyramid lists its levels from finest (largest) to coarsest."
        )
    return True


def as_layer_data(data: object, multiscale: bool | None = None) -> ArrayLike | MultiScaleData:
    """Normalise user data to one validated array or a :class:`MultiScaleData`.

    ``multiscale=None`` guesses with :func:`is_multiscale`; ``True`` wraps a single
    array as a one-level pyramid; ``False`` rejects a list of several arrays.
    A list/tuple of one array becomes that array unless ``multiscale=True``.
    """
    if multiscale is not None and not isinstance(multiscale, bool | np.bool_):
        raise LayerPropertyError(
            f"multiscale must be True, False or None (guess from the data), got {multiscale!r}"
        )
    if multiscale is None:
        multiscale = is_multiscale(data)
        if not multiscale and isinstance(data, list | tuple):
            if len(data) == 0:
                raise LayerDataError("layer data is an empty list; give an array")
            data = data[0]
    if multiscale:
        if isinstance(data, MultiScaleData):
            return data
        if isinstance(data, list | tuple):
            return MultiScaleData(data)
        return MultiScaleData([validate_array(data)])
    if isinstance(data, MultiScaleData | list | tuple):
        if len(data) != 1:
            raise LayerDataError(
                f"multiscale=False but data is a sequence of {len(data)} arrays; pass one "
                "array, or multiscale=True for a pyramid"
            )
        data = data[0]
    return validate_array(data)
