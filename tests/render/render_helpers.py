"""Helpers for render tests: plans with exact pixel geometry and numpy references."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tilescope.render import CameraView, Draw, RenderBackend, RenderPlan

BackendFactory = Callable[[tuple[int, int]], RenderBackend]
"""The ``make_backend`` fixture: creates a headless backend of a given (height, width)."""


def expand(image: np.ndarray, k: int) -> np.ndarray:
    """Each pixel of ``image`` as a k x k block (what nearest sampling at zoom k shows)."""
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1)


def plan_2d(layers: tuple[Draw, ...], shape: tuple[int, int], k: int) -> RenderPlan:
    """A plan showing data of ``shape`` with k screen pixels per data pixel, filling the canvas."""
    h, w = shape
    return RenderPlan(
        ndisplay=2,
        camera=CameraView(center=((h - 1) / 2, (w - 1) / 2), zoom=float(k)),
        layers=layers,
        canvas_size=(h * k, w * k),
    )


def render(backend: RenderBackend, plan: RenderPlan) -> np.ndarray:
    """Apply ``plan`` and return the screenshot as int16 (differences do not wrap)."""
    backend.apply(plan)
    return backend.screenshot().astype(np.int16)


def make_pending(backend: RenderBackend) -> None:
    """Run ``prepare`` steps until every layer the frames left for later has its visual (a
    frame makes no new tiled visual: see the backend's ``_sync_layers``)."""
    while backend.pending_layers:
        backend.prepare()


def shot_3d(
    backend: RenderBackend,
    draw: Draw,
    center: tuple[float, float, float],
    k: int,
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """Draw one 3D layer with k screen pixels per voxel (the backend's canvas size) and
    return the screenshot as int16 (differences do not wrap)."""
    plan = RenderPlan(
        ndisplay=3,
        camera=CameraView(center=center, zoom=float(k), angles=angles),
        layers=(draw,),
        canvas_size=backend.canvas_size,
    )
    return render(backend, plan)


def to_u8(rgb: np.ndarray) -> np.ndarray:
    """Float colours in [0, 1] -> uint8 as the framebuffer stores them."""
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.int16)
