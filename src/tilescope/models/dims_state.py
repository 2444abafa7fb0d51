"""Pure dimension state: the frozen :class:`DimsState` and the functions that change it.

Everything here is a pure function over frozen values, so the evented
:class:`~tilescope.models.dims.Dims` only has to swap states and emit, and tests
hit the semantics directly. Every function validates its result completely and
raises :class:`~tilescope.errors.DimsError` naming the field, the bad value and
what was expected.

Semantics follow ``napari/components/dims.py`` (0.9): default range ``(0, 2, 1)``
per axis, ``point`` clamped into the range (not snapped to the step),
``current_step = round((point - start) / step)``, new axes prepended when ``ndim``
grows, ``roll`` rotates the axes with more than one step. Deliberate differences,
each because napari's behaviour is a trap rather than a feature:

- fields set with the wrong length raise instead of being silently padded/cropped
  (only changing ``ndim`` resizes, exactly as napari does);
- negative margins, non-finite numbers and non-string labels raise;
- ``nsteps`` tolerates float round-off (``(0, 0.3, 0.1)`` has 4 steps, napari says 3)
  and ``current_step`` is clamped to ``[0, nsteps - 1]`` (napari can report ``nsteps``);
- there is no ``rollable``/``last_used``/``units`` (UI and unit concerns live elsewhere);
- ``transpose`` with one axis is a no-op (napari raises ``IndexError``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import Any, NamedTuple

from tilescope.errors import DimsError

__all__ = [
    "DEFAULT_RANGE",
    "FIELDS",
    "DimsState",
    "RangeTuple",
    "changed_state",
    "current_step_of",
    "default_axis_labels",
    "default_dims_state",
    "nsteps_of",
    "reset_state",
    "resize_dims_state",
    "rolled_state",
    "state_with_axis_values",
    "transposed_state",
    "validate_dims_state",
]

_irange = range  # the builtin; ``range`` is also a Dims field name used as a keyword below

# Most slider positions per axis: beyond 2**53 steps no longer map to distinct floats.
_MAX_STEPS = float(2**53)

# Relative tolerance under which (stop - start) / step counts as a whole number of steps.
_STEP_RTOL = 1e-9


class RangeTuple(NamedTuple):
    """World extent of one axis: ``start`` and ``stop`` inclusive, ``step`` per slider tick."""

    start: float
    stop: float
    step: float


DEFAULT_RANGE = RangeTuple(0.0, 2.0, 1.0)
"""napari's range for an axis nothing has set yet (three slider positions)."""


def nsteps_of(rng: RangeTuple) -> int:
    """Number of slider positions of one axis: ``floor((stop - start) / step) + 1``.

    A quotient within round-off of the next whole number counts as that number,
    so ``(0, 0.3, 0.1)`` has 4 positions (napari's ``int()`` gives 3).
    """
    steps = (rng.stop - rng.start) / rng.step
    whole = math.floor(steps)
    if math.isclose(steps, whole + 1, rel_tol=_STEP_RTOL, abs_tol=_STEP_RTOL):
        whole += 1
    return whole + 1


def current_step_of(point: float, rng: RangeTuple) -> int:
    """Slider position of ``point``: ``round((point - start) / step)`` in ``[0, nsteps - 1]``."""
    step = round((point - rng.start) / rng.step)
    return min(max(step, 0), nsteps_of(rng) - 1)


def default_axis_labels(ndim: int) -> tuple[str, ...]:
    """napari 0.9's default labels, ``('-ndim', ..., '-1')``: stable when axes are prepended."""
    return tuple(str(i) for i in range(-ndim, 0))


@dataclass(frozen=True, slots=True)
class DimsState:
    """A frozen snapshot of :class:`Dims`; what slicing and rendering read.

    All per-axis tuples have length ``ndim`` and are indexed by *world axis*.
    ``order`` is a permutation of ``range(ndim)``; the last ``ndisplay`` entries
    are the displayed axes. Construction checks these structural invariants;
    :func:`validate_dims_state` additionally checks values and clamps ``point``.
    """

    ndim: int
    ndisplay: int
    order: tuple[int, ...]
    axis_labels: tuple[str, ...]
    range: tuple[RangeTuple, ...]
    point: tuple[float, ...]
    margin_left: tuple[float, ...]
    margin_right: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.ndisplay not in (2, 3):
            raise DimsError(f"DimsState.ndisplay must be 2 or 3, got {self.ndisplay!r}")
        if sorted(self.order) != list(range(self.ndim)):
            raise DimsError(
                f"DimsState.order must be a permutation of range({self.ndim}), got {self.order!r}"
            )
        for name in ("axis_labels", "range", "point", "margin_left", "margin_right"):
            value = getattr(self, name)
            if len(value) != self.ndim:
                raise DimsError(
                    f"DimsState.{name} must have ndim={self.ndim} entries, got {len(value)}: "
                    f"{value!r}"
                )

    @property
    def displayed(self) -> tuple[int, ...]:
        """World axes shown on the canvas, in display order."""
        return self.order[-self.ndisplay :]

    @property
    def not_displayed(self) -> tuple[int, ...]:
        """World axes that are sliced (one slider each)."""
        return self.order[: -self.ndisplay]

    @property
    def displayed_order(self) -> tuple[int, ...]:
        """Rank of each displayed axis among the displayed axes (napari's ``displayed_order``)."""
        displayed = self.displayed
        return tuple(sorted(range(len(displayed)), key=displayed.__getitem__))

    @property
    def thickness(self) -> tuple[float, ...]:
        """Width of the thick-slicing window per axis (``margin_left + margin_right``)."""
        return tuple(lo + hi for lo, hi in zip(self.margin_left, self.margin_right, strict=True))

    @property
    def nsteps(self) -> tuple[int, ...]:
        """Slider positions per axis (see :func:`nsteps_of`)."""
        return tuple(nsteps_of(rng) for rng in self.range)

    @property
    def current_step(self) -> tuple[int, ...]:
        """Slider position per axis derived from ``point`` (see :func:`current_step_of`)."""
        return tuple(current_step_of(p, rng) for p, rng in zip(self.point, self.range, strict=True))


# --------------------------------------------------------------------------- validation


def _fail(field: str, value: object, expected: str) -> DimsError:
    return DimsError(f"Dims.{field}: expected {expected}, got {value!r}")


def _as_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise _fail(field, value, "an integer")
    return int(value)


def _as_ndim(value: object) -> int:
    n = _as_int("ndim", value)
    if n < 1:
        raise _fail("ndim", value, "an integer >= 1")
    return n


def _as_float(field: str, value: object, *, axis: int | None = None) -> float:
    where = field if axis is None else f"{field}[{axis}]"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _fail(where, value, "a real number")
    result = float(value)
    if not math.isfinite(result):
        raise _fail(where, value, "a finite number")
    return result


def _as_tuple(field: str, value: object, ndim: int | None = None) -> tuple[Any, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _fail(field, value, "a sequence" + ("" if ndim is None else f" of length {ndim}"))
    items = tuple(value)
    if ndim is not None and len(items) != ndim:
        raise _fail(field, value, f"{ndim} values (one per axis, ndim={ndim}), not {len(items)}")
    return items


def _as_range(value: object, axis: int) -> RangeTuple:
    field = f"range[{axis}]"
    items = _as_tuple(field, value)
    if len(items) != 3:
        raise _fail(field, value, "a (start, stop, step) triple")
    start, stop, step = (_as_float(field, v) for v in items)
    if step <= 0:
        raise _fail(field, value, f"step > 0 (got step={step})")
    if start > stop:
        raise _fail(field, value, f"start <= stop (got start={start} > stop={stop})")
    if not (stop - start) / step < _MAX_STEPS:
        raise _fail(field, value, f"a step giving fewer than {_MAX_STEPS:.0e} slider positions")
    return RangeTuple(start, stop, step)


def _as_margins(field: str, value: object, ndim: int) -> tuple[float, ...]:
    margins = tuple(
        _as_float(field, v, axis=i) for i, v in enumerate(_as_tuple(field, value, ndim))
    )
    for axis, m in enumerate(margins):
        if m < 0:
            raise _fail(f"{field}[{axis}]", m, "a margin >= 0 (world units)")
    return margins


def validate_dims_state(
    *,
    ndim: object,
    ndisplay: object,
    order: object,
    axis_labels: object,
    range: object,
    point: object,
    margin_left: object,
    margin_right: object,
) -> DimsState:
    """Check every field and build a :class:`DimsState`, clamping ``point`` into ``range``.

    Pure function. Raises :class:`DimsError` naming the field, the bad value and
    what is expected. Lengths must already equal ``ndim`` (use
    :func:`resize_dims_state` to change ``ndim``).
    """
    n = _as_ndim(ndim)
    nd = _as_int("ndisplay", ndisplay)
    if nd not in (2, 3):
        raise _fail("ndisplay", ndisplay, "2 or 3")
    order_t = tuple(_as_int("order", v) for v in _as_tuple("order", order, n))
    if sorted(order_t) != list(_irange(n)):
        raise _fail("order", order, f"a permutation of 0..{n - 1}")
    labels = _as_tuple("axis_labels", axis_labels, n)
    for axis, label in enumerate(labels):
        if not isinstance(label, str):
            raise _fail(f"axis_labels[{axis}]", label, "a string")
    ranges = tuple(_as_range(v, i) for i, v in enumerate(_as_tuple("range", range, n)))
    points = tuple(
        _as_float("point", v, axis=i) for i, v in enumerate(_as_tuple("point", point, n))
    )
    clamped = tuple(min(max(p, r.start), r.stop) for p, r in zip(points, ranges, strict=True))
    return DimsState(
        ndim=n,
        ndisplay=nd,
        order=order_t,
        axis_labels=labels,
        range=ranges,
        point=clamped,
        margin_left=_as_margins("margin_left", margin_left, n),
        margin_right=_as_margins("margin_right", margin_right, n),
    )


def default_dims_state(ndim: object = 2, ndisplay: object = 2) -> DimsState:
    """napari's fresh ``Dims(ndim=ndim)``: identity order, default labels, ranges ``(0, 2, 1)``."""
    n = _as_ndim(ndim)
    return validate_dims_state(
        ndim=n,
        ndisplay=ndisplay,
        order=tuple(_irange(n)),
        axis_labels=default_axis_labels(n),
        range=(DEFAULT_RANGE,) * n,
        point=(0.0,) * n,
        margin_left=(0.0,) * n,
        margin_right=(0.0,) * n,
    )


def _fit(values: tuple[Any, ...], ndim: int, pad: Any) -> tuple[Any, ...]:
    """Left-pad with ``pad`` or keep the last ``ndim`` entries (napari's ``ensure_len``)."""
    if len(values) < ndim:
        return (pad,) * (ndim - len(values)) + values
    return values[len(values) - ndim :]


def _reorder_after_reduction(order: tuple[int, ...]) -> tuple[int, ...]:
    """Ranks of ``order``'s entries: a permutation of ``range(len(order))`` in the same order."""
    ranks = sorted(_irange(len(order)), key=order.__getitem__)
    result = [0] * len(order)
    for rank, index in enumerate(ranks):
        result[index] = rank
    return tuple(result)


def resize_dims_state(state: DimsState, ndim: object) -> DimsState:
    """``state`` with ``ndim`` axes, the way napari's ``Dims`` validator pads or crops.

    Growing prepends axes (range ``(0, 2, 1)``, point and margins 0, labels from
    :func:`default_axis_labels`, order entries placed first with existing ones shifted).
    Shrinking keeps the last ``ndim`` axes and re-ranks the kept order entries.
    """
    n = _as_ndim(ndim)
    old = state.ndim
    if n == old:
        return state
    if n > old:
        order = tuple(_irange(n - old)) + tuple(o + n - old for o in state.order)
        labels = default_axis_labels(n)[: n - old] + state.axis_labels
    else:
        order = _reorder_after_reduction(state.order[old - n :])
        labels = state.axis_labels[old - n :]
    return validate_dims_state(
        ndim=n,
        ndisplay=state.ndisplay,
        order=order,
        axis_labels=labels,
        range=_fit(state.range, n, DEFAULT_RANGE),
        point=_fit(state.point, n, 0.0),
        margin_left=_fit(state.margin_left, n, 0.0),
        margin_right=_fit(state.margin_right, n, 0.0),
    )


FIELDS = (
    "ndim",
    "ndisplay",
    "order",
    "axis_labels",
    "range",
    "point",
    "margin_left",
    "margin_right",
)
"""The fields of :class:`DimsState`, in constructor order."""


def _points_from_steps(steps: object, ranges: tuple[RangeTuple, ...]) -> tuple[float, ...]:
    values = _as_tuple("current_step", steps, len(ranges))
    return tuple(
        r.start + _as_float("current_step", v, axis=i) * r.step
        for i, (v, r) in enumerate(zip(values, ranges, strict=True))
    )


def changed_state(state: DimsState, changes: dict[str, object]) -> DimsState:
    """Pure: ``state`` with ``changes`` applied (ndim first), fully validated."""
    unknown = set(changes) - {*FIELDS, "thickness", "current_step"}
    if unknown:
        raise DimsError(f"Dims has no field(s) {sorted(unknown)}; fields are {list(FIELDS)}")
    if "thickness" in changes and ({"margin_left", "margin_right"} & changes.keys()):
        raise DimsError("Dims: give either thickness or margin_left/margin_right, not both")
    if "current_step" in changes and "point" in changes:
        raise DimsError("Dims: give either point or current_step, not both")
    if "ndim" in changes:
        state = resize_dims_state(state, changes["ndim"])
    fields: dict[str, object] = {name: getattr(state, name) for name in FIELDS}
    fields.update({k: v for k, v in changes.items() if k in FIELDS and k != "ndim"})
    if "thickness" in changes:
        thickness = _as_margins("thickness", changes["thickness"], state.ndim)
        fields["margin_left"] = fields["margin_right"] = tuple(t / 2 for t in thickness)
    if "current_step" in changes:
        # Ranges first, so steps are interpreted in the new range when both change.
        ranges = validate_dims_state(**fields).range
        fields["point"] = _points_from_steps(changes["current_step"], ranges)
    return validate_dims_state(**fields)


def _axes_values(
    ndim: int, field: str, axis: object, value: object, *, value_is_sequence: bool
) -> tuple[list[int], list[object]]:
    """napari's ``_sanitize_input``: one axis and one value, or equal-length sequences."""
    if not isinstance(axis, bool) and isinstance(axis, Integral):
        if (
            not value_is_sequence
            and isinstance(value, Iterable)
            and not isinstance(value, str | bytes)
        ):
            raise _fail(field, value, f"a single value for the single axis {axis}")
        axes, values = [int(axis)], [value]
    else:
        axes = [_as_int("axis", a) for a in _as_tuple("axis", axis)]
        values = list(_as_tuple(field, value, len(axes)))
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise _fail("axis", ax, f"an axis in [{-ndim}, {ndim}) for ndim={ndim}")
    return [ax % ndim for ax in axes], values


def state_with_axis_values(state: DimsState, field: str, axis: object, value: object) -> DimsState:
    """``state`` with ``field`` set on one axis or several (napari's ``set_point`` & co).

    ``field`` is ``point``, ``current_step``, ``range`` or ``axis_labels``. ``axis``
    is an int (then ``value`` is one value, or one ``(start, stop, step)`` for
    ``range``) or a sequence of axes with an equal-length sequence of values.
    Negative axes count from the end. ``current_step`` values become points
    ``start + value * step``; points are clamped into the range.
    """
    if field not in ("point", "current_step", "range", "axis_labels"):
        raise DimsError(f"cannot set per-axis values of Dims.{field}")
    axes, values = _axes_values(state.ndim, field, axis, value, value_is_sequence=field == "range")
    target = "point" if field == "current_step" else field
    new: list[object] = list(getattr(state, target))
    for ax, val in zip(axes, values, strict=True):
        if field == "current_step":
            rng = state.range[ax]
            new[ax] = rng.start + _as_float("current_step", val, axis=ax) * rng.step
        else:
            new[ax] = val
    return changed_state(state, {target: new})


def rolled_state(state: DimsState) -> DimsState:
    """napari's ``roll``: rotate ``order`` by one among the axes with more than one step."""
    nsteps = state.nsteps
    order = list(state.order)
    slots = [i for i, ax in enumerate(order) if nsteps[ax] > 1]
    rolled = [order[i] for i in slots[-1:] + slots[:-1]]
    for slot, ax in zip(slots, rolled, strict=True):
        order[slot] = ax
    return changed_state(state, {"order": order})


def transposed_state(state: DimsState) -> DimsState:
    """napari's ``transpose``: swap the last two entries of ``order``."""
    order = list(state.order)
    if len(order) >= 2:
        order[-2], order[-1] = order[-1], order[-2]
    return changed_state(state, {"order": order})


def reset_state(state: DimsState) -> DimsState:
    """napari's ``reset``: ranges ``(0, 2, 1)``, point 0, identity order, margins 0.

    ``ndim``, ``ndisplay`` and ``axis_labels`` are kept.
    """
    fresh = default_dims_state(state.ndim, state.ndisplay)
    return replace(fresh, axis_labels=state.axis_labels)
