"""Property tests: any sequence of Dims operations, valid or not, keeps the invariants.

Operations are drawn with values that are often invalid (NaN, negative steps,
wrong lengths, ndisplay 4, out-of-range axes). After each one either the model
raised :class:`DimsError` and nothing changed and nothing was emitted, or the new
state satisfies every invariant and the events describe exactly what changed.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.errors import DimsError
from tilescope.models.dims import Dims, DimsState, RangeTuple
from tilescope.models.dims_state import current_step_of, nsteps_of, resize_dims_state

FIELDS = (
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

numbers = st.one_of(
    st.floats(-1e4, 1e4, allow_nan=False),
    st.integers(-20, 20),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 0.5, -0.5]),
)
ranges = st.tuples(numbers, numbers, numbers)


def check_invariants(state: DimsState) -> None:
    n = state.ndim
    assert n >= 1
    assert state.ndisplay in (2, 3)
    assert sorted(state.order) == list(range(n))
    for name in ("axis_labels", "range", "point", "margin_left", "margin_right"):
        assert len(getattr(state, name)) == n
    assert all(isinstance(label, str) for label in state.axis_labels)
    for p, r, cs, ns in zip(
        state.point, state.range, state.current_step, state.nsteps, strict=True
    ):
        assert all(math.isfinite(v) for v in (*r, p))
        assert r.step > 0
        assert r.start <= p <= r.stop
        assert 0 <= cs < ns
        assert cs == current_step_of(p, r)
    assert all(m >= 0 for m in (*state.margin_left, *state.margin_right))
    assert sorted(state.displayed + state.not_displayed) == list(range(n))
    assert len(state.displayed) == min(state.ndisplay, n)


@st.composite
def operation(draw: st.DrawFn, ndim: int) -> tuple[str, tuple[Any, ...]]:
    axis = st.integers(-ndim - 1, ndim)
    length = st.sampled_from([ndim, ndim, ndim, ndim - 1, ndim + 1])

    def per_axis(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
        return length.flatmap(lambda k: st.lists(values, min_size=max(k, 0), max_size=max(k, 0)))

    kind = draw(
        st.sampled_from(
            [
                "ndim",
                "ndisplay",
                "order",
                "set_range",
                "range",
                "set_point",
                "point",
                "set_current_step",
                "current_step",
                "thickness",
                "margin_left",
                "margin_right",
                "roll",
                "transpose",
                "reset",
                "update",
            ]
        )
    )
    if kind == "ndim":
        return kind, (draw(st.integers(-1, 6)),)
    if kind == "ndisplay":
        return kind, (draw(st.sampled_from([1, 2, 3, 4])),)
    if kind == "order":
        perm = st.permutations(list(range(ndim)))
        return kind, (draw(st.one_of(perm, perm, per_axis(st.integers(-1, ndim)))),)
    if kind == "set_range":
        return kind, (draw(axis), draw(ranges))
    if kind == "range":
        return kind, (draw(per_axis(ranges)),)
    if kind in ("set_point", "set_current_step"):
        return kind, (draw(axis), draw(numbers))
    if kind in ("point", "current_step", "thickness", "margin_left", "margin_right"):
        return kind, (draw(per_axis(numbers)),)
    if kind == "update":
        new_ndim = draw(st.integers(1, 5))
        return kind, (new_ndim, draw(st.lists(ranges, min_size=new_ndim, max_size=new_ndim)))
    return kind, ()


def apply(dims: Dims, kind: str, args: tuple[Any, ...]) -> None:
    if kind in ("set_range", "set_point", "set_current_step"):
        getattr(dims, kind)(*args)
    elif kind in ("roll", "transpose", "reset"):
        getattr(dims, kind)()
    elif kind == "update":
        dims.update(ndim=args[0], range=args[1])
    else:
        setattr(dims, kind, args[0])


@settings(max_examples=120, deadline=None)
@given(data=st.data(), ndim=st.integers(1, 5))
def test_any_operation_sequence_keeps_invariants(data: st.DataObject, ndim: int) -> None:
    dims = Dims(ndim)
    emitted: list[str] = []
    dims.events.all.connect(lambda info: emitted.append(info.signal.name))
    for _ in range(10):
        kind, args = data.draw(operation(dims.ndim), label="op")
        before = dims.state
        emitted.clear()
        try:
            apply(dims, kind, args)
        except DimsError:
            assert dims.state is before, "a failed operation must leave the state untouched"
            assert emitted == []
            continue
        after = dims.state
        check_invariants(after)
        changed = [name for name in FIELDS if getattr(before, name) != getattr(after, name)]
        assert [name for name in emitted if name != "changed"] == changed
        assert emitted.count("changed") == (1 if after != before else 0)
        if emitted:
            assert emitted[-1] == "changed"


valid_ranges = st.builds(
    lambda start, step, n, extra: RangeTuple(start, start + (n - 1) * step + extra * step, step),
    st.floats(-1e3, 1e3),
    st.floats(1e-3, 1e3),
    st.integers(1, 10_000),
    st.floats(0, 0.999),
)


@given(rng=valid_ranges, fraction=st.floats(0, 1))
def test_every_step_round_trips(rng: RangeTuple, fraction: float) -> None:
    dims = Dims(1, range=[rng])
    k = round(fraction * (dims.nsteps[0] - 1))
    dims.set_current_step(0, k)
    assert dims.current_step == (k,)


@given(rng=valid_ranges)
def test_nsteps_is_napari_formula_up_to_roundoff(rng: RangeTuple) -> None:
    napari = int((rng.stop - rng.start) / rng.step) + 1
    ours = nsteps_of(rng)
    assert ours in (napari, napari + 1)
    if ours != napari:
        assert math.isclose((rng.stop - rng.start) / rng.step, napari, rel_tol=1e-9)


@given(
    ndim=st.integers(1, 5),
    extra=st.integers(1, 4),
    data=st.data(),
)
def test_growing_then_shrinking_ndim_restores_state(ndim: int, extra: int, data: Any) -> None:
    dims = Dims(
        ndim,
        order=data.draw(st.permutations(list(range(ndim)))),
        point=data.draw(st.lists(st.floats(0, 2), min_size=ndim, max_size=ndim)),
        thickness=data.draw(st.lists(st.floats(0, 4), min_size=ndim, max_size=ndim)),
    )
    state = dims.state
    assert resize_dims_state(resize_dims_state(state, ndim + extra), ndim) == state


@given(ndim=st.integers(2, 6), data=st.data())
def test_roll_cycles_and_transpose_is_an_involution(ndim: int, data: Any) -> None:
    dims = Dims(ndim, order=data.draw(st.permutations(list(range(ndim)))))
    flat = data.draw(st.lists(st.integers(0, ndim - 1), max_size=ndim, unique=True))
    for axis in flat:
        dims.set_range(axis, (0.0, 0.0, 1.0))
    original = dims.order
    rollable = sum(1 for n in dims.nsteps if n > 1)
    for _ in range(max(rollable, 1)):
        dims.roll()
    assert dims.order == original
    dims.transpose()
    dims.transpose()
    assert dims.order == original
