"""Admitting a layer: check it fits the viewer *before* it is inserted, and typed errors after.

Inserting a layer emits ``layers.events.inserted``; the handlers (dims follow the layers,
the camera fits the first one, the viewer slices it) run inside psygnal's emit loop, which
wraps anything they raise in ``psygnal.EmitLoopError`` — not a ``ValueError``, and raised
after the layer is already in the list. So the checks that can fail run here first, on the
prospective state (pure: nothing changes), and :func:`user_error` turns what may still escape
from an emit loop back into the typed error its handler raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from tilescope.errors import DimsError, LayerDataError, TilescopeError, TransformError
from tilescope.models.dims_state import DimsState, changed_state
from tilescope.models.layerlist import ExtentLike, union_extent

__all__ = ["TRANSFORM_KEYWORDS", "check_fits_dims", "describe_keywords", "user_error"]

TRANSFORM_KEYWORDS = ("scale", "translate", "rotate", "shear", "affine")


def describe_keywords(given: Mapping[str, Any], names: Iterable[str] = TRANSFORM_KEYWORDS) -> str:
    """``scale=[1, 1e-300], translate=...`` for the keywords of ``names`` in ``given``."""
    parts = []
    for name in names:
        if name in given:
            value = given[name]
            text = np.array2string(value) if isinstance(value, np.ndarray) else repr(value)
            parts.append(f"{name}={text}")
    return ", ".join(parts)


class _HasExtent(Protocol):
    @property
    def extent(self) -> ExtentLike: ...


def check_fits_dims(
    layers: Iterable[_HasExtent], new: _HasExtent, dims: DimsState, *, what: str, given: str
) -> None:
    """Refuse a layer whose extent would give the dims a range no slider can hold.

    ``layers`` are those already in the viewer, ``new`` the one to add, ``dims`` the current
    state; ``what`` names the layer and ``given`` its transform keywords for the message. An
    extent that overflows (``scale=1e308`` on a 16-pixel axis) is refused too. Raises
    :class:`~tilescope.errors.TransformError`; changes nothing.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            extents = [layer.extent for layer in [*layers, new]]
            ranges = union_extent(extents).ranges()
        changed_state(dims, {"ndim": len(ranges), "range": ranges})
    except DimsError as e:
        how = given or "its data shape"
        raise TransformError(
            f"{what} cannot be added: with {how} the world extent it spans together with the "
            f"other layers is not something a slider can hold ({e}); use a scale, translate "
            "or affine of sensible magnitude (e.g. the same units as the other layers)"
        ) from e


def user_error(exc: BaseException, *, what: str, given: str = "") -> BaseException:
    """The typed error to raise for ``exc``, raised while adding ``what``.

    An ``EmitLoopError`` is unwrapped to the exception its callback raised; a tilescope
    ``ValueError``/``TypeError`` keeps its type (its message prefixed with ``what`` and the
    keywords ``given``, e.g. a camera that cannot centre on the layer); anything else becomes a
    :class:`~tilescope.errors.LayerDataError` naming ``what`` (chained to the original).
    """
    cause: BaseException = exc
    while cause.__class__.__name__ == "EmitLoopError" and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, TilescopeError) and isinstance(cause, ValueError | TypeError):
        if not given:
            return cause
        try:  # the same typed error, saying which keywords led to it
            typed = type(cause)(f"{what} with {given} cannot be shown: {cause}")
        except Exception:  # an error type with a different constructor: keep it as it is
            return cause
        typed.__cause__ = cause
        return typed
    wrapped = LayerDataError(f"{what} could not be added: {cause or type(cause).__name__}")
    wrapped.__cause__ = cause
    return wrapped
