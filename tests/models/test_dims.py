"""Dims: napari semantics, atomic validated updates and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tilescope.errors import DimsError
from tilescope.models.dims import Dims, DimsState, RangeTuple
from tilescope.models.dims_state import (
    current_step_of,
    default_axis_labels,
    default_dims_state,
    nsteps_of,
    resize_dims_state,
)


class Recorder:
    """Collects every signal a Dims emits, as (signal name, args)."""

    def __init__(self, dims: Dims) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        dims.events.all.connect(self._on_any)

    def _on_any(self, info: Any) -> None:
        self.calls.append((info.signal.name, info.args))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()


# --------------------------------------------------------------------------- defaults


def test_defaults_match_napari() -> None:
    dims = Dims()
    assert dims.ndim == 2
    assert dims.ndisplay == 2
    assert dims.order == (0, 1)
    assert dims.axis_labels == ("-2", "-1")
    assert dims.range == (RangeTuple(0.0, 2.0, 1.0),) * 2
    assert dims.point == (0.0, 0.0)
    assert dims.nsteps == (3, 3)
    assert dims.current_step == (0, 0)
    assert dims.thickness == (0.0, 0.0)
    assert dims.displayed == (0, 1)
    assert dims.not_displayed == ()


def test_ndim_is_inferred_from_per_axis_arguments() -> None:
    dims = Dims(order=(2, 0, 1), point=(1.0, 0.0, 2.0))
    assert dims.ndim == 3
    assert dims.order == (2, 0, 1)
    assert dims.point == (1.0, 0.0, 2.0)


def test_state_is_a_frozen_snapshot() -> None:
    dims = Dims(3)
    before = dims.state
    dims.set_point(0, 1.0)
    assert before.point == (0.0, 0.0, 0.0)
    assert dims.state.point == (1.0, 0.0, 0.0)
    with pytest.raises(AttributeError):
        dims.state.ndim = 4  # type: ignore[misc]


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("rng", "expected"),
    [
        pytest.param(RangeTuple(0, 2, 1), 3, id="default"),
        pytest.param(RangeTuple(0, 0, 1), 1, id="degenerate"),
        pytest.param(RangeTuple(0, 9.5, 1), 10, id="partial-step-floors"),
        pytest.param(RangeTuple(0, 0.3, 0.1), 4, id="roundoff-0.3/0.1"),
        pytest.param(RangeTuple(0, 2.0999999999999996, 0.7), 4, id="roundoff-4-planes-0.7"),
        pytest.param(RangeTuple(-5, 5, 0.5), 21, id="negative-start"),
    ],
)
def test_nsteps_of(rng: RangeTuple, expected: int) -> None:
    assert nsteps_of(rng) == expected


@pytest.mark.parametrize(
    ("point", "rng", "expected"),
    [
        pytest.param(3.0, RangeTuple(0, 10, 2), 2, id="half-rounds-to-even-down"),
        pytest.param(5.0, RangeTuple(0, 10, 2), 2, id="half-rounds-to-even-2.5"),
        pytest.param(7.0, RangeTuple(0, 10, 2), 4, id="half-rounds-to-even-up"),
        pytest.param(9.9, RangeTuple(0, 10.5, 2), 5, id="clamped-to-last-step"),
        pytest.param(-1.0, RangeTuple(0, 10, 2), 0, id="clamped-to-first-step"),
    ],
)
def test_current_step_of(point: float, rng: RangeTuple, expected: int) -> None:
    assert current_step_of(point, rng) == expected


def test_default_axis_labels_are_napari_negative_indices() -> None:
    assert default_axis_labels(4) == ("-4", "-3", "-2", "-1")


# --------------------------------------------------------------------------- ndim changes


def test_growing_ndim_prepends_axes_like_napari() -> None:
    dims = Dims(3, order=(2, 0, 1), axis_labels=("z", "y", "x"), point=(1.0, 2.0, 0.5))
    dims.ndim = 5
    assert dims.order == (0, 1, 4, 2, 3)
    assert dims.axis_labels == ("-5", "-4", "z", "y", "x")
    assert dims.point == (0.0, 0.0, 1.0, 2.0, 0.5)
    assert dims.range[:2] == (RangeTuple(0.0, 2.0, 1.0),) * 2


def test_shrinking_ndim_keeps_last_axes_and_reranks_order() -> None:
    dims = Dims(5, order=(4, 2, 0, 3, 1), axis_labels=("t", "c", "z", "y", "x"))
    dims.set_point(4, 2.0)
    dims.ndim = 3
    assert dims.order == (0, 2, 1)  # (0, 3, 1) re-ranked
    assert dims.axis_labels == ("z", "y", "x")
    assert dims.point == (0.0, 0.0, 2.0)


def test_resize_then_back_is_identity() -> None:
    state = Dims(3, order=(1, 2, 0), point=(1.0, 0.5, 2.0), thickness=(1.0, 0.0, 2.0)).state
    assert resize_dims_state(resize_dims_state(state, 6), 3) == state


# --------------------------------------------------------------------------- setters


def test_set_point_clamps_and_accepts_sequences_and_negative_axes() -> None:
    dims = Dims(3)
    dims.set_range(0, (0.0, 10.0, 2.0))
    dims.set_point(0, 42.0)
    assert dims.point[0] == 10.0
    dims.set_point(-1, -3.0)
    assert dims.point[2] == 0.0
    dims.set_point([1, 2], [0.4, 1.6])
    assert dims.point == (10.0, 0.4, 1.6)
    assert dims.current_step == (5, 0, 2)


def test_point_is_not_snapped_to_step() -> None:
    dims = Dims(1, range=[(0.0, 10.0, 2.0)])
    dims.point = (3.3,)
    assert dims.point == (3.3,)
    assert dims.current_step == (2,)


def test_set_current_step_moves_point_onto_the_grid() -> None:
    dims = Dims(2, range=[(-5.0, 5.0, 0.5), (2.0, 3.0, 0.25)])
    dims.set_current_step(0, 7)
    assert dims.point == (-1.5, 2.0)
    dims.set_current_step([0, 1], [99, 2])
    assert dims.point == (5.0, 2.5)
    dims.current_step = (0, 4)
    assert dims.point == (-5.0, 3.0)


def test_range_change_reclamps_point() -> None:
    dims = Dims(1, range=[(0.0, 10.0, 1.0)], point=(8.0,))
    dims.set_range(0, (0.0, 4.0, 1.0))
    assert dims.point == (4.0,)


def test_thickness_sets_symmetric_margins() -> None:
    dims = Dims(3)
    dims.thickness = (2.0, 0.0, 1.0)
    assert dims.margin_left == (1.0, 0.0, 0.5)
    assert dims.margin_right == (1.0, 0.0, 0.5)
    dims.margin_left = (0.5, 0.0, 3.0)
    assert dims.thickness == (1.5, 0.0, 3.5)


def test_roll_only_moves_axes_with_more_than_one_step() -> None:
    dims = Dims(4)
    dims.roll()
    assert dims.order == (3, 0, 1, 2)
    dims.set_range(1, (0.0, 0.0, 1.0))  # axis 1 has one step: stays in place
    dims.order = (0, 1, 2, 3)
    dims.roll()
    assert dims.order == (3, 1, 0, 2)


def test_transpose_swaps_the_displayed_axes() -> None:
    dims = Dims(3, order=(1, 0, 2))
    dims.transpose()
    assert dims.order == (1, 2, 0)
    assert dims.displayed == (2, 0)
    single = Dims(1)
    single.transpose()  # napari raises IndexError; nothing to swap here
    assert single.order == (0,)


def test_reset_keeps_labels_ndim_and_ndisplay() -> None:
    dims = Dims(3, ndisplay=3, axis_labels=("z", "y", "x"), order=(2, 1, 0))
    dims.set_range(0, (0.0, 9.0, 3.0))
    dims.point = (3.0, 1.0, 1.0)
    dims.thickness = (1.0, 1.0, 1.0)
    dims.reset()
    assert dims.state == DimsState(
        ndim=3,
        ndisplay=3,
        order=(0, 1, 2),
        axis_labels=("z", "y", "x"),
        range=(RangeTuple(0.0, 2.0, 1.0),) * 3,
        point=(0.0, 0.0, 0.0),
        margin_left=(0.0, 0.0, 0.0),
        margin_right=(0.0, 0.0, 0.0),
    )


def test_ndisplay_three_with_two_axes_displays_both() -> None:
    dims = Dims(2, ndisplay=3)
    assert dims.displayed == (0, 1)
    assert dims.not_displayed == ()


def test_displayed_order_ranks_displayed_axes() -> None:
    dims = Dims(4, order=(0, 3, 1, 2), ndisplay=3)
    assert dims.displayed == (3, 1, 2)
    assert dims.displayed_order == (1, 2, 0)  # argsort, as napari


def test_update_is_atomic_and_reads_steps_in_the_new_range() -> None:
    dims = Dims(2)
    recorder = Recorder(dims)
    dims.update(ndim=3, range=[(0, 4, 1), (0, 10, 2), (0, 1, 0.5)], current_step=(1, 3, 2))
    assert dims.point == (1.0, 6.0, 1.0)
    assert recorder.names().count("changed") == 1


def test_set_state_and_from_state_round_trip() -> None:
    state = Dims(3, order=(2, 0, 1), point=(1.0, 1.0, 1.0)).state
    assert Dims.from_state(state).state == state


@pytest.mark.parametrize("field", ["nsteps", "displayed", "not_displayed", "displayed_order"])
def test_derived_fields_are_read_only(field: str) -> None:
    dims = Dims(3)
    before = dims.state
    with pytest.raises(AttributeError, match="read-only"):
        setattr(dims, field, (1, 2, 3))
    assert dims.state is before


def test_set_axis_label() -> None:
    dims = Dims(3)
    dims.set_axis_label(0, "t")
    dims.set_axis_label([1, 2], ["y", "x"])
    assert dims.axis_labels == ("t", "y", "x")


# --------------------------------------------------------------------------- events


def test_coarse_event_once_and_field_events_only_for_changed_fields() -> None:
    dims = Dims(3)
    recorder = Recorder(dims)
    dims.set_point(0, 1.0)
    assert recorder.names() == ["point", "current_step", "changed"]
    assert recorder.calls[0][1] == ((1.0, 0.0, 0.0),)
    assert recorder.calls[-1][1] == (dims.state,)


def test_point_within_the_same_step_does_not_emit_current_step() -> None:
    dims = Dims(1, range=[(0.0, 10.0, 2.0)])
    recorder = Recorder(dims)
    dims.point = (0.4,)
    assert recorder.names() == ["point", "changed"]


def test_range_change_emits_range_nsteps_and_clamped_point() -> None:
    dims = Dims(1, range=[(0.0, 10.0, 1.0)], point=(8.0,))
    recorder = Recorder(dims)
    dims.set_range(0, (0.0, 4.0, 1.0))
    assert recorder.names() == ["range", "nsteps", "point", "current_step", "changed"]


def test_thickness_emits_margins_and_thickness() -> None:
    dims = Dims(2)
    recorder = Recorder(dims)
    dims.thickness = (2.0, 0.0)
    assert recorder.names() == ["margin_left", "margin_right", "thickness", "changed"]


def test_no_op_mutation_emits_nothing() -> None:
    dims = Dims(3)
    recorder = Recorder(dims)
    dims.point = (0.0, 0.0, 0.0)
    dims.order = (0, 1, 2)
    dims.set_point(0, -5.0)  # clamps to the current value
    dims.reset()
    dims.ndim = 3
    assert recorder.calls == []


def test_ndim_change_emits_each_affected_field_once() -> None:
    dims = Dims(2)
    recorder = Recorder(dims)
    dims.ndim = 3
    assert recorder.names() == [
        "ndim",
        "order",
        "axis_labels",
        "range",
        "nsteps",
        "point",
        "current_step",
        "margin_left",
        "margin_right",
        "thickness",
        "changed",
    ]


def test_reentrant_listener_sees_current_state() -> None:
    dims = Dims(3)
    seen: list[DimsState] = []

    def on_ndisplay(_: int) -> None:
        dims.set_point(0, 2.0)

    dims.events.ndisplay.connect(on_ndisplay)
    dims.events.changed.connect(seen.append)
    dims.ndisplay = 3
    assert dims.point[0] == 2.0
    assert all(state == dims.state for state in seen)


# --------------------------------------------------------------------------- bad input

BAD_INPUTS: list[Any] = [
    # (id, mutation, words the message must contain)
    ("ndim-zero", lambda d: setattr(d, "ndim", 0), "ndim"),
    ("ndim-float", lambda d: setattr(d, "ndim", 2.5), "ndim"),
    ("ndim-bool", lambda d: setattr(d, "ndim", True), "ndim"),
    ("ndim-str", lambda d: setattr(d, "ndim", "3"), "ndim"),
    ("ndisplay-4", lambda d: setattr(d, "ndisplay", 4), "ndisplay"),
    ("ndisplay-1", lambda d: setattr(d, "ndisplay", 1), "ndisplay"),
    ("order-repeat", lambda d: setattr(d, "order", (0, 0, 1)), "permutation"),
    ("order-short", lambda d: setattr(d, "order", (0, 1)), "order"),
    ("order-out-of-range", lambda d: setattr(d, "order", (1, 2, 3)), "permutation"),
    ("order-float", lambda d: setattr(d, "order", (0.5, 1, 2)), "order"),
    ("order-scalar", lambda d: setattr(d, "order", 5), "order"),
    ("labels-short", lambda d: setattr(d, "axis_labels", ("a", "b")), "axis_labels"),
    ("labels-not-str", lambda d: setattr(d, "axis_labels", (1, 2, 3)), "axis_labels"),
    ("labels-str", lambda d: setattr(d, "axis_labels", "abc"), "axis_labels"),
    ("range-short", lambda d: setattr(d, "range", [(0, 1, 1)] * 2), "range"),
    ("range-pair", lambda d: setattr(d, "range", [(0, 1)] * 3), "range[0]"),
    ("range-step-zero", lambda d: d.set_range(1, (0, 1, 0)), "step > 0"),
    ("range-step-negative", lambda d: d.set_range(1, (0, 1, -1)), "step > 0"),
    ("range-start-after-stop", lambda d: d.set_range(2, (3, 1, 1)), "start <= stop"),
    ("range-nan", lambda d: d.set_range(0, (0, float("nan"), 1)), "finite"),
    ("range-inf", lambda d: d.set_range(0, (0, float("inf"), 1)), "finite"),
    ("range-step-tiny", lambda d: d.set_range(0, (0, 4, 1e-300)), "fewer than"),
    ("range-text", lambda d: d.set_range(0, ("a", 1, 1)), "range[0]"),
    ("point-short", lambda d: setattr(d, "point", (1.0, 2.0)), "point"),
    ("point-nan", lambda d: setattr(d, "point", (1.0, float("nan"), 2.0)), "point[1]"),
    ("point-inf", lambda d: d.set_point(2, float("-inf")), "point[2]"),
    ("point-text", lambda d: d.set_point(0, "1"), "point[0]"),
    ("point-none", lambda d: setattr(d, "point", (None, 0, 0)), "point[0]"),
    ("margin-left-negative", lambda d: setattr(d, "margin_left", (0, -1, 0)), "margin_left[1]"),
    ("margin-right-negative", lambda d: setattr(d, "margin_right", (-0.1, 0, 0)), ">= 0"),
    ("margin-nan", lambda d: setattr(d, "margin_left", (0, float("nan"), 0)), "finite"),
    ("thickness-negative", lambda d: setattr(d, "thickness", (1, -1, 0)), "thickness[1]"),
    ("thickness-short", lambda d: setattr(d, "thickness", (1,)), "thickness"),
    ("current-step-short", lambda d: setattr(d, "current_step", (1, 1)), "current_step"),
    ("current-step-nan", lambda d: d.set_current_step(0, float("nan")), "current_step"),
    ("axis-too-big", lambda d: d.set_point(3, 1.0), "axis"),
    ("axis-too-negative", lambda d: d.set_point(-4, 1.0), "axis"),
    ("axis-float", lambda d: d.set_point([0.5], [1.0]), "axis"),
    ("axis-values-mismatch", lambda d: d.set_point([0, 1], [1.0]), "point"),
    ("single-axis-many-values", lambda d: d.set_point(0, [1.0, 2.0]), "single value"),
    ("current-step-bad-axis", lambda d: d.set_current_step(5, 1), "axis"),
    ("range-bad-axis", lambda d: d.set_range(-9, (0, 1, 1)), "axis"),
    ("update-unknown", lambda d: d.update(zoom=2), "zoom"),
    (
        "update-thickness-and-margin",
        lambda d: d.update(thickness=(1,) * 3, margin_left=(0,) * 3),
        "thickness",
    ),
    ("update-point-and-step", lambda d: d.update(point=(0,) * 3, current_step=(0,) * 3), "point"),
    ("update-bad-later-field", lambda d: d.update(ndim=4, order=(0, 1, 2)), "order"),
    ("set-state-not-state", lambda d: d.set_state("state"), "DimsState"),
]


@pytest.mark.parametrize(("mutate", "words"), [pytest.param(m, w, id=i) for i, m, w in BAD_INPUTS])
def test_bad_input_raises_and_changes_nothing(mutate: Callable[[Dims], object], words: str) -> None:
    dims = Dims(3, order=(2, 0, 1), thickness=(1.0, 0.0, 0.0))
    dims.set_range(0, (0.0, 8.0, 2.0))
    dims.set_point(0, 4.0)
    before = dims.state
    recorder = Recorder(dims)
    with pytest.raises(DimsError, match=words.replace("[", r"\[").replace("]", r"\]")) as info:
        mutate(dims)
    assert isinstance(info.value, ValueError)
    assert dims.state is before
    assert recorder.calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"ndim": 0}, id="ndim-zero"),
        pytest.param({"ndim": 2, "order": (0, 1, 2)}, id="order-too-long"),
        pytest.param({"ndisplay": 4}, id="ndisplay"),
        pytest.param({"thickness": (1.0, -1.0)}, id="thickness"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(DimsError):
        Dims(**kwargs)


def test_dims_state_checks_structure() -> None:
    good = default_dims_state(2)
    with pytest.raises(DimsError, match="order"):
        DimsState(2, 2, (0, 0), good.axis_labels, good.range, good.point, (0, 0), (0, 0))
    with pytest.raises(DimsError, match="point"):
        DimsState(2, 2, (0, 1), good.axis_labels, good.range, (0.0,), (0, 0), (0, 0))
    with pytest.raises(DimsError, match="ndisplay"):
        DimsState(2, 4, (0, 1), good.axis_labels, good.range, good.point, (0, 0), (0, 0))
