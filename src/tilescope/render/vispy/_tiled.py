"""The tiled image visual: a layer drawn from tiles kept in texture-atlas pages.

A layer's pages (the backing textures of its atlas) are drawn by one vispy visual per
:data:`PAGES_PER_VISUAL` pages (one, nearly always): triangles, two per
:class:`~tilescope.render.plan.TileQuad`, each vertex saying which of the visual's page
samplers it reads. Visuals stay attached to the scene for the layer's life: attaching or
detaching a vispy visual, and each visual's transform on a camera change, cost the main
thread about a millisecond apiece, which one visual per page paid every frame. A new tile is
one sub-image upload into its page (``Texture2D.set_data(tile, offset=...)``, i.e.
``glTexSubImage2D``): a page is allocated once and never re-uploaded whole, and adding a tile
never rebuilds a shader. The visual and the texture a layer's next page will need are made
ahead, in prepare tasks between frames (:meth:`TiledPages.prepare`).

Everything display-related is a uniform: contrast limits, gamma, the colormap (a small lookup
texture), the label colours (a lookup texture indexed by the tile's label indices), opacity,
and the two marks: placeholder tiles (coarser than ideal) get faint diagonal stripes, failed
tiles a red cross-hatch, so neither passes for final data. With ``debug`` every tile is
outlined in a colour per level. Quads of one layer never overlap (the frame split coarse
tiles around finer ones), so opacity and every blending mode look the same while loading.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from vispy import gloo
from vispy.scene import Node
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from tilescope.render.plan import (
    TEXEL_SCALE,
    TexelName,
    TiledDraw,
    TilePage,
    TileQuad,
)
from tilescope.render.vispy._visuals import lut_texture_array

__all__ = ["CMAP_LUT_SIZE", "PAGES_PER_VISUAL", "TiledPages", "cmap_lut"]

Counter = Callable[[], None]

CMAP_LUT_SIZE = 1024
"""Entries of a colormap's lookup texture (linearly interpolated between entries)."""

PAGES_PER_VISUAL = 8
"""Page samplers per visual (with the lookup texture, 9 texture units: GL 3 guarantees 16)."""

_VERTEX = """
attribute vec2 a_position;
attribute vec2 a_texcoord;
attribute vec4 a_slot;
attribute vec2 a_state;
attribute vec3 a_page;
varying vec2 v_texcoord;
varying vec4 v_slot;
varying vec2 v_state;
varying vec3 v_page;
void main() {
    v_texcoord = a_texcoord;
    v_slot = a_slot;
    v_state = a_state;
    v_page = a_page;
    gl_Position = $transform(vec4(a_position, 0.0, 1.0));
}
"""

# v_state.x: TILE_FINAL / TILE_PLACEHOLDER / TILE_FAILED; v_state.y: the tile's level.
# v_page: (which of the visual's page samplers, page width, page height), the same for the
# whole quad.
_FRAGMENT = """
%(samplers)s
uniform sampler2D u_lut;
uniform vec2 u_lut_shape;
uniform vec2 u_clim;
uniform float u_gamma;
uniform float u_opacity;
uniform float u_marks;
uniform float u_debug;
varying vec2 v_texcoord;
varying vec4 v_slot;
varying vec2 v_state;
varying vec3 v_page;

vec4 page_texel(vec2 uv) {
    float unit = floor(v_page.x + 0.5);
%(page_texel)s
}

vec4 tile_color(vec4 texel) {
    %(color)s
}

vec3 level_color(float level) {
    float k = mod(level, 6.0);
    if (k < 0.5) return vec3(0.2, 1.0, 0.2);
    if (k < 1.5) return vec3(0.2, 0.6, 1.0);
    if (k < 2.5) return vec3(1.0, 0.8, 0.1);
    if (k < 3.5) return vec3(1.0, 0.3, 1.0);
    if (k < 4.5) return vec3(0.1, 1.0, 1.0);
    return vec3(1.0, 0.5, 0.1);
}

void main() {
    vec4 color = vec4(0.0);
    if (v_state.x < 1.5) {
        // sample inside the tile's own slot: neighbouring slots never bleed in
        vec2 uv = clamp(v_texcoord, v_slot.xy + 0.5, v_slot.zw - 0.5) / v_page.yz;
        color = tile_color(page_texel(uv));
    }
    float diag = mod(gl_FragCoord.x + gl_FragCoord.y, 12.0);
    if (u_marks > 0.5 && v_state.x > 0.5 && v_state.x < 1.5 && diag < 1.5) {
        // placeholder (coarser than ideal): faint grey stripes
        color = vec4(mix(color.rgb, vec3(0.5), 0.45), max(color.a, 0.45));
    }
    if (v_state.x > 1.5) {
        // failed: a red cross-hatch over a dark red wash, distinct from loading
        float anti = mod(gl_FragCoord.x - gl_FragCoord.y, 12.0);
        color = (diag < 2.0 || anti < 2.0) ? vec4(1.0, 0.15, 0.15, 1.0)
                                           : vec4(0.35, 0.0, 0.0, 0.6);
    }
    if (u_debug > 0.5) {
        // outline the tile (its slot box) about one screen pixel wide
        vec2 d = min(v_texcoord - v_slot.xy, v_slot.zw - v_texcoord);
        vec2 px = fwidth(v_texcoord);
        if (d.x < 1.5 * px.x || d.y < 1.5 * px.y) {
            color = vec4(level_color(v_state.y), 1.0);
        }
    }
    gl_FragColor = vec4(color.rgb, color.a * u_opacity);
}
"""

# With software OpenGL both sides of a branch run for every pixel, so what a layer does not
# need is left out of its shader instead: ``pow`` when gamma is 1, and the lookup texture when
# the colormap is plain grey (t -> (t, t, t, 1), which is what its lookup holds).
_GAMMA = "    t = pow(t, u_gamma);\n"
_LUT = """    float n = u_lut_shape.x;
    return texture2D(u_lut, vec2((t * (n - 1.0) + 0.5) / n, 0.5));
"""
_GREY = "    return vec4(t, t, t, 1.0);\n"
_IMAGE_COLOR = """
    float span = max(u_clim.y - u_clim.x, 1e-30);
    float t = clamp((texel.r - u_clim.x) / span, 0.0, 1.0);
%(gamma)s%(lookup)s"""

_RGBA_COLOR = """
    float span = max(u_clim.y - u_clim.x, 1e-30);
    vec4 t = clamp((texel - u_clim.x) / span, 0.0, 1.0);
%(gamma)s    return t;
"""
_RGBA_GAMMA = "    t = vec4(pow(t.rgb, vec3(u_gamma)), t.a);\n"

# Index -> colour, exact: the index is an integer stored in an r32f texel; the lookup
# texture is read at texel centres with nearest sampling.
_LABELS_COLOR = """
    float v = floor(texel.r + 0.5);
    float w = u_lut_shape.x;
    float row = floor((v + 0.5) / w);
    float col = v - row * w;
    return texture2D(u_lut, vec2((col + 0.5) / w, (row + 0.5) / u_lut_shape.y));
"""


#: The interleaved vertex layout (13 floats), in the order set_quads fills it.
_VERTEX_DTYPE = np.dtype(
    [
        ("a_position", np.float32, 2),
        ("a_texcoord", np.float32, 2),
        ("a_slot", np.float32, 4),
        ("a_state", np.float32, 2),
        ("a_page", np.float32, 3),
    ]
)
#: One quad's six vertices, packed in native float32 (as the buffer holds them).
_QUAD = struct.Struct(f"{6 * (_VERTEX_DTYPE.itemsize // 4)}f")
_F32_MAX = float(np.finfo(np.float32).max)
_NO_PAGE = (0, 1, 1)  # a failed tile without pixels samples nothing
#: (format, internal format) of a 1-channel page texture per texel dtype
_PAGE_FORMATS = {
    "float32": ("luminance", "r32f"),
    "uint16": ("luminance", "r16"),
    "uint8": ("luminance", "r8"),
}


def _sampler_code(samplers: int) -> dict[str, str]:
    """Declarations and the page lookup of a visual with ``samplers`` page samplers (a
    single page: one plain lookup, as cheap as a one-texture shader)."""
    decl = "\n".join(f"uniform sampler2D u_tex{i};" for i in range(samplers))
    branches = [
        f"    if (unit < {i}.5) return texture2D(u_tex{i}, uv);" for i in range(samplers - 1)
    ]
    lookup = "\n".join([*branches, f"    return texture2D(u_tex{samplers - 1}, uv);"])
    return {"samplers": decl, "page_texel": lookup}


def _fragment(kind: str, channels: int, samplers: int, gamma: bool, grey: bool) -> str:
    """The fragment shader of a visual: ``gamma`` applies ``u_gamma`` (else it is 1);
    ``grey`` colours a one-channel image grey without its lookup texture."""
    if kind == "labels":
        color = _LABELS_COLOR
    elif channels == 4:
        color = _RGBA_COLOR % {"gamma": _RGBA_GAMMA if gamma else ""}
    else:
        lookup = _GREY if grey else _LUT
        color = _IMAGE_COLOR % {"gamma": _GAMMA if gamma else "", "lookup": lookup}
    return _FRAGMENT % {"color": color, **_sampler_code(samplers)}


def is_grey(lut: npt.NDArray[np.float32]) -> bool:
    """Whether a ``(1, n, 4)`` colormap lookup maps t to opaque (t, t, t) (cmap's "gray")."""
    ramp = np.linspace(0.0, 1.0, lut.shape[1], dtype=np.float64)
    rgb, alpha = lut[0, :, :3].astype(np.float64), lut[0, :, 3]
    return bool(np.abs(rgb - ramp[:, None]).max() <= 1e-6 and np.all(alpha == 1.0))


def _samplers_for(pages: int) -> int:
    """Samplers of a visual for ``pages`` pages: 1, 2, 4 or 8 (few shader variants)."""
    return min(PAGES_PER_VISUAL, 1 << max(pages - 1, 0).bit_length())


def cmap_lut(colormap: Any) -> npt.NDArray[np.float32]:
    """A ``(1, CMAP_LUT_SIZE, 4)`` float32 lookup texture of a :class:`cmap.Colormap`."""
    lut = np.asarray(colormap.lut(CMAP_LUT_SIZE), dtype=np.float32)
    return np.ascontiguousarray(lut.reshape(1, CMAP_LUT_SIZE, 4))


class _TiledPagesVisual(Visual):  # type: ignore[misc]
    """The quads of one layer that sample up to ``samplers`` atlas pages (at most
    :data:`PAGES_PER_VISUAL`): every extra sampler costs each drawn pixel a branch on
    llvmpipe, so a visual has only as many as its pages need."""

    def __init__(self, kind: str, channels: int, samplers: int) -> None:
        self._shader_key = (kind, channels, samplers)
        #: (gamma applied, grey without a lookup): what the fragment shader does
        self.variant = (True, False)
        super().__init__(vcode=_VERTEX, fcode=_fragment(*self._shader_key, *self.variant))
        self.samplers = samplers
        self._draw_mode = "triangles"
        self._count = 0
        self._buffer: Any = None  # one interleaved buffer, capacity a power of two
        self._buffers_made = 0
        self._vertices = np.zeros(0, _VERTEX_DTYPE)  # what it holds
        self._bytes = self._vertices.view(np.uint8).data  # the same, as bytes
        self.set_gl_state("translucent", cull_face=False)

    def set_variant(self, gamma: bool, grey: bool) -> None:
        """Use the fragment shader for ``(gamma, grey)`` (a new one is compiled at the next
        draw; the values already set on the program carry over)."""
        if (gamma, grey) != self.variant:
            self.variant = (gamma, grey)
            self.shared_program.frag = _fragment(*self._shader_key, gamma, grey)

    def set_quads(self, quads: list[TileQuad], units: dict[int, tuple[int, int, int]]) -> None:
        """Replace the quads drawn (two triangles each); ``units[page]`` is ``(sampler,
        width, height)`` of each page they use.

        One buffer upload: the vertices are interleaved, and the buffer keeps a power-of-two
        capacity whose unused end is zeros (degenerate triangles, nothing drawn), so a
        changed quad count neither resizes it nor rebinds the attributes.

        The vertices are built in Python and copied in as bytes, without numpy: numpy's
        indexing and arithmetic let the GIL go even on small arrays, and getting it back
        from busy worker threads costs the main thread milliseconds each time (see
        ``_gl.py``).
        """
        n = len(quads)
        capacity = max(64, 1 << max(n * 6 - 1, 1).bit_length())
        if self._buffer is None or self._buffer.size < capacity:
            self._vertices = np.zeros(capacity, _VERTEX_DTYPE)
            self._bytes = self._vertices.view(np.uint8).data
            self._buffer = gloo.VertexBuffer(self._vertices)
            self._buffers_made += 1
            self._count = 0
            for name in _VERTEX_DTYPE.names or ():
                self.shared_program[name] = self._buffer[name]
        view = self._bytes
        offset = 0
        for q in quads:
            y0, y1, x0, x1 = q.rect
            y0, y1, x0, x1 = y0 - 0.5, y1 - 0.5, x0 - 0.5, x1 - 0.5  # edge -> data coords
            ty0, ty1, tx0, tx1 = q.tex
            sy0, sy1, sx0, sx1 = q.slot
            # the slot as (x0, y0, x1, y1); state, level, page (sampler, w, h)
            rest = (sx0, sy0, sx1, sy1, q.state, q.level, *units.get(q.page, _NO_PAGE))
            a = (x0, y0, tx0, ty0, *rest)  # the corners in vispy's (x, y) order
            b = (x1, y0, tx1, ty0, *rest)
            c = (x1, y1, tx1, ty1, *rest)
            d = (x0, y1, tx0, ty1, *rest)
            _QUAD.pack_into(view, offset, *a, *b, *c, *a, *c, *d)  # two triangles
            offset += _QUAD.size
        drawn = self._count * _VERTEX_DTYPE.itemsize
        if drawn > offset:
            view[offset:drawn] = bytes(drawn - offset)  # what the last call drew beyond
        self._count = n * 6
        self._buffer.set_data(self._vertices)
        self.update()

    @property
    def buffers_made(self) -> int:
        """Vertex buffers made so far (a new one each time the capacity grows)."""
        return self._buffers_made

    def build(self) -> None:
        """Build the shader program's code now (vispy does it at the first draw)."""
        self._program.build_if_needed()

    @property
    def program_glir(self) -> Any:
        """The GL command queue of the program (its creation, compilation and linking)."""
        return self._program.glir

    def join(self, queue: Any) -> None:
        """Merge the vertex buffer's GL command queue into ``queue``."""
        if self._buffer is not None:
            queue.associate(self._buffer.glir)

    def _prepare_transforms(self, view: Any) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view: Any) -> bool:
        return self._count > 0

    def _compute_bounds(self, axis: int, view: Any) -> Any:
        return None


TiledPagesNode: Any = create_visual_node(_TiledPagesVisual)


class TiledPages:
    """The vispy side of one tiled layer: page textures, the visuals drawing them, lookup
    textures.

    Pages are dealt to visuals in page order, :data:`PAGES_PER_VISUAL` each, so a page keeps
    its visual and sampler while the atlas keeps its pages. Owned by the tiled layer adaptor
    (``_layers.TiledLayerVisual``); main thread only.
    """

    def __init__(self, parent: Any, count_upload: Counter) -> None:
        self.node: Any = Node(parent=parent)
        self._count_upload = count_upload
        self._textures: dict[int, Any] = {}
        self._visuals: list[Any] = []
        self._groups: list[tuple[int, ...]] = []  # the pages of each visual, in sampler order
        self._quads: list[list[TileQuad]] = []  # what each visual draws now
        self._kind: tuple[str, int] | None = None
        self._lut: Any = gloo.Texture2D(np.zeros((1, 1, 4), np.float32), interpolation="linear")
        self._lut_shape = (1.0, 1.0)
        self._grey = False  # a one-channel image with cmap's "gray": no lookup texture
        self._uniforms: dict[str, Any] = {}
        self._gl_state: dict[str, Any] = {}
        self._dummy: Any = None
        self._bound: dict[int, Any] = {}  # page -> the texture its sampler is bound to
        self._synced: tuple[tuple[TilePage, ...] | None, int] = (None, 0)
        self._gl_made = 0
        self._joined: tuple[int, ...] = ()
        self._interp = ""
        self._spare: Any = None  # a visual made ahead, for the next page (see prepare)
        self._spare_stage = "made"  # then "attached", "built" and "linked" (see prepare)
        self._next_page: tuple[int, int, int] | None = None  # the atlas's next page, channels
        self._spare_page: Any = None  # its texture, made ahead (see prepare)
        self._texel: TexelName = "float32"  # the dtype of the tiles and pages

    def spare_wanted(self) -> int:
        """Samplers of the visual this layer's next page will need, if that visual is not
        made yet (0: nothing to make). Pages come in id order, so the next one joins the
        last visual's pages, or starts a new visual once that one holds
        :data:`PAGES_PER_VISUAL`."""
        if self._kind is None:
            return 0
        if not self._groups:  # made ahead for a layer yet to come (see expect): its first
            return 0 if self._spare is not None else 1
        last = self._groups[-1]
        if len(last) >= PAGES_PER_VISUAL:
            need = 1
        else:
            need = _samplers_for(len(last) + 1)
            if self._visuals[-1].samplers >= need:
                return 0
        if self._spare is not None and self._spare.samplers >= need:
            return 0
        return need

    def expect(self, kind: str, channels: int, texel: TexelName) -> None:
        """Made ahead for a layer of this kind yet to come: its first :meth:`apply` of that
        kind keeps what :meth:`prepare` makes meanwhile (its first visual)."""
        self._kind = (kind, channels)
        self._texel = texel

    def page_wanted(self) -> bool:
        """Whether the texture of the page the atlas is about to add (the draw's
        ``next_page``) is still to be made."""
        return self._next_page is not None and self._spare_page is None

    def wants_prepare(self, programs: bool) -> bool:
        """Whether :meth:`prepare` has something to make."""
        stage = self._spare_stage
        unready = self._spare is not None and (
            (stage == "made" and self.node.parent is not None)
            or (programs and stage in ("attached", "built"))
        )
        return self.spare_wanted() > 0 or unready or self.page_wanted()

    def prepare(self, run_gl: Callable[[Any], None], programs: bool) -> bool:
        """Make one thing the next page will need now, outside any frame; whether one was
        made. An atlas grows while tiles arrive, in the frames that are already the
        busiest, and each part of a new page is dear to make then:

        - its visual (:meth:`spare_wanted`): made, 1.5-3 ms; then, once this layer is in
          the scene, attached (not drawn until a page needs it: vispy's transform system
          rebuilds its shaders, 2-4 ms that a frame paid when a page outgrew its visual);
          with ``programs`` (a window, whose frames come on their own), then its shader
          program built by vispy, then compiled and linked (``run_gl``), 1.3-10 ms, each
          step a task of its own. A first draw in a frame did all of that: 10-33 ms with
          software OpenGL;
        - its texture (:meth:`page_wanted`): with software OpenGL, allocating a 2048² float
          texture takes 10-13 ms. ``run_gl`` runs the texture's queued GL commands now (its
          allocation) and joins its command queue to the canvas's, so its uploads and its
          deletion go with the frames.
        """
        need = self.spare_wanted()
        spare = self._spare
        if need:
            assert self._kind is not None
            self._drop_spare()
            self._spare = TiledPagesNode(*self._kind, need)
            self._spare_stage = "made"
            return True
        if spare is not None and self._spare_stage == "made" and self.node.parent is not None:
            spare.set_variant(*self._variant())
            # attached now: the transforms it builds with are those it will draw with (an
            # attached visual with nothing to draw costs a camera change ~0.05 ms and is
            # not drawn: no program is built for it)
            spare.parent = self.node
            self._spare_stage = "attached"
            return True
        if programs and spare is not None and self._spare_stage == "attached":
            spare.build()
            self._spare_stage = "built"
            return True
        if programs and spare is not None and self._spare_stage == "built":
            run_gl(spare.program_glir)
            self._spare_stage = "linked"
            return True
        if not self.page_wanted():
            return False
        assert self._next_page is not None
        self._spare_page = self._page_texture(self._next_page)
        run_gl(self._spare_page.glir)
        return True

    def _page_texture(self, shape: tuple[int, int, int]) -> Any:
        """A page texture of ``shape`` (h, w, channels) for this layer's texel dtype:
        uint8 and uint16 tiles are stored as they are (sampled normalised)."""
        fmt = _PAGE_FORMATS[self._texel] if shape[2] == 1 else ("rgba", "rgba32f")
        return gloo.Texture2D(
            shape=shape,
            format=fmt[0],
            internalformat=fmt[1],
            interpolation="nearest",
            wrapping="clamp_to_edge",
        )

    def _visual(self, samplers: int) -> Any:
        """A visual with at least ``samplers`` page samplers, attached: the spare if it
        serves, else a new one."""
        assert self._kind is not None
        spare = self._spare
        if spare is not None and spare.samplers >= samplers:
            self._spare = None
            spare.parent = self.node
            return spare
        self._drop_spare()
        return TiledPagesNode(*self._kind, samplers, parent=self.node)

    def _drop_spare(self) -> None:
        if self._spare is not None:
            self._spare.parent = None
            self._spare = None

    @property
    def visual_count(self) -> int:
        """Visuals attached to the scene for this layer (tests, diagnostics)."""
        return len(self._visuals)

    def apply(
        self, draw: TiledDraw, prev: TiledDraw | None, gl_state: dict[str, Any], recolor: bool
    ) -> None:
        """Bring the pages, uploads, quads and uniforms in line with ``draw``.

        ``recolor``: the colours changed (a new colormap, or new label colours).
        """
        kind = (draw.kind, draw.channels)
        if kind != self._kind or draw.texel != self._texel:
            self.clear()
            self._kind = kind
            self._texel = draw.texel
        changed = self._sync_pages(draw.pages, draw.channels)
        nxt = None if draw.next_page is None else (*draw.next_page, draw.channels)
        if nxt != self._next_page:
            self._next_page = nxt
            # not kept for a page the atlas is no longer about to add: a texture outside the
            # budget's count must not outlive the budget's room for it
            if self._spare_page is not None and self._spare_page.shape != nxt:
                self._spare_page = None
        for up in draw.uploads:
            tex = self._textures.get(up.page)
            if tex is None:
                continue
            data = up.data if up.data.ndim == 3 else up.data[:, :, None]
            tex.set_data(data, offset=(up.y, up.x))
            self._count_upload()
        if changed or prev is None or prev.quads != draw.quads:
            self._set_quads(draw)
        if recolor or prev is None or prev.lut_version != draw.lut_version:
            self._set_lut(draw)
        lo, hi = draw.contrast_limits
        if draw.kind == "labels":
            lo, hi = 0.0, 1.0
        # an integer page samples value / 65535 (or / 255): the limits are scaled alike
        scale = TEXEL_SCALE[draw.texel]
        lo, hi = lo * scale, hi * scale
        # uniforms are float32: limits beyond its range (any finite float is allowed) clamp
        lo, hi = (min(max(v, -_F32_MAX), _F32_MAX) for v in (lo, hi))
        uniforms = {
            "u_clim": (lo, hi),
            "u_gamma": float(draw.gamma),
            "u_opacity": float(draw.opacity),
            "u_marks": 1.0 if draw.show_placeholders else 0.0,
            "u_debug": 1.0 if draw.debug else 0.0,
            "u_lut_shape": self._lut_shape,
        }
        interp = "linear" if draw.interpolation != "nearest" and draw.kind == "image" else "nearest"
        if changed or interp != self._interp:  # new pages start "nearest"
            self._interp = interp
            for tex in self._textures.values():
                if tex.interpolation != interp:
                    tex.interpolation = interp
        if uniforms != self._uniforms or gl_state != self._gl_state:
            self._uniforms = uniforms
            self._gl_state = gl_state
            changed = set(range(len(self._visuals)))
        for g in sorted(changed):
            self._configure(g)

    def _set_quads(self, draw: TiledDraw) -> None:
        """Deal ``draw.quads`` to the visuals of their pages; only changed ones are redone."""
        group_of = {page: g for g, pages in enumerate(self._groups) for page in pages}
        per_group: list[list[TileQuad]] = [[] for _ in self._groups]
        for q in draw.quads:
            # a failed tile without pixels (page -1) samples nothing: any visual draws it
            per_group[group_of.get(q.page, 0)].append(q)
        for g, quads in enumerate(per_group):
            if self._quads[g] != quads:
                units = {
                    page: (i, *self._textures[page].shape[1::-1])
                    for i, page in enumerate(self._groups[g])
                }
                self._visuals[g].set_quads(quads, units)
                self._quads[g] = quads

    def _set_lut(self, draw: TiledDraw) -> None:
        if draw.kind == "labels":
            assert draw.label_colormap is not None
            assert draw.lut is not None
            rgba = np.clip(draw.label_colormap.map(draw.lut), 0.0, 1.0)
            colors = np.round(rgba * 255.0).astype(np.uint8)
            arr = lut_texture_array(colors)
            self._lut = gloo.Texture2D(arr, interpolation="nearest")
            self._gl_made += 1
            self._lut_shape = (float(arr.shape[1]), float(arr.shape[0]))
            self._grey = False
        elif draw.channels == 1:
            lut = cmap_lut(draw.colormap)
            self._lut = gloo.Texture2D(lut, interpolation="linear")
            self._gl_made += 1
            self._lut_shape = (float(CMAP_LUT_SIZE), 1.0)
            self._grey = draw.kind == "image" and is_grey(lut)
        else:
            return
        self._uniforms = {}  # rebind the new lookup texture

    def _sync_pages(self, pages: tuple[TilePage, ...], channels: int) -> set[int]:
        """Textures for ``pages``; the visuals whose pages, textures or samplers changed
        (to be configured and given their quads again)."""
        if pages is self._synced[0] and channels == self._synced[1]:
            return set()  # the draw reuses its page tuple until a page comes or goes
        changed = self._regroup(pages, channels)
        self._synced = (pages, channels)
        return changed

    def _regroup(self, pages: tuple[TilePage, ...], channels: int) -> set[int]:
        wanted = {p.page: p for p in pages}
        for page in list(self._textures):
            if page not in wanted or self._textures[page].shape[:2] != wanted[page].shape:
                del self._textures[page]
        for page, spec in wanted.items():
            if page not in self._textures:
                self._gl_made += 1
                shape = (*spec.shape, channels)
                spare = self._spare_page
                if spare is not None and spare.shape == shape:  # made ahead (see prepare)
                    self._textures[page], self._spare_page = spare, None
                else:
                    self._textures[page] = self._page_texture(shape)
        order = sorted(wanted)
        groups = [
            tuple(order[i : i + PAGES_PER_VISUAL]) for i in range(0, len(order), PAGES_PER_VISUAL)
        ] or [()]  # one visual even without pages: failed tiles with no pixels
        # a visual is redone when its pages, their textures or the visual itself change;
        # pages come in id order, so a new page usually changes the last visual only
        changed = {
            g
            for g, group in enumerate(groups)
            if g >= len(self._groups)
            or group != self._groups[g]
            or any(self._bound.get(page) is not self._textures[page] for page in group)
        }
        if not changed and len(groups) == len(self._groups):
            return set()
        assert self._kind is not None
        while len(self._visuals) > len(groups):  # the atlas shrank: rare
            self._visuals.pop().parent = None
            self._quads.pop()
        for g, group in enumerate(groups):
            samplers = _samplers_for(len(group))
            if g < len(self._visuals) and self._visuals[g].samplers >= samplers:
                continue
            visual = self._visual(samplers)
            self._gl_made += 1  # textures, lookups, visuals: what join must associate
            changed.add(g)
            if g < len(self._visuals):  # outgrown (the atlas gained pages)
                self._visuals[g].parent = None
                self._visuals[g] = visual
            else:
                self._visuals.append(visual)
                self._quads.append([])
        self._groups = groups
        for g in changed:
            self._quads[g] = []  # its samplers may have moved: its quads are redone
        self._bound = {page: self._textures[page] for page in order}
        return changed

    def _configure(self, g: int) -> None:
        """Bind visual ``g``'s page textures, the lookup texture and the uniforms."""
        visual = self._visuals[g]
        visual.set_variant(*self._variant())
        program = visual.shared_program
        pages = self._groups[g]
        for i in range(visual.samplers):
            program[f"u_tex{i}"] = self._textures[pages[i]] if i < len(pages) else self._blank()
        program["u_lut"] = self._lut
        for name, value in self._uniforms.items():
            program[name] = value
        if self._gl_state:
            visual.set_gl_state(**self._gl_state)
        visual.update()

    def _variant(self) -> tuple[bool, bool]:
        """The shader variant the layer's visuals draw with now: (gamma applied, grey)."""
        return self._uniforms.get("u_gamma", 1.0) != 1.0, self._grey

    def _blank(self) -> Any:
        """A 1x1 texture for samplers without a page."""
        if self._dummy is None:
            self._dummy = gloo.Texture2D(np.zeros((1, 1, 1), np.float32))
        return self._dummy

    def join(self, queue: Any) -> None:
        """Merge the pages', lookup texture's and vertex buffers' GL command queues into the
        canvas's ``queue`` (idempotent): until a visual is first drawn its uploads wait in
        queues of their own, and headless nothing draws until a screenshot."""
        # associating is idempotent: only GL objects made since the last join need it
        made = (id(queue), self._gl_made, *(v.buffers_made for v in self._visuals))
        if made == self._joined:
            return
        for tex in (*self._textures.values(), self._lut):
            queue.associate(tex.glir)
        for visual in self._visuals:
            visual.join(queue)
        self._joined = made

    def clear(self) -> None:
        """Drop every page (textures and visuals)."""
        for visual in self._visuals:
            visual.parent = None
        self._visuals.clear()
        self._drop_spare()
        self._spare_page = None
        self._next_page = None
        self._texel = "float32"
        self._groups.clear()
        self._quads.clear()
        self._bound = {}
        self._textures.clear()
        self._uniforms = {}
        self._synced = (None, 0)
        self._interp = ""

    def remove(self) -> None:
        """Detach from the scene."""
        self.clear()
        self.node.parent = None
