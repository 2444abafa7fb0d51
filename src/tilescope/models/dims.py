"""Dimensions of the world: which region of n-D space is in view.

:class:`Dims` is the evented *intent* model behind the sliders (napari 0.9's
``viewer.dims``). Its state is one frozen :class:`DimsState`; every setter and
method computes a complete new state with the pure functions of
:mod:`tilescope.models.dims_state` (which validate everything and document the
napari semantics and the few deliberate differences), then swaps it in and
emits. An invalid value raises :class:`~tilescope.errors.DimsError` and leaves
the model untouched: nothing is ever half-applied.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized

from psygnal import Signal, SignalGroup

from tilescope.errors import DimsError
from tilescope.models._state_model import SettableStateField, StateField, StateModel
from tilescope.models.dims_state import (
    DEFAULT_RANGE,
    FIELDS,
    DimsState,
    RangeTuple,
    changed_state,
    current_step_of,
    default_axis_labels,
    default_dims_state,
    nsteps_of,
    reset_state,
    rolled_state,
    state_with_axis_values,
    transposed_state,
    validate_dims_state,
)

__all__ = [
    "DEFAULT_RANGE",
    "Dims",
    "DimsEvents",
    "DimsState",
    "RangeTuple",
    "current_step_of",
    "default_axis_labels",
    "nsteps_of",
]


class DimsEvents(SignalGroup):
    """Signals of :class:`Dims`.

    ``changed(state)`` fires exactly once per mutation that changed anything, after
    the per-field signals; each per-field signal fires only when that field (or
    derived value: ``nsteps``, ``current_step``, ``thickness``) actually changed.
    A mutation that changes nothing emits nothing. Listeners always receive the
    model's *current* values (which differ from the mutation's result only if an
    earlier listener mutated the model again).
    """

    changed = Signal(DimsState)
    ndim = Signal(int)
    ndisplay = Signal(int)
    order = Signal(tuple)
    axis_labels = Signal(tuple)
    range = Signal(tuple)
    nsteps = Signal(tuple)
    point = Signal(tuple)
    current_step = Signal(tuple)
    margin_left = Signal(tuple)
    margin_right = Signal(tuple)
    thickness = Signal(tuple)


class Dims(StateModel[DimsState]):
    """Evented dimensions model (napari 0.9's ``viewer.dims``), backed by a frozen state.

    Every setter and method builds a new :class:`DimsState`, validates it
    completely, then swaps it in and emits (:class:`DimsEvents`). Invalid input
    raises :class:`~tilescope.errors.DimsError` and changes nothing.

    Parameters
    ----------
    ndim
        Number of world axes; inferred from the per-axis arguments when omitted
        (2 when none is given).
    ndisplay, order, axis_labels, range, point, margin_left, margin_right, thickness
        Initial values; omitted ones take napari's defaults.
    """

    _signal_order = (
        "ndim",
        "ndisplay",
        "order",
        "axis_labels",
        "range",
        "nsteps",
        "point",
        "current_step",
        "margin_left",
        "margin_right",
        "thickness",
    )

    events: DimsEvents

    def __init__(
        self,
        ndim: int | None = None,
        *,
        ndisplay: int = 2,
        order: Sequence[int] | None = None,
        axis_labels: Sequence[str] | None = None,
        range: Sequence[Sequence[float]] | None = None,
        point: Sequence[float] | None = None,
        margin_left: Sequence[float] | None = None,
        margin_right: Sequence[float] | None = None,
        thickness: Sequence[float] | None = None,
    ) -> None:
        given: dict[str, object] = {
            name: value
            for name, value in (
                ("order", order),
                ("axis_labels", axis_labels),
                ("range", range),
                ("point", point),
                ("margin_left", margin_left),
                ("margin_right", margin_right),
                ("thickness", thickness),
            )
            if value is not None
        }
        if ndim is None:
            ndim = max((len(v) for v in given.values() if isinstance(v, Sized)), default=2)
        self._state = changed_state(default_dims_state(ndim, ndisplay), given)
        self.events = DimsEvents()

    @classmethod
    def from_state(cls, state: DimsState) -> Dims:
        """A model starting at ``state`` (revalidated)."""
        dims = cls()
        dims.set_state(state)
        return dims

    def __repr__(self) -> str:
        return f"Dims({self._state})"

    def set_state(self, state: DimsState) -> None:
        """Replace everything with ``state`` (revalidated, so its point gets clamped)."""
        if not isinstance(state, DimsState):
            raise DimsError(f"Dims.set_state: expected a DimsState, got {state!r}")
        self._commit(validate_dims_state(**{name: getattr(state, name) for name in FIELDS}))

    def update(self, **changes: object) -> None:
        """Change several fields in one validated step and one ``changed`` event.

        Keys are field names plus ``thickness`` and ``current_step``. ``ndim`` is
        applied first (resizing the other fields as napari does), so the other
        values must already have the new length; ``current_step`` is interpreted
        in the new ``range``.
        """
        self._commit(changed_state(self._state, changes))

    # ------------------------------------------------------------------ fields

    ndim = SettableStateField[int, int](
        "Number of world axes. Setting it prepends or drops axes (napari semantics)."
    )
    ndisplay = SettableStateField[int, int]("Number of displayed axes: 2 or 3.")
    order = SettableStateField[tuple[int, ...], Sequence[int]](
        "Permutation of the world axes; the last ``ndisplay`` are displayed."
    )
    axis_labels = SettableStateField[tuple[str, ...], Sequence[str]]("One label per world axis.")
    range = SettableStateField[tuple[RangeTuple, ...], Sequence[Sequence[float]]](
        "``(start, stop, step)`` per world axis, world units, both ends inclusive."
    )
    point = SettableStateField[tuple[float, ...], Sequence[float]](
        "Slice position per world axis (world units), always within ``range``."
    )
    margin_left = SettableStateField[tuple[float, ...], Sequence[float]](
        "Thick-slice window below ``point`` per axis (world units, >= 0)."
    )
    margin_right = SettableStateField[tuple[float, ...], Sequence[float]](
        "Thick-slice window above ``point`` per axis (world units, >= 0)."
    )
    thickness = SettableStateField[tuple[float, ...], Sequence[float]](
        "``margin_left + margin_right`` per axis; setting it sets both margins to half."
    )
    current_step = SettableStateField[tuple[int, ...], Sequence[int]](
        "Slider position per axis, from ``point``; setting it moves ``point`` to the steps."
    )
    nsteps = StateField[tuple[int, ...]]("Slider positions per axis, from ``range`` (read-only).")
    displayed = StateField[tuple[int, ...]]("World axes shown on the canvas, in display order.")
    not_displayed = StateField[tuple[int, ...]]("World axes that are sliced.")
    displayed_order = StateField[tuple[int, ...]](
        "Rank of each displayed axis among the displayed axes."
    )

    # ------------------------------------------------------------------ methods

    def set_point(self, axis: int | Sequence[int], value: float | Sequence[float]) -> None:
        """Set the slice position of one axis, or of several (``axis`` and ``value`` sequences).

        Negative axes count from the end; values are clamped into the range (napari).
        """
        self._commit(state_with_axis_values(self._state, "point", axis, value))

    def set_current_step(self, axis: int | Sequence[int], value: int | Sequence[int]) -> None:
        """Set the slider position of one or several axes (``point = start + value * step``)."""
        self._commit(state_with_axis_values(self._state, "current_step", axis, value))

    def set_range(
        self, axis: int | Sequence[int], value: Sequence[float] | Sequence[Sequence[float]]
    ) -> None:
        """Set ``(start, stop, step)`` of one axis, or of several (sequences of each)."""
        self._commit(state_with_axis_values(self._state, "range", axis, value))

    def set_axis_label(self, axis: int | Sequence[int], label: str | Sequence[str]) -> None:
        """Set the label of one axis, or of several."""
        self._commit(state_with_axis_values(self._state, "axis_labels", axis, label))

    def roll(self) -> None:
        """Rotate the display order by one among the axes with more than one step (napari)."""
        self._commit(rolled_state(self._state))

    def transpose(self) -> None:
        """Swap the last two axes of ``order`` (the two in-plane displayed axes)."""
        self._commit(transposed_state(self._state))

    def reset(self) -> None:
        """napari's ``reset``: ranges ``(0, 2, 1)``, point 0, identity order, margins 0.

        ``ndim``, ``ndisplay`` and ``axis_labels`` are kept.
        """
        self._commit(reset_state(self._state))
