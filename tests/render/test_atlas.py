"""Texture-atlas bookkeeping (no GL): slots, pages, budget, LRU eviction, protected tiles."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.errors import ConfigError
from tilescope.render.atlas import PageSpec, Slot, TextureAtlas, VramBudget

PAGE = 512 * 512  # bytes of a 512² page at one byte per texel


def small_atlas(budget: VramBudget) -> TextureAtlas[str]:
    """256² slots in 512² pages: four slots per page, one byte per texel."""
    return TextureAtlas(budget, bytes_per_texel=1, slot_shape=(256, 256), page_shape=(512, 512))


NONE: frozenset[str] = frozenset()

# -- shared pages ----------------------------------------------------------------


def test_slots_fill_a_page_row_major_then_a_new_page() -> None:
    budget = VramBudget(10 * PAGE)
    atlas = small_atlas(budget)
    slots = [atlas.allocate(k, (256, 256), NONE) for k in "abcde"]
    assert slots[:4] == [
        Slot(0, 0, 0, (256, 256)),
        Slot(0, 0, 256, (256, 256)),
        Slot(0, 256, 0, (256, 256)),
        Slot(0, 256, 256, (256, 256)),
    ]
    assert slots[4] == Slot(1, 0, 0, (256, 256))
    assert atlas.pages == (
        PageSpec(0, (512, 512), (256, 256), single=False),
        PageSpec(1, (512, 512), (256, 256), single=False),
    )
    assert budget.used == atlas.used_bytes == 2 * PAGE
    assert len(atlas) == 5
    assert "e" in atlas
    assert set(atlas.keys) == set("abcde")
    assert atlas.lookup("c") == slots[2]
    assert atlas.lookup("z") is None


def test_the_next_page_is_announced_when_a_quarter_of_a_page_is_left_and_it_fits() -> None:
    """``upcoming_page``: what the renderer makes ahead of need, so it must be the page the
    next allocations will make, and only once it is near (its texture costs memory)."""
    budget = VramBudget(2 * PAGE + PAGE // 2)
    atlas = TextureAtlas[str](
        budget, bytes_per_texel=1, slot_shape=(128, 128), page_shape=(512, 512)
    )
    assert atlas.upcoming_page() == (512, 512)  # nothing free: the first page is next
    for i, key in enumerate("abcdefghijkl"):  # 16 slots a page: announced at 3 free
        atlas.allocate(key, (128, 128), NONE)
        assert atlas.upcoming_page() == ((512, 512) if i >= 12 else None), i
    for key in "mnopq":
        atlas.allocate(key, (128, 128), NONE)
    assert atlas.pages[-1] == PageSpec(1, (512, 512), (128, 128), single=False)
    for key in "rstuvwxyz0123":
        atlas.allocate(key, (128, 128), NONE)
    # 2 slots left, but only half a page of budget: the next page would be partial
    assert atlas.upcoming_page() is None


def test_atlases_sharing_a_budget_never_announce_more_pages_than_it_has_room_for() -> None:
    budget = VramBudget(3 * PAGE)  # room for one more page once each atlas has one
    atlases = [small_atlas(budget), small_atlas(budget)]
    for atlas, name in zip(atlases, "ab", strict=True):
        for i in range(4):  # a full page each: nothing free, the next page is near
            atlas.allocate(f"{name}{i}", (256, 256), NONE)
    assert atlases[0].upcoming_page() == (512, 512)
    assert atlases[1].upcoming_page() is None  # the one page of room is announced
    assert atlases[0].upcoming_page() == (512, 512)  # announcing again is not counted twice
    atlases[0].clear()
    assert atlases[1].upcoming_page() == (512, 512)
    atlases[1].allocate("b4", (256, 256), NONE)  # the announced page comes
    assert atlases[1].upcoming_page() is None  # 3 of 4 slots free: nothing near
    assert atlases[0].upcoming_page() == (512, 512)  # its room is free again


def test_partial_edge_tiles_take_a_shared_slot() -> None:
    atlas = small_atlas(VramBudget(PAGE))
    assert atlas.allocate("edge", (100, 256), NONE) == Slot(0, 0, 0, (256, 256))
    assert atlas.allocate("corner", (3, 7), NONE) == Slot(0, 0, 256, (256, 256))
    assert len(atlas.pages) == 1


def test_a_released_slot_is_reused_before_a_new_page() -> None:
    budget = VramBudget(10 * PAGE)
    atlas = small_atlas(budget)
    for k in "abcd":
        atlas.allocate(k, (256, 256), NONE)
    freed = atlas.lookup("b")
    assert atlas.release("b")
    assert not atlas.release("b")
    assert "b" not in atlas
    assert atlas.allocate("e", (256, 256), NONE) == freed
    assert len(atlas.pages) == 1
    assert budget.used == PAGE
    assert atlas.take_evicted() == ()


def test_a_full_atlas_evicts_the_least_recently_touched_key() -> None:
    atlas = small_atlas(VramBudget(PAGE))  # room for one page: four slots
    for k in "abcd":
        atlas.allocate(k, (256, 256), NONE)
    atlas.touch(["a"])  # now b is the oldest
    slot_b = atlas.lookup("b")
    assert atlas.allocate("e", (256, 256), NONE) == slot_b
    assert atlas.take_evicted() == ("b",)
    assert atlas.take_evicted() == ()
    atlas.touch(["c", "zzz"])  # absent keys are ignored; order: a e c ... d oldest
    assert atlas.allocate("f", (256, 256), NONE) is not None
    assert atlas.take_evicted() == ("d",)
    atlas.allocate("a", (256, 256), NONE)  # allocating a resident key touches it
    atlas.allocate("g", (256, 256), NONE)
    assert atlas.take_evicted() == ("e",)
    assert set(atlas.keys) == set("acfg")
    assert len(atlas.pages) == 1


def test_a_full_atlas_never_drops_a_protected_key() -> None:
    atlas = small_atlas(VramBudget(PAGE))
    for k in "abcd":
        atlas.allocate(k, (256, 256), NONE)
    before = {k: atlas.lookup(k) for k in "abcd"}
    assert atlas.allocate("e", (256, 256), frozenset("abcde")) is None
    assert {k: atlas.lookup(k) for k in "abcd"} == before
    assert atlas.take_evicted() == ()
    # only the unprotected one goes, though it is the most recently touched
    atlas.touch(["c"])
    assert atlas.allocate("e", (256, 256), frozenset("abd")) == before["c"]
    assert atlas.take_evicted() == ("c",)


def test_several_pages_up_to_the_budget_then_eviction() -> None:
    budget = VramBudget(3 * PAGE)
    atlas = small_atlas(budget)
    keys = [f"t{i}" for i in range(12)]
    for k in keys:
        assert atlas.allocate(k, (256, 256), NONE) is not None
    assert [p.page for p in atlas.pages] == [0, 1, 2]
    assert atlas.allocate("new", (256, 256), NONE) == Slot(0, 0, 0, (256, 256))
    assert atlas.take_evicted() == ("t0",)
    assert budget.used == 3 * PAGE


def test_the_last_page_is_smaller_when_only_some_slot_rows_fit_the_budget() -> None:
    budget = VramBudget(PAGE + PAGE // 2 + 100)
    atlas = small_atlas(budget)
    for k in range(6):
        atlas.allocate(str(k), (256, 256), NONE)
    assert [p.shape for p in atlas.pages] == [(512, 512), (256, 512)]
    assert budget.used == PAGE + PAGE // 2
    assert atlas.allocate("6", (256, 256), NONE) is not None
    assert atlas.take_evicted() == ("0",)


def test_page_shape_is_clipped_to_the_largest_texture_and_whole_slots() -> None:
    atlas = TextureAtlas[str](
        VramBudget(10**9),
        bytes_per_texel=4,
        slot_shape=(256, 200),
        page_shape=(4096, 4096),
        max_texture=1024,
    )
    assert atlas.page_shape == (1024, 1000)
    atlas.allocate("a", (256, 200), NONE)
    (page,) = atlas.pages
    assert page.grid == (4, 5)
    assert page.nslots == 20
    assert atlas.used_bytes == 1024 * 1000 * 4


@pytest.mark.parametrize(
    ("bpt", "cap", "shape"),
    [
        (4, 4 << 20, (512, 2048)),  # float: slot rows dropped
        (2, 4 << 20, (1024, 2048)),
        (1, 4 << 20, (2048, 2048)),  # already within the cap
        (16, 4 << 20, (256, 1024)),  # one row of slots is over: columns dropped too
        (16, 1, (256, 256)),  # never less than one slot
    ],
)
def test_a_shared_page_keeps_within_its_byte_cap(
    bpt: int, cap: int, shape: tuple[int, int]
) -> None:
    atlas = TextureAtlas[str](
        VramBudget(10**9),
        bytes_per_texel=bpt,
        slot_shape=(256, 256),
        page_shape=(2048, 2048),
        max_page_bytes=cap,
    )
    assert atlas.page_shape == shape
    atlas.allocate("a", (256, 256), NONE)
    (page,) = atlas.pages
    assert page.shape == shape
    assert atlas.used_bytes == shape[0] * shape[1] * bpt
    assert atlas.allocate("b", (256, 1024), NONE) is not None  # a large tile: a page of its own


# -- single pages for large tiles ---------------------------------------------------


def test_a_large_tile_gets_a_page_of_exactly_its_shape() -> None:
    budget = VramBudget(10**9)
    atlas = small_atlas(budget)
    root = atlas.allocate("root", (1024, 1000), NONE)
    whole = atlas.allocate("whole", (300, 200), NONE)
    assert root == Slot(0, 0, 0, (1024, 1000))
    assert whole == Slot(1, 0, 0, (300, 200))
    assert atlas.pages == (
        PageSpec(0, (1024, 1000), (1024, 1000), single=True),
        PageSpec(1, (300, 200), (300, 200), single=True),
    )
    assert budget.used == 1024 * 1000 + 300 * 200
    assert atlas.is_single((257, 1))
    assert not atlas.is_single((256, 256))


def test_a_free_single_page_at_least_as_large_is_reused() -> None:
    budget = VramBudget(10**9)
    atlas = small_atlas(budget)
    atlas.allocate("big", (1024, 1024), NONE)
    atlas.allocate("mid", (600, 600), NONE)
    atlas.release("big")
    atlas.release("mid")
    used = budget.used
    # the smallest free page that fits
    assert atlas.allocate("new", (512, 300), NONE) == Slot(1, 0, 0, (600, 600))
    assert atlas.allocate("new2", (700, 700), NONE) == Slot(0, 0, 0, (1024, 1024))
    assert budget.used == used
    assert len(atlas.pages) == 2


def test_a_large_tile_evicts_the_oldest_unprotected_large_tile_whose_page_fits() -> None:
    budget = VramBudget(2 * 1024 * 1024 + PAGE)
    atlas = small_atlas(budget)
    atlas.allocate("r1", (1024, 1024), NONE)
    atlas.allocate("r2", (1024, 1024), NONE)
    assert atlas.allocate("small", (256, 256), NONE) is not None  # never evicted for a big tile
    assert atlas.allocate("r3", (1024, 1024), frozenset({"r1", "r2", "r3"})) is None
    assert atlas.take_evicted() == ()
    assert atlas.allocate("r3", (1000, 900), frozenset({"r1"})) == Slot(1, 0, 0, (1024, 1024))
    assert atlas.take_evicted() == ("r2",)
    assert "small" in atlas


def test_evicted_large_pages_are_freed_to_make_room_for_a_larger_one() -> None:
    budget = VramBudget(450 * 450)
    atlas = small_atlas(budget)
    atlas.allocate("a", (300, 300), NONE)
    atlas.allocate("b", (260, 260), NONE)
    assert budget.used == 300 * 300 + 260 * 260
    assert atlas.allocate("c", (400, 400), NONE) == Slot(2, 0, 0, (400, 400))
    assert atlas.take_evicted() == ("a", "b")
    assert atlas.pages == (PageSpec(2, (400, 400), (400, 400), single=True),)
    assert budget.used == 400 * 400


def test_nothing_is_evicted_when_evicting_would_not_make_room() -> None:
    budget = VramBudget(450 * 450)
    atlas = small_atlas(budget)
    atlas.allocate("a", (300, 300), NONE)
    atlas.allocate("b", (260, 260), NONE)
    assert atlas.allocate("c", (460, 460), NONE) is None  # larger than the whole budget
    assert atlas.allocate("c", (400, 400), frozenset({"b"})) is None  # a alone is not enough
    assert set(atlas.keys) == {"a", "b"}
    assert atlas.take_evicted() == ()


def test_empty_pages_are_freed_when_another_page_needs_their_bytes() -> None:
    budget = VramBudget(PAGE)
    atlas = small_atlas(budget)
    atlas.allocate("big", (400, 400), NONE)
    atlas.release("big")  # its page stays, holding nothing
    assert len(atlas.pages) == 1
    assert atlas.allocate("a", (256, 256), NONE) == Slot(1, 0, 0, (256, 256))
    assert [p.single for p in atlas.pages] == [False]
    assert budget.used == PAGE
    assert atlas.take_evicted() == ()


def test_trim_and_clear_give_the_bytes_back() -> None:
    budget = VramBudget(10 * PAGE)
    atlas = small_atlas(budget)
    atlas.allocate("big", (400, 400), NONE)
    atlas.allocate("a", (256, 256), NONE)
    atlas.release("big")
    assert atlas.trim() == 400 * 400
    assert budget.used == PAGE
    atlas.clear()
    assert budget.used == 0
    assert len(atlas) == 0
    assert atlas.pages == ()
    assert atlas.allocate("b", (256, 256), NONE) == Slot(2, 0, 0, (256, 256))  # ids not reused


def test_two_atlases_share_one_budget() -> None:
    budget = VramBudget(2 * PAGE)
    a, b = small_atlas(budget), small_atlas(budget)
    for k in "1234":
        a.allocate(k, (256, 256), NONE)
    for k in "wxyz":
        b.allocate(k, (256, 256), NONE)
    assert budget.used == 2 * PAGE
    # a is full and the budget too: a evicts its own oldest, never b's tiles
    assert a.allocate("5", (256, 256), NONE) is not None
    assert a.take_evicted() == ("1",)
    assert set(b.keys) == set("wxyz")
    # b's tiles all protected and no room: None, nothing dropped
    assert b.allocate("v", (256, 256), frozenset("wxyzv")) is None
    a.clear()
    assert budget.used == PAGE
    assert b.allocate("v", (256, 256), frozenset("wxyzv")) == Slot(1, 0, 0, (256, 256))


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="budget"):
        VramBudget(-1)
    with pytest.raises(ConfigError, match="does not fit"):
        TextureAtlas[str](VramBudget(1), bytes_per_texel=1, slot_shape=(512, 512), max_texture=256)
    with pytest.raises(ConfigError, match="positive"):
        TextureAtlas[str](VramBudget(1), bytes_per_texel=0)
    atlas = TextureAtlas[str](VramBudget(10**9), bytes_per_texel=1, max_texture=2048)
    with pytest.raises(ConfigError, match="largest texture"):
        atlas.allocate("huge", (4096, 100), NONE)
    with pytest.raises(ValueError, match="positive"):
        atlas.allocate("empty", (0, 10), NONE)
    atlas.allocate("a", (10, 10), NONE)
    with pytest.raises(ValueError, match="does not fit its slot"):
        atlas.allocate("a", (300, 10), NONE)


def test_budget_accounting() -> None:
    budget = VramBudget(100)
    assert budget.try_reserve(60)
    assert not budget.try_reserve(41)
    assert budget.try_reserve(40)
    assert (budget.used, budget.available, budget.budget) == (100, 0, 100)
    budget.release(100)
    with pytest.raises(ValueError, match="cannot release"):
        budget.release(1)
    with pytest.raises(ValueError, match="negative"):
        budget.try_reserve(-1)


# -- property test against a reference model ----------------------------------------

SLOT = (4, 4)
SHAPES = [(4, 4), (3, 4), (4, 1), (1, 1), (2, 3), (4, 2), (5, 4), (8, 8), (6, 9), (4, 5), (12, 12)]
N_KEYS = 40


def key_shape(key: int) -> tuple[int, int]:
    """Each key has one tile shape (as a real tile key does)."""
    return SHAPES[key % len(SHAPES)]


@dataclass
class Model:
    """What the atlas must know: which keys are resident and when each was last used."""

    last_used: dict[int, int] = field(default_factory=dict)


#: operation kinds, allocation most often (clearing often would keep the atlas empty)
KINDS = ["alloc"] * 12 + ["touch"] * 3 + ["release"] * 2 + ["trim", "clear"]
Op = tuple[str, int, int, tuple[int, ...]]  # kind, which atlas, key, keys (protected / touched)
op = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 1),
    st.integers(0, N_KEYS - 1),
    st.lists(st.integers(0, N_KEYS - 1), max_size=20).map(tuple),
)


def check_invariants(budget: VramBudget, atlases: list[TextureAtlas[int]]) -> None:
    assert budget.used == sum(a.used_bytes for a in atlases) <= budget.budget
    for atlas in atlases:
        pages = {p.page: p for p in atlas.pages}
        for p in pages.values():
            assert p.shape[0] % p.slot_shape[0] == 0
            assert p.shape[1] % p.slot_shape[1] == 0
            assert p.single == (p.slot_shape == p.shape)
        taken: dict[int, list[Slot]] = {}
        for key in atlas.keys:
            slot = atlas.lookup(key)
            assert slot is not None
            page = pages[slot.page]
            assert slot.shape == page.slot_shape
            assert slot.y >= 0
            assert slot.y + slot.shape[0] <= page.shape[0]
            assert slot.x >= 0
            assert slot.x + slot.shape[1] <= page.shape[1]
            th, tw = key_shape(key)
            assert th <= slot.shape[0]
            assert tw <= slot.shape[1]
            assert page.single == atlas.is_single((th, tw))
            for other in taken.get(slot.page, []):
                assert not (
                    slot.y < other.y + other.shape[0]
                    and other.y < slot.y + slot.shape[0]
                    and slot.x < other.x + other.shape[1]
                    and other.x < slot.x + slot.shape[1]
                ), f"{key} overlaps another slot"
            taken.setdefault(slot.page, []).append(slot)


def check_announcement(atlas: TextureAtlas[int]) -> None:
    """The next page is announced only once fewer than a quarter of a page's slots are free
    (counted from the public view: shared pages' slots minus resident shared keys), and
    then whenever the budget has room for it."""
    shared = sum(p.nslots for p in atlas.pages if not p.single)
    free = shared - sum(not atlas.is_single(key_shape(k)) for k in atlas.keys)
    (ph, pw), (sh, sw) = atlas.page_shape, atlas.slot_shape
    if free >= max(1, (ph // sh) * (pw // sw) // 4):
        assert atlas.upcoming_page() is None
    elif atlas.budget.available >= 2 * ph * pw:  # room beside the other atlas's announcement
        assert atlas.upcoming_page() == (ph, pw)


def check_allocation(
    atlas: TextureAtlas[int],
    budget: VramBudget,
    model: Model,
    key: int,
    protected: frozenset[int],
    before: dict[int, Slot],
    before_pages: tuple[PageSpec, ...],
    before_room: int,
    result: Slot | None,
) -> None:
    """The atlas's choice is one the rules allow (checked against the pre-call state)."""
    shape = key_shape(key)
    single = atlas.is_single(shape)
    evicted = set(before) - set(atlas.keys)
    assert set(atlas.take_evicted()) == evicted
    assert not evicted & protected, "a protected key was evicted"
    if key in before:
        assert result == before[key]
        assert not evicted
        return
    same_class = {k: s for k, s in before.items() if atlas.is_single(key_shape(k)) == single}
    unprotected = sorted(
        (k for k in same_class if k not in protected), key=lambda k: model.last_used[k]
    )
    pages_by_id = {p.page: p for p in before_pages}
    unoccupied = [
        p
        for p in before_pages
        if not any(s.page == p.page for s in before.values())  # holds nothing
    ]
    if result is None:
        assert not evicted
        assert atlas.pages == before_pages
        if not single:
            free = sum(p.nslots for p in before_pages if not p.single) - len(same_class)
            assert free == 0
            assert not unprotected
            assert before_room < SLOT[0] * atlas.page_shape[1]
        else:
            assert not any(p.single and _fits(shape, p.shape) for p in unoccupied)
            fitting = [k for k in unprotected if _fits(shape, pages_by_id[before[k].page].shape)]
            assert not fitting
            freeable = sum(_bytes(pages_by_id[before[k].page]) for k in unprotected)
            assert before_room + freeable < shape[0] * shape[1]
        return
    assert key in atlas
    assert all(atlas.is_single(key_shape(k)) == single for k in evicted)
    new_pages = {p.page for p in atlas.pages} - set(pages_by_id)
    if not single:
        free = sum(p.nslots for p in before_pages if not p.single) - len(same_class)
        if free:
            assert not evicted
            assert not new_pages, "a new page while a slot was free"
        elif new_pages:
            assert not evicted
        else:
            assert evicted == {unprotected[0]}, "not the least recently used unprotected key"
            assert result == before[unprotected[0]]
    elif evicted:
        assert not any(_fits(shape, p.shape) for p in unoccupied if p.single)
        order = unprotected
        fits = [_fits(shape, pages_by_id[before[k].page].shape) for k in order]
        victims = [k for k in order if k in evicted]
        if len(victims) == 1 and fits[order.index(victims[0])]:
            assert not any(fits[: order.index(victims[0])])  # the oldest page that fits
        else:
            assert victims == order[: len(victims)]  # the oldest ones, freed for a new page
            assert not any(fits[: len(victims)])
            short = sum(_bytes(pages_by_id[before[k].page]) for k in victims[:-1])
            assert before_room + short < shape[0] * shape[1], "evicted more than needed"


def _fits(inner: tuple[int, int], outer: tuple[int, int]) -> bool:
    return inner[0] <= outer[0] and inner[1] <= outer[1]


def _bytes(page: PageSpec) -> int:
    return page.shape[0] * page.shape[1]


@settings(max_examples=100, deadline=None)
@given(budget_bytes=st.integers(0, 250), ops=st.lists(op, min_size=30, max_size=80))
def test_random_operations_follow_the_rules(budget_bytes: int, ops: list[Op]) -> None:
    budget = VramBudget(budget_bytes)
    atlases = [
        TextureAtlas[int](
            budget, bytes_per_texel=1, slot_shape=SLOT, page_shape=(8, 8), max_texture=12
        )
        for _ in range(2)
    ]
    models = [Model(), Model()]
    tick = 0
    for name, which, key, keys in ops:
        atlas, model = atlases[which], models[which]
        if name == "alloc":
            protected = frozenset(set(keys) & set(atlas.keys)) | ({key} if key % 2 else frozenset())
            before = {k: s for k in atlas.keys if (s := atlas.lookup(k)) is not None}
            before_pages = atlas.pages
            before_room = budget.available + sum(
                _bytes(p)
                for p in before_pages
                if not any(s.page == p.page for s in before.values())
            )
            hint = atlas.upcoming_page()
            result = atlas.allocate(key, key_shape(key), protected)
            made = [p for p in atlas.pages if p not in before_pages and not p.single]
            if hint is not None and made:  # what was announced came, evicting nothing
                assert [p.shape for p in made] == [hint]
                assert not set(before) - set(atlas.keys)
            check_allocation(
                atlas, budget, model, key, protected, before, before_pages, before_room, result
            )
            for gone in set(model.last_used) - set(atlas.keys):
                del model.last_used[gone]
            if result is not None:
                model.last_used[key] = tick
                tick += 1
        elif name == "touch":
            atlas.touch(keys)
            for k in keys:
                if k in model.last_used:
                    model.last_used[k] = tick
                    tick += 1
        elif name == "release":
            assert atlas.release(key) == (key in model.last_used)
            model.last_used.pop(key, None)
        elif name == "trim":
            used = budget.used
            freed = atlas.trim()
            assert budget.used == used - freed
            held = {s.page for k in atlas.keys if (s := atlas.lookup(k)) is not None}
            assert {p.page for p in atlas.pages} == held
        else:
            atlas.clear()
            model.last_used.clear()
            assert atlas.used_bytes == 0
        assert set(atlas.keys) == set(model.last_used)
        # `pages` is kept between changes: it must always be the pages there are now
        assert atlas.pages == tuple(atlas._pages[p].spec for p in sorted(atlas._pages))
        check_invariants(budget, atlases)
        for a in atlases:
            check_announcement(a)
