"""From the viewer's models and latest slices to one :class:`~tilescope.render.plan.RenderPlan`.

Pure functions, run on the main thread once per flush: :func:`build_plan` resolves the frame
(camera, dims and each layer's display settings over its latest slice response) and
:func:`plan_key` gives a cheap equality key, so an unchanged frame is not handed to the
backend again. Neither reads layer data: slices are already in RAM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Literal, cast

import numpy as np

from tilescope.models.layers import Image, Labels, Layer, Points
from tilescope.models.viewer_model import ViewerModel
from tilescope.render.plan import (
    CameraView,
    Draw,
    ImageDraw,
    LabelColormap,
    LabelsDraw,
    PointsDraw,
    RenderPlan,
    TiledDraw,
    TilePage,
    TileQuad,
)
from tilescope.slicing.requests import PointsSliceResponse, SliceResponse
from tilescope.tiles.convert import stride_transform

__all__ = ["build_plan", "plan_key"]


def build_plan(
    model: ViewerModel,
    responses: Mapping[int, SliceResponse],
    tiled: Mapping[int, TiledDraw] | None = None,
) -> RenderPlan:
    """The frame ``model`` shows, each layer drawn from its tiled draw in ``tiled`` or else
    its latest slice in ``responses`` (both keyed by ``layer_id``); layers with neither, or
    sliced for another ``ndisplay``, are left out."""
    dims = model.dims.state
    ndisplay: Literal[2, 3] = 3 if dims.ndisplay == 3 else 2
    cam = model.camera.state
    center = tuple(cam.center)[-ndisplay:]
    center = (0.0,) * (ndisplay - len(center)) + center
    draws: list[Draw] = []
    for item in model.layers:
        layer = cast(Layer, item)
        draw: Draw | None = None if tiled is None else tiled.get(layer.layer_id)
        resp = responses.get(layer.layer_id)
        if draw is None and resp is not None:
            draw = _make_draw(layer, resp)
        if draw is not None and draw.ndisplay == ndisplay:
            draws.append(draw)
    return RenderPlan(
        ndisplay=ndisplay,
        camera=CameraView(
            center=center,
            zoom=cam.zoom,
            angles=tuple(cam.angles),  # type: ignore[arg-type]
            perspective=cam.perspective,
        ),
        layers=tuple(draws),
        canvas_size=model.canvas_size,
    )


def plan_key(plan: RenderPlan) -> tuple[Any, ...]:
    """Cheap equality key of a plan: what a backend would draw differently.

    Tile uploads are left out: a plan that carries uploads is always applied (they are
    one-shot copies into the atlas, not part of what the frame looks like).
    """
    layers = tuple(
        (type(d).__name__, *(_identity_key(getattr(d, name)) for name in _key_fields(type(d))))
        for d in plan.layers
    )
    return (plan.ndisplay, plan.camera, plan.canvas_size, plan.background, layers)


def _key_fields(kind: type[Any]) -> tuple[str, ...]:
    """The fields of a draw type that its key compares (every field but one-shot ones)."""
    names = _KEY_FIELDS.get(kind)
    if names is None:
        names = _KEY_FIELDS[kind] = tuple(f.name for f in fields(kind) if f.name not in _ONE_SHOT)
    return names


_KEY_FIELDS: dict[type[Any], tuple[str, ...]] = {}


_ONE_SHOT = frozenset({"uploads"})
#: Item types of tuples a key keeps as they are: their equality is plain value equality.
_PLAIN = frozenset({TileQuad, TilePage, int, float, str, bool, type(None)})


def _identity_key(value: Any) -> Any:
    """A hashable stand-in for one draw field's value.

    Large arrays (slices, point sets) are left out: every draw carries ``data_version``, the
    id of the slice response it came from, which changes whenever they do.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple and all(type(v) in _PLAIN for v in value):
        return value  # quads and pages: compared as they are (hashing them is dear)
    if isinstance(value, LabelColormap):  # rebuilt each plan; equal when its content is
        return ("labels", value.version, value.background, value.default, *value.colors.items())
    if isinstance(value, np.ndarray):
        # Small arrays (transforms) are copied per plan: compare their values.
        return ("v", value.shape, value.tobytes()) if value.size <= 64 else "data_version"
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


def _make_draw(layer: Layer, resp: SliceResponse) -> Draw | None:
    """The draw for one layer from its model (display settings) and latest slice."""
    common: dict[str, Any] = {
        "key": layer.layer_id,
        "data_version": resp.request.id,  # one per slice response: new data, new version
        "opacity": layer.opacity,
        "blending": layer.blending,
        "visible": layer.visible,
    }
    if isinstance(resp, PointsSliceResponse):
        if not isinstance(layer, Points) or resp.coords.shape[0] == 0:
            return None
        return PointsDraw(
            coords=resp.coords,
            sizes=resp.sizes,
            face_colors=resp.face_colors,
            edge_colors=resp.edge_colors,
            edge_width=layer.edge_width,
            edge_width_is_relative=layer.edge_width_is_relative,
            **common,
        )
    if resp.empty:
        return None
    # what the worker made texture-ready (strided, converted, labels indexed), else raw
    data = resp.data if resp.texture is None else resp.texture
    transform = (
        stride_transform(resp.slice_to_world, resp.strides)
        if resp.strides
        else (resp.slice_to_world)
    )
    if isinstance(layer, Labels):
        colormap = LabelColormap(
            colors=layer.color,
            default=layer.default_colors,
            background=layer.background_label,
            version=layer.color_version,
        )
        return LabelsDraw(
            data=data, transform=transform, colormap=colormap, table=resp.table, **common
        )
    if isinstance(layer, Image):
        return ImageDraw(
            data=data,
            transform=transform,
            contrast_limits=layer.contrast_limits,
            colormap=layer.colormap,
            rgb=layer.rgb,
            gamma=layer.gamma,
            interpolation=layer.interpolation,
            rendering=layer.rendering,  # type: ignore[arg-type]
            iso_threshold=layer.iso_threshold,
            **common,
        )
    return None
