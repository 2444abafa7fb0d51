"""LayerList: list operations, unique names, events, and the union extent / ranges."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _dims_fake_layers import FakeImage, FakePoints
from hypothesis import given
from hypothesis import strategies as st

from tilescope.errors import LayerListError
from tilescope.models.dims import RangeTuple
from tilescope.models.layerlist import LayerList, union_extent


def record(layers: LayerList[Any]) -> list[tuple[str, tuple[Any, ...]]]:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    layers.events.all.connect(lambda info: calls.append((info.signal.name, info.args)))
    return calls


def names(layers: LayerList[Any]) -> list[str]:
    return [layer.name for layer in layers]


# --------------------------------------------------------------------------- list behaviour


def test_append_insert_index_and_lookup_by_name() -> None:
    a, b, c = FakeImage((2, 2), name="a"), FakeImage((2, 2), name="b"), FakeImage((2, 2), name="c")
    layers: LayerList[FakeImage] = LayerList([a, c])
    layers.insert(1, b)
    assert names(layers) == ["a", "b", "c"]
    assert layers["b"] is b
    assert layers[-1] is c
    assert layers[0:2] == [a, b]
    assert layers.index(c) == 2
    assert "a" in layers
    assert b in layers
    assert FakeImage((2, 2), name="a") not in layers
    assert len(layers) == 3


def test_negative_insert_index_follows_list_insert() -> None:
    a, b, c = (FakeImage((2, 2), name=n) for n in "abc")
    layers: LayerList[FakeImage] = LayerList([a, b])
    layers.insert(-1, c)
    assert names(layers) == ["a", "c", "b"]


def test_duplicate_names_get_napari_suffixes() -> None:
    layers: LayerList[FakeImage] = LayerList()
    for name in ("Image", "Image", "Image [1]", "Image"):
        layers.append(FakeImage((2, 2), name=name))
    assert names(layers) == ["Image", "Image [1]", "Image [2]", "Image [3]"]


def test_renaming_to_a_taken_name_is_coerced() -> None:
    a, b = FakeImage((2, 2), name="a"), FakeImage((2, 2), name="b")
    layers: LayerList[FakeImage] = LayerList([a, b])
    calls = record(layers)
    b.name = "a"
    assert names(layers) == ["a", "a [1]"]
    assert [n for n, _ in calls] == ["layer_changed"]


def test_remove_pop_del_clear() -> None:
    layers: LayerList[FakeImage] = LayerList(FakeImage((2, 2), name=n) for n in "abcde")
    layers.remove("b")
    assert layers.pop(0).name == "a"
    del layers["d"]
    del layers[0]
    assert names(layers) == ["e"]
    layers.clear()
    assert len(layers) == 0


def test_move_and_reorder() -> None:
    layers: LayerList[FakeImage] = LayerList(FakeImage((2, 2), name=n) for n in "abcd")
    calls = record(layers)
    layers.move(0, 2)
    assert names(layers) == ["b", "c", "a", "d"]
    assert [n for n, _ in calls] == ["moved", "reordered", "changed"]
    assert calls[0][1] == (0, 2)
    layers.move("d", 0)
    assert names(layers) == ["d", "b", "c", "a"]
    layers.reorder([3, 2, 1, 0])
    assert names(layers) == ["a", "c", "b", "d"]
    calls.clear()
    layers.move(1, 1)
    layers.reorder([0, 1, 2, 3])
    assert calls == []


def test_events_for_insert_and_remove() -> None:
    layers: LayerList[FakeImage] = LayerList()
    calls = record(layers)
    layer = FakeImage((2, 2))
    layers.append(layer)
    layers.remove(layer)
    assert calls == [
        ("inserted", (0, layer)),
        ("changed", ()),
        ("removed", (0, layer)),
        ("changed", ()),
    ]


def test_layer_changes_are_forwarded_until_removed() -> None:
    layer = FakeImage((4, 4))
    layers: LayerList[FakeImage] = LayerList([layer])
    calls = record(layers)
    layer.scale = (2.0, 2.0)
    assert calls == [("layer_changed", (layer,))]
    layers.remove(layer)
    calls.clear()
    layer.scale = (3.0, 3.0)
    assert calls == []


@pytest.mark.parametrize(
    ("action", "error"),
    [
        pytest.param(lambda ls, a: ls.append(a), LayerListError, id="append-twice"),
        pytest.param(lambda ls, a: ls.append(object()), LayerListError, id="not-a-layer"),
        pytest.param(lambda ls, a: ls["missing"], KeyError, id="missing-name"),
        pytest.param(lambda ls, a: ls.remove(FakeImage((1, 1))), KeyError, id="remove-absent"),
        pytest.param(lambda ls, a: ls[5], IndexError, id="index-out-of-range"),
        pytest.param(lambda ls, a: ls.move(0, 9), IndexError, id="move-out-of-range"),
        pytest.param(lambda ls, a: ls.reorder([0, 0]), LayerListError, id="reorder-repeat"),
        pytest.param(lambda ls, a: ls.reorder([0]), LayerListError, id="reorder-short"),
    ],
)
def test_bad_operations_raise_and_change_nothing(action: Any, error: type[Exception]) -> None:
    a, b = FakeImage((2, 2), name="a"), FakeImage((2, 2), name="b")
    layers: LayerList[FakeImage] = LayerList([a, b])
    calls = record(layers)
    with pytest.raises(error):
        action(layers, a)
    assert list(layers) == [a, b]
    assert calls == []


# --------------------------------------------------------------------------- extent and ranges


def test_empty_list_extent_is_napari_default() -> None:
    layers: LayerList[FakeImage] = LayerList()
    assert layers.ndim == 2
    assert layers.ranges() == (RangeTuple(0.0, 511.0, 1.0),) * 2


def test_ranges_union_with_finest_step_right_aligned() -> None:
    layers: LayerList[Any] = LayerList(
        [
            FakeImage((10, 32, 32), scale=(2.0, 1.0, 1.0)),
            FakeImage((40, 32, 32), scale=(0.5, 1.0, 1.0), translate=(3.0, 0.0, 0.0)),
            FakeImage((128, 16), scale=(0.25, 1.0), translate=(-10.0, 5.0)),
        ]
    )
    assert layers.ndim == 3
    assert layers.ranges() == (
        RangeTuple(0.0, 22.5, 0.5),
        RangeTuple(-10.0, 31.0, 0.25),
        RangeTuple(0.0, 31.0, 1.0),
    )
    assert layers.ranges(5)[:2] == (RangeTuple(0.0, 2.0, 1.0),) * 2
    assert layers.ranges(5)[2:] == layers.ranges()
    with pytest.raises(LayerListError, match="ndim"):
        layers.ranges(2)


def test_nan_extents_are_ignored_and_uncovered_axes_get_napari_fallback() -> None:
    points = FakePoints(np.empty((0, 3)), ndim=3)
    image = FakeImage((20, 30))
    layers: LayerList[Any] = LayerList([points, image])
    assert layers.ranges() == (
        RangeTuple(-0.5, 511.5, 1.0),
        RangeTuple(0.0, 19.0, 1.0),
        RangeTuple(0.0, 29.0, 1.0),
    )


def test_negative_scale_extent_is_sorted() -> None:
    layers: LayerList[Any] = LayerList([FakeImage((6, 4), scale=(-2.0, 1.0))])
    assert layers.ranges()[0] == RangeTuple(-10.0, 0.0, 2.0)


boxes = st.integers(1, 4).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-100, 100), min_size=n, max_size=n),
        st.lists(st.floats(0, 100), min_size=n, max_size=n),
        st.lists(st.floats(0.01, 10), min_size=n, max_size=n),
    )
)


class _Extent:
    def __init__(self, lo: list[float], size: list[float], step: list[float]) -> None:
        self.world = np.array([lo, np.add(lo, size)])
        self.step = np.array(step)


@given(st.lists(boxes, min_size=1, max_size=5))
def test_union_extent_contains_every_layer_right_aligned(raw: list[Any]) -> None:
    extents = [_Extent(*box) for box in raw]
    union = union_extent(extents)
    n = max(len(box[0]) for box in raw)
    assert union.ndim == n
    for ext in extents:
        k = ext.step.size
        assert np.all(union.world[0, n - k :] <= ext.world[0])
        assert np.all(union.world[1, n - k :] >= ext.world[1])
        assert np.all(union.step[n - k :] <= ext.step)
    # tight: every bound and step is attained by some layer covering that axis
    for axis in range(n):
        covering = [e for e in extents if e.step.size >= n - axis]
        offsets = [axis - (n - e.step.size) for e in covering]
        assert union.world[0, axis] in [
            e.world[0, o] for e, o in zip(covering, offsets, strict=True)
        ]
        assert union.world[1, axis] in [
            e.world[1, o] for e, o in zip(covering, offsets, strict=True)
        ]
        assert union.step[axis] in [e.step[o] for e, o in zip(covering, offsets, strict=True)]
