"""Dimensions of the world: which region of n-D space is in view.

INTERFACE STUB (being completed): ``DimsState`` and ``RangeTuple`` are the frozen
values other modules consume; the evented ``Dims`` model wraps a ``DimsState``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class RangeTuple(NamedTuple):
    """World extent of one axis: ``start`` and ``stop`` inclusive, ``step`` per slider tick."""

    start: float
    stop: float
    step: float


@dataclass(frozen=True, slots=True)
class DimsState:
    """A frozen snapshot of :class:`Dims`; what slicing and rendering read.

    All per-axis tuples have length ``ndim`` and are indexed by *world axis*.
    ``order`` is a permutation of ``range(ndim)``; the last ``ndisplay`` entries
    are the displayed axes.
    """

    ndim: int
    ndisplay: int
    order: tuple[int, ...]
    axis_labels: tuple[str, ...]
    range: tuple[RangeTuple, ...]
    point: tuple[float, ...]
    margin_left: tuple[float, ...]
    margin_right: tuple[float, ...]

    @property
    def displayed(self) -> tuple[int, ...]:
        """World axes shown on the canvas, in display order."""
        return self.order[-self.ndisplay :]

    @property
    def not_displayed(self) -> tuple[int, ...]:
        """World axes that are sliced (one slider each)."""
        return self.order[: -self.ndisplay]

    @property
    def thickness(self) -> tuple[float, ...]:
        """Width of the thick-slicing window per axis (``margin_left + margin_right``)."""
        return tuple(lo + hi for lo, hi in zip(self.margin_left, self.margin_right, strict=True))
