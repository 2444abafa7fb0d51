"""Affine transforms: the n-D :class:`Affine` value and a layer's :class:`Transform`.

A layer maps its data (array index) coordinates to world coordinates exactly as
napari 0.9 does::

    data -> physical:  x_phys  = rotate @ shear @ diag(scale) @ x_data + translate
    physical -> world: x_world = affine(x_phys)

so ``data_to_world = affine @ data_to_physical``.  ``rotate``, ``shear`` and
``affine`` accept napari's input forms (see :meth:`Transform.create`).  Everything
here is an immutable value validated on construction: an invalid input raises
:class:`~tilescope.errors.TransformError` and nothing is built.

Coordinates are rows: ``apply`` takes ``(D,)`` or ``(N, D)`` arrays.  Pixel
centres sit at integer data coordinates (napari's convention).

Pure numpy; safe from any thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tilescope.errors import TransformError

__all__ = ["Affine", "FloatArray", "Transform", "frozen_array", "rotation_matrix"]

FloatArray = npt.NDArray[np.float64]

#: Smallest ratio of singular values (min / max) that still counts as invertible.
_TOL = 1e-14
_DIAG_TOL = 1e-8


def frozen_array(a: npt.ArrayLike, dtype: npt.DTypeLike = np.float64) -> npt.NDArray[Any]:
    """A read-only copy of ``a`` (float64 unless ``dtype`` says otherwise).

    Model values hand out arrays that callers must not mutate behind the
    model's back (no event would fire); a read-only copy makes that an error.
    """
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def _check_finite(name: str, a: FloatArray) -> None:
    if not np.all(np.isfinite(a)):
        raise TransformError(f"{name} must be finite numbers, got {a.tolist()}")


def _check_nonsingular(name: str, linear: FloatArray) -> None:
    if linear.size == 0:
        return
    sv = np.linalg.svd(linear, compute_uv=False)
    if not np.all(np.isfinite(sv)) or sv[0] == 0 or sv[-1] <= sv[0] * _TOL:
        raise TransformError(
            f"{name} is singular: it would collapse an axis and cannot be inverted. "
            f"Got {linear.tolist()}"
        )


def _embed(matrix: FloatArray, ndim: int) -> FloatArray:
    """Put a ``k x k`` matrix in the bottom-right corner of an ``ndim x ndim`` identity."""
    k = matrix.shape[0]
    if k == ndim:
        return matrix
    full = np.eye(ndim)
    full[ndim - k :, ndim - k :] = matrix
    return full


def _checked_block(name: str, mat: FloatArray, ndim: int) -> FloatArray:
    """A finite, invertible ``k x k`` block (``k <= ndim``), embedded bottom-right."""
    if mat.shape[0] > ndim:
        raise TransformError(
            f"{name} is {mat.shape[0]}x{mat.shape[0]} but the layer has {ndim} dimensions"
        )
    _check_finite(name, mat)
    _check_nonsingular(name, mat)
    return _embed(mat, ndim)


def _numbers(name: str, value: Any, expected: str) -> FloatArray:
    """``value`` as a float array, or a TransformError naming ``name`` and the value."""
    try:
        if isinstance(value, str | bytes | dict):
            raise TypeError(type(value).__name__)
        arr: FloatArray = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TransformError(f"{name} must be {expected}, got {value!r}") from e
    return arr


def rotation_matrix(rotate: Any, ndim: int) -> FloatArray:
    """A ``(ndim, ndim)`` rotation from napari's forms, embedded bottom-right.

    A scalar is a 2D angle in degrees (last two axes); a length-3 vector is 3D
    (yaw, pitch, roll) angles in degrees, composed ``Rz(a) @ Ry(b) @ Rx(c)`` like
    napari; a ``k x k`` matrix (``k <= ndim``) is used as given.
    """
    arr = _numbers("rotate", rotate, "an angle, 3 angles or a square matrix of numbers")
    if arr.ndim == 0:
        if ndim < 2:
            raise TransformError(
                f"rotate as an angle needs at least 2 dimensions, layer has {ndim}"
            )
        _check_finite("rotate", arr.reshape(1))
        c, s = math.cos(math.radians(float(arr))), math.sin(math.radians(float(arr)))
        mat = np.array([[c, -s], [s, c]])
    elif arr.ndim == 1:
        if arr.shape != (3,):
            raise TransformError(
                f"rotate as a vector must be 3 angles in degrees (3D yaw, pitch, roll), got "
                f"{arr.size} values; give an angle (2D) or a square rotation matrix instead"
            )
        if ndim < 3:
            raise TransformError(
                f"rotate as 3 angles needs at least 3 dimensions, layer has {ndim}"
            )
        _check_finite("rotate", arr)
        mat = _rotation_3d(*(float(v) for v in arr))
    elif arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        mat = arr
    else:
        raise TransformError(
            f"rotate must be an angle, 3 angles, or a square matrix; got shape {arr.shape}"
        )
    return _checked_block("rotate", mat, ndim)


def _rotation_3d(alpha: float, beta: float, gamma: float) -> FloatArray:
    ca, sa = math.cos(math.radians(alpha)), math.sin(math.radians(alpha))
    cb, sb = math.cos(math.radians(beta)), math.sin(math.radians(beta))
    cg, sg = math.cos(math.radians(gamma)), math.sin(math.radians(gamma))
    r_a = np.array([[ca, -sa, 0.0], [sa, ca, 0.0], [0.0, 0.0, 1.0]])
    r_b = np.array([[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]])
    r_g = np.array([[1.0, 0.0, 0.0], [0.0, cg, -sg], [0.0, sg, cg]])
    result: FloatArray = r_a @ r_b @ r_g
    return result


def shear_matrix(shear: Any, ndim: int) -> FloatArray:
    """A ``(ndim, ndim)`` shear from napari's forms, embedded bottom-right.

    A vector of ``k(k-1)/2`` values fills the strict upper triangle of a ``k x k``
    identity (row by row); a ``k x k`` upper- or lower-triangular matrix is used as given.
    """
    arr = _numbers("shear", shear, "a vector or a triangular matrix of numbers")
    if arr.ndim == 1:
        m = arr.size
        k = (1 + math.isqrt(8 * m + 1)) // 2
        if k * (k - 1) // 2 != m or m == 0:
            raise TransformError(
                f"shear as a vector holds the upper-triangular coefficients of a k x k matrix "
                f"(k(k-1)/2 values: 1, 3, 6, ...), got {m} values"
            )
        mat = np.eye(k)
        mat[np.triu_indices(k, 1)] = arr
    elif arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        mat = arr
        if not (np.allclose(mat, np.triu(mat)) or np.allclose(mat, np.tril(mat))):
            raise TransformError(
                f"shear matrix must be upper or lower triangular, got {mat.tolist()}; "
                "set a general linear map through affine instead"
            )
    else:
        raise TransformError(
            f"shear must be a vector of upper-triangular values or a square triangular "
            f"matrix, got shape {arr.shape}"
        )
    return _checked_block("shear", mat, ndim)


@dataclass(frozen=True, slots=True, eq=False)
class Affine:
    """An n-D affine map as an ``(n+1, n+1)`` homogeneous matrix (read-only).

    Equality and hashing are by value.  ``a @ b`` (also ``a.compose(b)``) applies
    ``b`` first, then ``a``.
    """

    matrix: FloatArray

    def __post_init__(self) -> None:
        m = np.array(self.matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
            raise TransformError(f"an affine matrix must be square (n+1)x(n+1), got {m.shape}")
        _check_finite("affine matrix", m)
        n = m.shape[0] - 1
        expected = np.zeros(n + 1)
        expected[-1] = 1.0
        if not np.allclose(m[-1], expected, atol=1e-12):
            raise TransformError(
                f"the last row of a homogeneous affine matrix must be [0, ..., 0, 1], got "
                f"{m[-1].tolist()}"
            )
        m[-1] = expected
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)

    # construction -------------------------------------------------------
    @classmethod
    def identity(cls, ndim: int) -> Affine:
        """The identity on ``ndim`` axes."""
        return cls(np.eye(ndim + 1))

    @classmethod
    def from_linear(cls, linear: npt.ArrayLike, translate: npt.ArrayLike | None = None) -> Affine:
        """From an ``(n, n)`` linear part and an optional ``(n,)`` translation."""
        lin = np.asarray(linear, dtype=np.float64)
        if lin.ndim != 2 or lin.shape[0] != lin.shape[1]:
            raise TransformError(f"a linear matrix must be square, got shape {lin.shape}")
        n = lin.shape[0]
        t = np.zeros(n) if translate is None else np.asarray(translate, dtype=np.float64)
        if t.shape != (n,):
            raise TransformError(f"translate must have {n} values, got shape {t.shape}")
        m = np.eye(n + 1)
        m[:n, :n] = lin
        m[:n, n] = t
        return cls(m)

    @classmethod
    def from_scale_translate(
        cls, scale: npt.ArrayLike, translate: npt.ArrayLike | None = None
    ) -> Affine:
        """``x -> scale * x + translate``."""
        return cls.from_linear(np.diag(np.asarray(scale, dtype=np.float64)), translate)

    # properties ---------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of axes the map acts on."""
        return int(self.matrix.shape[0] - 1)

    @property
    def linear(self) -> FloatArray:
        """The ``(n, n)`` linear part (read-only view)."""
        return self.matrix[:-1, :-1]

    @property
    def translate(self) -> FloatArray:
        """The ``(n,)`` translation (read-only view)."""
        return self.matrix[:-1, -1]

    @property
    def is_diagonal(self) -> bool:
        """True when the linear part neither mixes nor permutes axes (up to 1e-8)."""
        lin = self.linear
        off = lin[~np.eye(self.ndim, dtype=bool)]
        return bool(off.size == 0 or np.max(np.abs(off)) <= _DIAG_TOL)

    @property
    def scale(self) -> FloatArray:
        """Per-axis scale: the diagonal when diagonal, else ``|diag(R)|`` of ``linear = QR``.

        This is napari's ``Affine.scale`` (its decomposition is QR too); the
        absolute value is napari's ``Extent.step``.
        """
        if self.is_diagonal:
            return frozen_array(np.diag(self.linear))
        _, r = np.linalg.qr(self.linear)
        return frozen_array(np.abs(np.diag(r)))

    @property
    def is_invertible(self) -> bool:
        """False when the linear part is singular."""
        try:
            _check_nonsingular("", np.asarray(self.linear))
        except TransformError:
            return False
        return True

    # operations ---------------------------------------------------------
    def compose(self, other: Affine) -> Affine:
        """The map applying ``other`` first, then ``self``."""
        if other.ndim != self.ndim:
            raise TransformError(f"cannot compose a {self.ndim}-D and a {other.ndim}-D affine")
        return Affine(self.matrix @ other.matrix)

    def __matmul__(self, other: Affine) -> Affine:
        return self.compose(other)

    @property
    def inverse(self) -> Affine:
        """The inverse map; raises :class:`TransformError` when singular."""
        _check_nonsingular("the affine's linear part", np.asarray(self.linear))
        inv_lin = np.linalg.inv(self.linear)
        return Affine.from_linear(inv_lin, -inv_lin @ self.translate)

    def apply(self, coords: npt.ArrayLike) -> FloatArray:
        """Map points: ``(D,)`` -> ``(D,)`` or ``(N, D)`` -> ``(N, D)``."""
        pts = np.asarray(coords, dtype=np.float64)
        single = pts.ndim == 1
        pts2 = np.atleast_2d(pts)
        if pts2.ndim != 2 or pts2.shape[1] != self.ndim:
            raise TransformError(
                f"expected points of {self.ndim} coordinates, got array of shape {pts.shape}"
            )
        out: FloatArray = pts2 @ self.linear.T + self.translate
        return out[0] if single else out

    def __call__(self, coords: npt.ArrayLike) -> FloatArray:
        return self.apply(coords)

    def apply_vectors(self, vectors: npt.ArrayLike) -> FloatArray:
        """Map displacement vectors (the linear part only)."""
        v = np.asarray(vectors, dtype=np.float64)
        out: FloatArray = v @ self.linear.T
        return out

    def subset(self, axes: Sequence[int]) -> Affine:
        """The map restricted to ``axes`` (napari's ``set_slice``): rows and columns kept."""
        ax = list(axes)
        idx = np.array(ax, dtype=int)
        return Affine.from_linear(self.linear[np.ix_(idx, idx)], self.translate[idx])

    def expand_dims(self, ndim: int) -> Affine:
        """Right-align into ``ndim >= self.ndim`` axes; new leading axes map identically."""
        if ndim < self.ndim:
            raise TransformError(f"cannot expand a {self.ndim}-D affine to {ndim} dimensions")
        lin = _embed(np.asarray(self.linear), ndim)
        t = np.zeros(ndim)
        t[ndim - self.ndim :] = self.translate
        return Affine.from_linear(lin, t)

    def allclose(self, other: Affine, atol: float = 1e-9) -> bool:
        """True when both maps agree to ``atol`` entry-wise."""
        return self.ndim == other.ndim and bool(np.allclose(self.matrix, other.matrix, atol=atol))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Affine):
            return NotImplemented
        return bool(np.array_equal(self.matrix, other.matrix))

    def __hash__(self) -> int:
        return hash((self.matrix.shape, self.matrix.tobytes()))

    def __repr__(self) -> str:
        return f"Affine({self.matrix.tolist()})"


def _coerce_vector(name: str, value: Any, ndim: int, default: float) -> FloatArray:
    if value is None:
        return frozen_array(np.full(ndim, default))
    arr = _numbers(name, value, f"a sequence of {ndim} numbers (one per axis)")
    if arr.ndim != 1:
        raise TransformError(
            f"{name} must be a sequence of {ndim} numbers (one per axis), got {value!r}"
        )
    if arr.size != ndim:
        raise TransformError(
            f"{name} has {arr.size} values but the layer has {ndim} dimensions; give one "
            f"value per axis"
        )
    _check_finite(name, arr)
    return frozen_array(arr)


def _coerce_affine(value: Any, ndim: int) -> Affine:
    if value is None:
        return Affine.identity(ndim)
    if isinstance(value, Affine):
        if value.ndim > ndim:
            raise TransformError(f"affine is {value.ndim}-D but the layer has {ndim} dimensions")
        aff = value.expand_dims(ndim)
    else:
        try:
            m = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TransformError(f"affine must be a matrix or an Affine, got {value!r}") from e
        if m.shape == (ndim + 1, ndim + 1):
            aff = Affine(m)
        elif m.shape == (ndim, ndim):
            _check_finite("affine", m)
            aff = Affine.from_linear(m)
        else:
            raise TransformError(
                f"affine for a {ndim}-D layer must be a ({ndim + 1}, {ndim + 1}) homogeneous "
                f"matrix or a ({ndim}, {ndim}) linear matrix, got shape {m.shape}"
            )
    _check_nonsingular("affine", np.asarray(aff.linear))
    return aff


_PARTS = ("scale", "translate", "rotate", "shear", "affine")
"""The parts of a :class:`Transform`, as :meth:`Transform.create` takes them."""


@dataclass(frozen=True, slots=True, eq=False)
class Transform:
    """A layer's data->world transform: scale, translate, rotate, shear, then affine.

    Build with :meth:`create` (validates napari's input forms) and change with
    :meth:`replace`; both raise :class:`TransformError` and build nothing on bad input.
    ``rotate`` and ``shear`` are stored as ``(ndim, ndim)`` matrices, ``affine`` as an
    :class:`Affine` (physical -> world).
    """

    scale: FloatArray
    translate: FloatArray
    rotate: FloatArray
    shear: FloatArray
    affine: Affine
    # The composed maps, built on first use: the transform is immutable, and slicing,
    # view updates and extents read them on every change of the view.
    _data_to_world: Affine | None = field(default=None, init=False, repr=False)
    _world_to_data: Affine | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(
        cls,
        ndim: int,
        *,
        scale: Any = None,
        translate: Any = None,
        rotate: Any = None,
        shear: Any = None,
        affine: Any = None,
    ) -> Transform:
        """Validate and build a transform for an ``ndim``-D layer.

        Parameters
        ----------
        scale, translate
            One number per axis (``None``: ones / zeros).  No scale may be 0.
        rotate
            An angle in degrees (2D, last two axes), 3 angles in degrees (3D), or a
            square matrix (embedded bottom-right when smaller than ``ndim``).
        shear
            Upper-triangular coefficients as a vector, or a triangular matrix.
        affine
            An :class:`Affine`, an ``(ndim+1)^2`` homogeneous matrix or an
            ``ndim^2`` linear matrix, mapping physical to world coordinates.
        """
        if not isinstance(ndim, int | np.integer) or ndim < 1:
            raise TransformError(f"ndim must be a positive int, got {ndim!r}")
        ndim = int(ndim)
        sc = _coerce_vector("scale", scale, ndim, 1.0)
        zero = np.flatnonzero(sc == 0)
        if zero.size:
            raise TransformError(
                f"scale is 0 on axis {int(zero[0])} ({sc.tolist()}): a zero scale collapses "
                "the axis; use a non-zero value (a negative one flips the axis)"
            )
        tr = _coerce_vector("translate", translate, ndim, 0.0)
        rot = frozen_array(np.eye(ndim) if rotate is None else rotation_matrix(rotate, ndim))
        sh = frozen_array(np.eye(ndim) if shear is None else shear_matrix(shear, ndim))
        aff = _coerce_affine(affine, ndim)
        return cls(scale=sc, translate=tr, rotate=rot, shear=sh, affine=aff)

    @classmethod
    def identity(cls, ndim: int) -> Transform:
        """The identity transform of an ``ndim``-D layer."""
        return cls.create(ndim)

    def replace(self, **changes: Any) -> Transform:
        """A copy with some of scale/translate/rotate/shear/affine changed (validated)."""
        unknown = set(changes) - set(_PARTS)
        if unknown:
            raise TransformError(f"unknown transform fields: {sorted(unknown)}")
        current: dict[str, Any] = {name: getattr(self, name) for name in _PARTS}
        current.update(changes)
        return Transform.create(self.ndim, **current)

    @property
    def ndim(self) -> int:
        """Number of layer (data) axes."""
        return int(self.scale.size)

    @property
    def data_to_physical(self) -> Affine:
        """``rotate @ shear @ diag(scale)`` then ``+ translate``."""
        lin = self.rotate @ self.shear @ np.diag(self.scale)
        return Affine.from_linear(lin, self.translate)

    @property
    def data_to_world(self) -> Affine:
        """``affine @ data_to_physical``: the full map from data to world coordinates."""
        d2w = self._data_to_world
        if d2w is None:
            d2w = self.affine @ self.data_to_physical
            object.__setattr__(self, "_data_to_world", d2w)
        return d2w

    @property
    def world_to_data(self) -> Affine:
        """Inverse of :attr:`data_to_world`."""
        w2d = self._world_to_data
        if w2d is None:
            w2d = self.data_to_world.inverse
            object.__setattr__(self, "_world_to_data", w2d)
        return w2d

    @property
    def step(self) -> FloatArray:
        """World distance per data step along each axis (napari's ``Extent.step``)."""
        return frozen_array(np.abs(self.data_to_world.scale))

    def world_extent(self, data_extent: npt.ArrayLike) -> FloatArray:
        """Axis-aligned world bounding box ``(2, ndim)`` of a data box ``(2, ndim)``.

        The box of the images of all corners of the data box (napari's
        ``get_extent_world``), computed in closed form; NaN in gives NaN out.
        """
        ext = np.asarray(data_extent, dtype=np.float64)
        if ext.shape != (2, self.ndim):
            raise TransformError(f"data extent must have shape (2, {self.ndim}), got {ext.shape}")
        aff = self.data_to_world
        lin = np.asarray(aff.linear)
        a = lin * ext[0][np.newaxis, :]
        b = lin * ext[1][np.newaxis, :]
        lo = np.minimum(a, b).sum(axis=1) + aff.translate
        hi = np.maximum(a, b).sum(axis=1) + aff.translate
        return frozen_array(np.stack([lo, hi]))

    def with_ndim(self, ndim: int) -> Transform:
        """Right-aligned to ``ndim`` axes: new leading axes are identity, extra ones dropped.

        Used when a layer's data changes dimensionality (napari's ``_update_dims``).
        When dropping axes leaves a singular rotate/shear/affine block (it mixed a
        dropped axis in), only scale and translate are kept.
        """
        if ndim == self.ndim:
            return self
        if ndim > self.ndim:
            pad = ndim - self.ndim
            return Transform.create(
                ndim,
                scale=np.concatenate([np.ones(pad), self.scale]),
                translate=np.concatenate([np.zeros(pad), self.translate]),
                rotate=_embed(np.asarray(self.rotate), ndim),
                shear=_embed(np.asarray(self.shear), ndim),
                affine=self.affine.expand_dims(ndim),
            )
        keep = list(range(self.ndim - ndim, self.ndim))
        idx = np.ix_(keep, keep)
        try:
            return Transform.create(
                ndim,
                scale=self.scale[keep],
                translate=self.translate[keep],
                rotate=self.rotate[idx],
                shear=self.shear[idx],
                affine=self.affine.subset(keep),
            )
        except TransformError:
            # The kept block of rotate/shear/affine mixed in a dropped axis and is
            # singular on its own: keep only the per-axis parts.
            return Transform.create(ndim, scale=self.scale[keep], translate=self.translate[keep])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transform):
            return NotImplemented
        return (
            np.array_equal(self.scale, other.scale)
            and np.array_equal(self.translate, other.translate)
            and np.array_equal(self.rotate, other.rotate)
            and np.array_equal(self.shear, other.shear)
            and self.affine == other.affine
        )

    def __hash__(self) -> int:
        return hash(
            (
                self.scale.tobytes(),
                self.translate.tobytes(),
                self.rotate.tobytes(),
                self.shear.tobytes(),
                self.affine,
            )
        )

    def __repr__(self) -> str:
        return (
            f"Transform(scale={self.scale.tolist()}, translate={self.translate.tolist()}, "
            f"rotate={self.rotate.tolist()}, shear={self.shear.tolist()}, "
            f"affine={self.affine.matrix.tolist()})"
        )
