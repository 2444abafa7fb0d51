"""Texture-atlas slot bookkeeping: where each resident tile lives in GPU memory.

Backend-free: this module decides *where* tiles go; the backend owns the
textures (one per :class:`PageSpec`) and uploads each tile as one sub-image at
its :class:`Slot`.  Pages are never resized, so adding a tile never re-uploads a
whole texture.

Two slot classes:

* **shared** -- a tile that fits ``slot_shape`` (partial edge tiles included)
  takes one slot of a shared page, a grid of ``slot_shape`` slots;
* **single** -- a larger tile (a large root tile, a small whole image) gets a
  page of its own, exactly its shape (or reuses a free single page at least as
  large).

A new page is made only when no free slot of the class exists and the shared
:class:`VramBudget` allows it; otherwise the least recently touched tile of the
same class that is *not protected* (not in the frame's draw set) is evicted and
its slot reused.  When every candidate is protected, :meth:`TextureAtlas.allocate`
returns ``None``: the budget cannot hold the view, and the caller says so in the
layer status; a protected tile is never dropped.  Pages that hold nothing (a
released single tile's page, an emptied shared page) are kept for reuse and
freed only when their bytes are needed for another page (or by :meth:`trim`).

Deterministic: recency is the order of :meth:`touch` / :meth:`allocate` calls,
no clock.  Not thread-safe: used by the render thread only.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Hashable, Iterable, KeysView, Set
from dataclasses import dataclass
from typing import Generic, TypeVar

from tilescope.errors import ConfigError

__all__ = ["PageSpec", "Slot", "TextureAtlas", "VramBudget"]

K = TypeVar("K", bound=Hashable)
_OWNERS = itertools.count()  # atlas ids for VramBudget.announce


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One backing texture: ``shape`` texels cut into ``slot_shape`` slots."""

    page: int
    """Page id, unique within its atlas for the atlas's lifetime (never reused)."""
    shape: tuple[int, int]
    slot_shape: tuple[int, int]
    single: bool
    """A page of its own for one large tile (``slot_shape == shape``)."""

    @property
    def grid(self) -> tuple[int, int]:
        """``(rows, cols)`` of slots."""
        return (self.shape[0] // self.slot_shape[0], self.shape[1] // self.slot_shape[1])

    @property
    def nslots(self) -> int:
        """Number of slots."""
        rows, cols = self.grid
        return rows * cols


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a tile lives: texel offset ``(y, x)`` in ``page`` and the slot's capacity ``shape``.

    The tile occupies ``[y, y + tile_h) x [x, x + tile_w)``; the rest of the slot
    holds stale texels, so sample only the tile's own region.
    """

    page: int
    y: int
    x: int
    shape: tuple[int, int]


class VramBudget:
    """Bytes of GPU memory the atlases of one canvas may use together."""

    __slots__ = ("_ahead", "_budget", "_used")

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes < 0:
            raise ConfigError(f"the VRAM budget must be >= 0 bytes, got {budget_bytes}")
        self._budget = int(budget_bytes)
        self._used = 0
        self._ahead: dict[int, int] = {}  # owner -> bytes announced ahead of need

    @property
    def budget(self) -> int:
        """The limit, bytes."""
        return self._budget

    @property
    def used(self) -> int:
        """Bytes reserved now."""
        return self._used

    @property
    def available(self) -> int:
        """Bytes that can still be reserved."""
        return self._budget - self._used

    def try_reserve(self, nbytes: int) -> bool:
        """Reserve ``nbytes`` if they fit the budget; whether they did."""
        if nbytes < 0:
            raise ValueError(f"cannot reserve a negative number of bytes ({nbytes})")
        if self._used + nbytes > self._budget:
            return False
        self._used += nbytes
        return True

    def release(self, nbytes: int) -> None:
        """Give back ``nbytes`` reserved earlier."""
        if not 0 <= nbytes <= self._used:
            raise ValueError(f"cannot release {nbytes} bytes: {self._used} are reserved")
        self._used -= nbytes

    def announce(self, owner: int, nbytes: int) -> bool:
        """Announce that ``owner`` is about to reserve ``nbytes`` (a page whose texture the
        renderer makes ahead of need), if they fit beside what is reserved and what the
        other owners announced; whether they did. An owner has one announcement: this
        replaces it, or withdraws it when the bytes do not fit. Announcing reserves
        nothing: it only keeps the textures made ahead within the budget together."""
        others = sum(b for o, b in self._ahead.items() if o != owner)
        if self._used + others + nbytes > self._budget:
            self._ahead.pop(owner, None)
            return False
        self._ahead[owner] = nbytes
        return True

    def withdraw(self, owner: int) -> None:
        """Drop ``owner``'s announcement, if any."""
        self._ahead.pop(owner, None)

    def __repr__(self) -> str:
        return f"VramBudget(used={self._used}, budget={self._budget})"


class _Page:
    """Mutable state of one page: its spec and which slot indices are taken."""

    __slots__ = ("nbytes", "occupied", "spec")

    def __init__(self, spec: PageSpec, nbytes: int) -> None:
        self.spec = spec
        self.nbytes = nbytes
        self.occupied = 0


@dataclass(frozen=True, slots=True)
class _Entry:
    slot: Slot
    index: int
    """Slot index within the page (row-major)."""
    single: bool


def _fits(inner: tuple[int, int], outer: tuple[int, int]) -> bool:
    return inner[0] <= outer[0] and inner[1] <= outer[1]


class TextureAtlas(Generic[K]):
    """Slots for the resident tiles of one layer; ``K`` is any hashable tile key.

    Parameters
    ----------
    budget
        Shared by every layer's atlas of one canvas.
    bytes_per_texel
        Texture format size (e.g. 2 for ``r16``, 4 for ``rgba8``, 16 for ``rgba32f``).
    slot_shape
        Slot size of the shared pages (the tile shape of the grid).
    page_shape
        Shared page size, clipped to ``max_texture`` and rounded down to whole slots.
    max_texture
        The GPU's largest texture side (``GL_MAX_TEXTURE_SIZE``).
    max_page_bytes
        Most bytes of one shared page (None: no limit): slot rows, then slot columns, are
        dropped to fit, down to one slot. Making a page's texture is one task the main
        thread cannot split, and its cost grows with its bytes: with software OpenGL about
        1 ms per fresh MiB (a 2048² float page, 16 MiB, took 15-50 ms).
    """

    def __init__(
        self,
        budget: VramBudget,
        *,
        bytes_per_texel: int,
        slot_shape: tuple[int, int] = (256, 256),
        page_shape: tuple[int, int] = (2048, 2048),
        max_texture: int = 16384,
        max_page_bytes: int | None = None,
    ) -> None:
        if bytes_per_texel < 1 or max_texture < 1:
            raise ConfigError(
                f"bytes_per_texel ({bytes_per_texel}) and max_texture ({max_texture}) "
                "must be positive"
            )
        if min(slot_shape) < 1 or min(page_shape) < 1:
            raise ConfigError(
                f"slot_shape {slot_shape} and page_shape {page_shape} must be positive"
            )
        sh, sw = slot_shape
        ph = min(page_shape[0], max_texture) // sh * sh
        pw = min(page_shape[1], max_texture) // sw * sw
        if ph < sh or pw < sw:
            raise ConfigError(
                f"slot_shape {slot_shape} does not fit page_shape {page_shape} clipped to "
                f"max_texture {max_texture}; use smaller tiles or a larger page"
            )
        if max_page_bytes is not None:
            slots = max(1, max_page_bytes // (sh * sw * bytes_per_texel))
            cols = min(pw // sw, slots)
            rows = min(ph // sh, max(1, slots // cols))
            ph, pw = rows * sh, cols * sw
        self._budget = budget
        self._owner = next(_OWNERS)  # this atlas in the budget's announcements
        self._bpt = int(bytes_per_texel)
        self._slot_shape = (int(sh), int(sw))
        self._page_shape = (ph, pw)
        self._max_texture = int(max_texture)
        self._pages: dict[int, _Page] = {}
        self._page_specs: tuple[PageSpec, ...] | None = None  # `pages`, until a page changes
        self._shared_slots = -1  # slots of the shared pages, until a page changes (-1: unknown)
        self._next_page = 0
        self._free_slots: list[tuple[int, int]] = []  # heap of (page, index), lazily pruned
        self._entries: dict[K, _Entry] = {}
        self._lru_shared: OrderedDict[K, None] = OrderedDict()  # oldest first
        self._lru_single: OrderedDict[K, None] = OrderedDict()
        self._evicted: list[K] = []

    # -- facts -----------------------------------------------------------------
    @property
    def budget(self) -> VramBudget:
        """The shared budget."""
        return self._budget

    @property
    def slot_shape(self) -> tuple[int, int]:
        """Slot size of the shared pages."""
        return self._slot_shape

    @property
    def page_shape(self) -> tuple[int, int]:
        """Size of a full shared page (after clipping to ``max_texture`` and whole slots)."""
        return self._page_shape

    @property
    def pages(self) -> tuple[PageSpec, ...]:
        """Every backing texture now, by page id (the backend diffs this against its own)."""
        if self._page_specs is None:  # the same tuple every frame until a page comes or goes
            self._page_specs = tuple(self._pages[p].spec for p in sorted(self._pages))
        return self._page_specs

    @property
    def keys(self) -> KeysView[K]:
        """The resident keys (a live view)."""
        return self._entries.keys()

    @property
    def used_bytes(self) -> int:
        """Bytes this atlas's pages take from the budget."""
        return sum(p.nbytes for p in self._pages.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def lookup(self, key: K) -> Slot | None:
        """The slot of ``key``, or None when it is not resident."""
        entry = self._entries.get(key)
        return None if entry is None else entry.slot

    def is_single(self, tile_shape: tuple[int, int]) -> bool:
        """Whether a tile of this shape gets a page of its own (it exceeds ``slot_shape``)."""
        return not _fits(tile_shape, self._slot_shape)

    def upcoming_page(self) -> tuple[int, int] | None:
        """The shape of the shared page this atlas is about to add, or None.

        "About to": fewer than a quarter of a full page's slots are free, and the budget has
        room for a full page now, so the next page will be made at full size without
        evicting anything. The renderer makes that page's texture ahead of need, outside a
        frame: with software OpenGL allocating one takes ~10 ms. The page is announced to
        the budget (:meth:`VramBudget.announce`), so the atlases sharing it never announce
        more pages together than it has room for.
        """
        ph, pw = self._page_shape
        sh, sw = self._slot_shape
        if self._shared_slots < 0:
            self._shared_slots = sum(
                p.spec.nslots for p in self._pages.values() if not p.spec.single
            )
        free = self._shared_slots - len(self._lru_shared)  # one slot per resident shared key
        if free >= max(1, (ph // sh) * (pw // sw) // 4):
            self._budget.withdraw(self._owner)
            return None
        if not self._budget.announce(self._owner, ph * pw * self._bpt):
            return None
        return (ph, pw)

    def withdraw_upcoming(self) -> None:
        """No page is coming after all (the layer is hidden): drop the announcement that
        :meth:`upcoming_page` made, so the budget's room goes to other atlases."""
        self._budget.withdraw(self._owner)

    # -- recency -----------------------------------------------------------------
    def touch(self, keys: Iterable[K]) -> None:
        """Mark ``keys`` drawn this frame: most recently used, in order; absent keys are ignored."""
        entries = self._entries
        for key in keys:
            entry = entries.get(key)
            if entry is not None:
                (self._lru_single if entry.single else self._lru_shared).move_to_end(key)

    # -- allocation ----------------------------------------------------------------
    def allocate(self, key: K, tile_shape: tuple[int, int], protected: Set[K]) -> Slot | None:
        """A slot for ``key``, a tile of ``tile_shape`` texels; None when the budget cannot hold it.

        A key already resident returns its slot and is touched.  Otherwise, in
        this order: a free slot of the class, a new page within the budget
        (freeing pages that hold nothing if that makes room), or the slot of the
        least recently touched key of the class not in ``protected``, which is
        evicted (see :meth:`take_evicted`).  None when every candidate is
        protected: nothing is evicted then.  Raises :class:`ConfigError` for a
        tile larger than ``max_texture``.
        """
        entry = self._entries.get(key)
        if entry is not None:
            if not _fits(tile_shape, entry.slot.shape):
                raise ValueError(
                    f"tile {key!r} of shape {tile_shape} does not fit its slot {entry.slot.shape}"
                )
            (self._lru_single if entry.single else self._lru_shared).move_to_end(key)
            return entry.slot
        th, tw = tile_shape
        if th < 1 or tw < 1:
            raise ValueError(f"tile shape must be positive, got {tile_shape}")
        if not self.is_single(tile_shape):
            placed = self._allocate_shared(protected)
            lru = self._lru_shared
        elif th > self._max_texture or tw > self._max_texture:
            raise ConfigError(
                f"tile {key!r} of shape {tile_shape} exceeds the largest texture the GPU "
                f"allows ({self._max_texture}); use a smaller max_root_size or tile_shape"
            )
        else:
            placed = self._allocate_single((th, tw), protected)
            lru = self._lru_single
        if placed is None:
            return None
        self._entries[key] = placed
        lru[key] = None
        return placed.slot

    def _allocate_shared(self, protected: Set[K]) -> _Entry | None:
        while self._free_slots:
            page_id, index = heapq.heappop(self._free_slots)
            if page_id in self._pages:  # not freed since
                return self._occupy(self._pages[page_id], index)
        page = self._new_shared_page()
        if page is not None:
            for index in range(1, page.spec.nslots):
                heapq.heappush(self._free_slots, (page.spec.page, index))
            return self._occupy(page, 0)
        victim = next((k for k in self._lru_shared if k not in protected), None)
        if victim is None:
            return None
        old = self._evict(victim)
        return self._occupy(self._pages[old.slot.page], old.index)

    def _allocate_single(self, shape: tuple[int, int], protected: Set[K]) -> _Entry | None:
        # 1. a page holding nothing, at least as large (the smallest such)
        free = [
            p
            for p in self._pages.values()
            if p.spec.single and not p.occupied and _fits(shape, p.spec.shape)
        ]
        if free:
            page = min(free, key=lambda p: (p.nbytes, p.spec.page))
            return self._occupy(page, 0)
        # 2. a new page of exactly this shape
        nbytes = shape[0] * shape[1] * self._bpt
        if self._reserve(nbytes):
            return self._occupy(self._add_page(shape, shape, True, nbytes), 0)
        # 3. evict: the oldest unprotected page that fits, or the oldest pages whose bytes make room
        room = self._budget.available + sum(p.nbytes for p in self._unoccupied())
        victims: list[K] = []
        for key in self._lru_single:
            if key in protected:
                continue
            page = self._pages[self._entries[key].slot.page]
            if _fits(shape, page.spec.shape):
                self._evict(key)
                return self._occupy(page, 0)
            victims.append(key)
            room += page.nbytes
            if room >= nbytes:
                break
        else:
            return None
        for key in victims:
            self._free_page(self._evict(key).slot.page)
        reserved = self._reserve(nbytes)
        assert reserved, "eviction planned enough room"
        return self._occupy(self._add_page(shape, shape, True, nbytes), 0)

    def _new_shared_page(self) -> _Page | None:
        """A new shared page within the budget: full size, or fewer slot rows if only those fit."""
        sh, _ = self._slot_shape
        ph, pw = self._page_shape
        row_bytes = sh * pw * self._bpt
        room = self._budget.available + sum(p.nbytes for p in self._unoccupied())
        rows = min(ph // sh, room // row_bytes)
        if rows < 1:
            return None
        nbytes = rows * row_bytes
        reserved = self._reserve(nbytes)
        assert reserved, "room was counted"
        return self._add_page((rows * sh, pw), self._slot_shape, False, nbytes)

    def _reserve(self, nbytes: int) -> bool:
        """Reserve bytes for a page, freeing pages that hold nothing (largest first) if needed."""
        if self._budget.try_reserve(nbytes):
            return True
        empty = sorted(self._unoccupied(), key=lambda p: (-p.nbytes, p.spec.page))
        if self._budget.available + sum(p.nbytes for p in empty) < nbytes:
            return False
        for page in empty:
            self._free_page(page.spec.page)
            if self._budget.try_reserve(nbytes):
                return True
        raise AssertionError("unreachable: the freed pages made room")  # pragma: no cover

    def _unoccupied(self) -> list[_Page]:
        return [p for p in self._pages.values() if not p.occupied]

    def _add_page(
        self, shape: tuple[int, int], slot_shape: tuple[int, int], single: bool, nbytes: int
    ) -> _Page:
        page = _Page(PageSpec(self._next_page, shape, slot_shape, single), nbytes)
        self._pages[self._next_page] = page
        self._page_specs = None
        self._shared_slots = -1
        self._next_page += 1
        return page

    def _free_page(self, page_id: int) -> None:
        page = self._pages.pop(page_id)
        self._page_specs = None
        self._shared_slots = -1
        assert not page.occupied
        self._budget.release(page.nbytes)  # its free slots are pruned lazily from the heap

    def _occupy(self, page: _Page, index: int) -> _Entry:
        spec = page.spec
        cols = spec.grid[1]
        sh, sw = spec.slot_shape
        page.occupied += 1
        slot = Slot(spec.page, (index // cols) * sh, (index % cols) * sw, spec.slot_shape)
        return _Entry(slot, index, spec.single)

    def _evict(self, key: K) -> _Entry:
        """Drop ``key`` (recorded as evicted); its slot is left for the caller to reuse."""
        entry = self._entries.pop(key)
        (self._lru_single if entry.single else self._lru_shared).pop(key)
        self._pages[entry.slot.page].occupied -= 1
        self._evicted.append(key)
        return entry

    # -- release ---------------------------------------------------------------------
    def take_evicted(self) -> tuple[K, ...]:
        """Keys evicted by :meth:`allocate` since the last call (to be uploaded again if drawn)."""
        out = tuple(self._evicted)
        self._evicted.clear()
        return out

    def release(self, key: K) -> bool:
        """Free ``key``'s slot for reuse (its page stays); whether it was resident."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        (self._lru_single if entry.single else self._lru_shared).pop(key)
        self._pages[entry.slot.page].occupied -= 1
        if not entry.single:
            heapq.heappush(self._free_slots, (entry.slot.page, entry.index))
        return True

    def trim(self) -> int:
        """Free every page that holds nothing; the bytes given back to the budget."""
        freed = 0
        for page in self._unoccupied():
            freed += page.nbytes
            self._free_page(page.spec.page)
        return freed

    def clear(self) -> None:
        """Drop every key and page, giving their bytes back to the budget (ids are not reused)."""
        self._budget.withdraw(self._owner)
        for page in self._pages.values():
            self._budget.release(page.nbytes)
        self._pages.clear()
        self._page_specs = None
        self._shared_slots = -1
        self._free_slots.clear()
        self._entries.clear()
        self._lru_shared.clear()
        self._lru_single.clear()
        self._evicted.clear()

    def __repr__(self) -> str:
        return (
            f"TextureAtlas({len(self._entries)} tiles, {len(self._pages)} pages, "
            f"{self.used_bytes} bytes)"
        )
