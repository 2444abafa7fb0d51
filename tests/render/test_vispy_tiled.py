"""The tiled visual at the backend: quads drawn from atlas pages, by pixels."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from cmap import Colormap
from render_helpers import BackendFactory, make_pending, plan_2d, render

from tilescope.render.plan import TiledDraw, TilePage, TileQuad, TileUpload


def _draw(quads: tuple[TileQuad, ...], uploads: tuple[TileUpload, ...] = ()) -> TiledDraw:
    return TiledDraw(
        key=1,
        kind="image",
        transform=np.eye(3),
        pages=(TilePage(0, (16, 32)),),
        quads=quads,
        uploads=uploads,
        show_placeholders=False,
    )


def _quad(col: int) -> TileQuad:
    """The 16x16 tile at column ``col`` of a 16x32 image, slot ``col`` of page 0."""
    box = (0.0, 16.0, 16.0 * col, 16.0 * col + 16.0)
    return TileQuad(0, box, box, box, 0)


def test_fewer_quads_than_the_last_draw_leave_nothing_of_it_behind(
    make_backend: BackendFactory,
) -> None:
    """The vertex buffer keeps its capacity: what lies past the new quads draws nothing."""
    backend = make_backend((16, 32))
    pixels = np.full((16, 32), 1.0, np.float32)
    both = _draw((_quad(0), _quad(1)), (TileUpload(0, 0, 0, pixels),))
    shot = render(backend, plan_2d((both,), (16, 32), 1))
    assert (shot[..., 0] == 255).all()
    shot = render(backend, plan_2d((_draw((_quad(0),)),), (16, 32), 1))
    assert (shot[:, :16, 0] == 255).all()
    assert (shot[:, 16:, 0] == 0).all()  # the right tile is gone with its quad
    shot = render(backend, plan_2d((_draw(()),), (16, 32), 1))
    assert (shot[..., 0] == 0).all()


def test_headless_applies_leave_no_gl_commands_queued(make_backend: BackendFactory) -> None:
    """Headless nothing draws until a screenshot; a visual's uploads must still run at apply
    (they used to wait in the visual's own queue: arrays piled up in RAM, thousands a soak)."""
    backend = make_backend((16, 32))
    pixels = np.full((16, 32), 1.0, np.float32)
    backend.apply(plan_2d((_draw((_quad(0),), (TileUpload(0, 0, 0, pixels),)),), (16, 32), 1))
    make_pending(backend)
    for i in range(50):  # new quads every frame, never drawn
        backend.apply(plan_2d((_draw((_quad(i % 2),)),), (16, 32), 1))
    pages: Any = backend._layers[1]._pages  # type: ignore[attr-defined]
    buffer = pages._visuals[0]._buffer
    assert buffer.glir._shared is backend._canvas.context.glir._shared  # type: ignore[attr-defined]
    assert len(buffer.glir._shared._commands) == 0  # all run at the last apply


def test_gl_objects_made_after_the_first_apply_join_the_canvas_queue(
    make_backend: BackendFactory,
) -> None:
    """A frame joins only what is new (joining everything every frame was 40 us a layer):
    a grown vertex buffer, a new page and its visual, a new lookup texture must still join."""
    backend = make_backend((16, 32))
    backend.apply(plan_2d((_draw((_quad(0),)),), (16, 32), 1))
    make_pending(backend)
    shared = backend._canvas.context.glir._shared  # type: ignore[attr-defined]
    many = tuple(_quad(i % 2) for i in range(40))  # past the first buffer's capacity
    pages = tuple(TilePage(p, (16, 32)) for p in range(9))  # a second visual
    grown = dataclasses.replace(_draw(many), pages=pages, colormap=Colormap("viridis"))
    backend.apply(plan_2d((grown,), (16, 32), 1))
    layer: Any = backend._layers[1]._pages  # type: ignore[attr-defined]
    assert len(layer._visuals) == 2
    objects = [*layer._textures.values(), layer._lut]
    objects += [v._buffer for v in layer._visuals if v._buffer is not None]
    for obj in objects:
        assert obj.glir._shared is shared
    assert len(shared._commands) == 0


def test_a_layer_waiting_for_its_visual_keeps_the_uploads_of_every_draw_it_was_sent(
    make_backend: BackendFactory,
) -> None:
    """A new tiled layer waits for ``prepare`` steps, and each frame's draw replaces the one
    held: the tiles uploaded in an earlier draw must still reach its pages (pixels)."""
    backend = make_backend((16, 32))
    left = np.full((16, 32), 0.5, np.float32)
    right = np.full((16, 16), 1.0, np.float32)
    backend.apply(plan_2d((_draw((_quad(0),), (TileUpload(0, 0, 0, left),)),), (16, 32), 1))
    assert backend.pending_layers == {1}
    both = _draw((_quad(0), _quad(1)), (TileUpload(0, 0, 16, right),))
    backend.apply(plan_2d((both,), (16, 32), 1))
    backend.apply(plan_2d((_draw((_quad(0), _quad(1))),), (16, 32), 1))  # nothing new
    make_pending(backend)
    shot = backend.screenshot().astype(int)
    assert np.abs(shot[:, :16, 0] - 128).max() <= 1  # the first draw's upload
    assert (shot[:, 16:, 0] == 255).all()  # the second's, over the first's right half


def test_the_visual_a_growing_atlas_needs_next_is_made_ahead_outside_the_frame(
    make_backend: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page past a visual's samplers needs a bigger visual, and every 8 pages a new
    one: ``prepare`` makes it between frames, its shader program built by vispy and
    compiled and linked too, so the frame that adds the page makes, builds and links none,
    and the pages still draw (each page's tile at its place, by pixels)."""
    from vispy.gloo import glir
    from vispy.visuals.shaders import program

    from tilescope.render.vispy import _tiled

    made: list[int] = []
    real = _tiled.TiledPagesNode

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(_tiled, "TiledPagesNode", counted)
    built: list[str] = []
    real_build = program.ModularProgram._build
    monkeypatch.setattr(
        program.ModularProgram, "_build", lambda p: (built.append("build"), real_build(p))[1]
    )
    real_link = glir.GlirProgram.set_shaders
    monkeypatch.setattr(
        glir.GlirProgram,
        "set_shaders",
        lambda p, v, f: (built.append("link"), real_link(p, v, f))[1],
    )
    backend = make_backend((16, 32))
    assert not backend.programs_ahead  # headless: a screenshot builds them, nothing else
    backend.programs_ahead = True  # as in a window
    assert not backend.wants_prepare  # nothing drawn yet
    for n in range(1, 11):  # one more page a frame; page p holds a tile of value p
        pages = tuple(TilePage(p, (16, 32)) for p in range(n))
        quad = TileQuad(
            n - 1, (0.0, 16.0, 0.0, 16.0), (0.0, 16.0, 0.0, 16.0), (0.0, 16.0, 0.0, 16.0), 0
        )
        upload = TileUpload(n - 1, 0, 0, np.full((16, 16), n / 10, np.float32))
        draw = dataclasses.replace(_draw((quad,), (upload,)), pages=pages)
        before = len(made)
        built.clear()
        shot = render(backend, plan_2d((draw,), (16, 32), 1))
        assert abs(int(shot[8, 8, 0]) - 255 * n / 10) <= 1
        if n > 1:
            assert len(made) == before, f"page {n} made a visual in its frame"
            assert built == [], f"page {n}'s frame built or linked a program: {built}"
        while backend.wants_prepare:
            backend.prepare()
    # the first frame makes the 1-sampler visual; the rest are made ahead, the last (4) for
    # an eleventh page; the third (1) is the first visual of the next layer of this kind
    assert made == [1, 2, 1, 4, 8, 1, 2, 4]


def test_a_layer_added_after_a_prepare_pass_makes_no_visual_in_its_frame(
    make_backend: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding a tiled layer made its adaptor and its first visual in the frame that showed
    it (5 + 11 ms of one task in the soak): the prepare tasks after a layer of that kind
    make them ahead, for the next one, which draws its own tile (by pixels)."""
    from tilescope.render.vispy import _layers, _tiled

    made: list[str] = []
    real_node = _tiled.TiledPagesNode
    real_init = _layers.TiledLayerVisual.__init__

    def counted_node(*args: Any, **kwargs: Any) -> Any:
        made.append("visual")
        return real_node(*args, **kwargs)

    def counted_init(self: Any, *args: Any) -> None:
        made.append("adaptor")
        real_init(self, *args)

    monkeypatch.setattr(_tiled, "TiledPagesNode", counted_node)
    monkeypatch.setattr(_layers.TiledLayerVisual, "__init__", counted_init)
    backend = make_backend((16, 32))
    upload = TileUpload(0, 0, 0, np.full((16, 16), 0.4, np.float32))
    first = dataclasses.replace(_draw((_quad(0),), (upload,)), key=1)
    render(backend, plan_2d((first,), (16, 32), 1))
    assert made == ["adaptor", "visual"]
    made.clear()
    while backend.wants_prepare:
        backend.prepare()
    # the visual for its own next page, then ahead, for the next layer of this kind
    assert made == ["visual", "adaptor", "visual"]
    made.clear()
    upload = TileUpload(0, 0, 16, np.full((16, 16), 0.8, np.float32))  # its slot 1
    second = dataclasses.replace(_draw((_quad(1),), (upload,)), key=2)
    shot = render(backend, plan_2d((first, second), (16, 32), 1))
    assert made == []  # the second layer's frame made neither
    assert abs(int(shot[8, 8, 0]) - 0.4 * 255) <= 1
    assert abs(int(shot[8, 24, 0]) - 0.8 * 255) <= 1
    upload = TileUpload(0, 0, 16, np.full((16, 16), 9, np.uint16))
    other = dataclasses.replace(second, key=3, texel="uint16", uploads=(upload,))
    render(backend, plan_2d((first, second, other), (16, 32), 1))  # another kind: made now
    assert made == ["adaptor", "visual"]


def test_a_new_page_redoes_only_the_visual_it_joins(
    make_backend: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nine pages need two visuals (8 + 1); a tenth joins the second. The first keeps its
    bindings and its vertex buffer (redoing every visual of a layer for each new page was
    a third of the longest soak tasks), and every page's tile still draws at its place."""
    from tilescope.render.vispy import _tiled

    configured: list[int] = []
    real_configure = _tiled.TiledPages._configure
    monkeypatch.setattr(
        _tiled.TiledPages,
        "_configure",
        lambda self, g: (configured.append(g), real_configure(self, g))[1],
    )
    quads_set: list[int] = []
    real_set_quads = _tiled._TiledPagesVisual.set_quads
    monkeypatch.setattr(
        _tiled._TiledPagesVisual,
        "set_quads",
        lambda self, *a: (quads_set.append(id(self)), real_set_quads(self, *a))[1],
    )
    backend = make_backend((16, 160))

    def draw(n: int, new: range) -> TiledDraw:
        """Pages 0..n-1, page p holding the tile at column p (value (p + 1) / 10)."""
        quads = tuple(
            TileQuad(
                p,
                (0.0, 16.0, 16.0 * p, 16.0 * p + 16),
                (0.0, 16.0, 0.0, 16.0),
                (0.0, 16.0, 0.0, 16.0),
                0,
            )
            for p in range(n)
        )
        uploads = tuple(
            TileUpload(p, 0, 0, np.full((16, 16), (p + 1) / 10, np.float32)) for p in new
        )
        pages = tuple(TilePage(p, (16, 32)) for p in range(n))
        return dataclasses.replace(_draw(quads, uploads), pages=pages)

    def check(shot: np.ndarray, n: int) -> None:
        for p in range(n):
            assert abs(int(shot[8, 16 * p + 8, 0]) - 255 * (p + 1) / 10) <= 1, p

    check(render(backend, plan_2d((draw(9, range(9)),), (16, 160), 1)), 9)
    layer: Any = backend._layers[1]._pages  # type: ignore[attr-defined]
    first, second = layer._visuals
    configured.clear()
    quads_set.clear()
    check(render(backend, plan_2d((draw(10, range(9, 10)),), (16, 160), 1)), 10)
    assert layer._visuals[0] is first
    assert layer._visuals[1] is not second  # outgrown: 2 samplers now
    assert configured == [1]
    assert quads_set == [id(layer._visuals[1])]


def _pages_made_ahead(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five frames each add a page, announced by the draw before (``next_page``): every
    page after the first is allocated in a prepare task, and its tile draws (by pixels)."""
    from vispy.gloo import glir

    sized: list[str] = []
    phase = ["frame"]
    real = glir.GlirParser._parse

    def parse(self: Any, command: tuple[Any, ...]) -> Any:
        if command[0] == "SIZE" and command[2] == (16, 32, 1):  # a page texture
            sized.append(phase[0])
        return real(self, command)

    monkeypatch.setattr(glir.GlirParser, "_parse", parse)
    for n in range(1, 6):  # one more page a frame; page p holds a tile of value p
        pages = tuple(TilePage(p, (16, 32)) for p in range(n))
        quad = TileQuad(
            n - 1, (0.0, 16.0, 0.0, 16.0), (0.0, 16.0, 0.0, 16.0), (0.0, 16.0, 0.0, 16.0), 0
        )
        upload = TileUpload(n - 1, 0, 0, np.full((16, 16), n / 10, np.float32))
        draw = dataclasses.replace(_draw((quad,), (upload,)), pages=pages, next_page=(16, 32))
        phase[0] = "frame"
        shot = render(backend, plan_2d((draw,), (16, 32), 1))
        assert abs(int(shot[8, 8, 0]) - 255 * n / 10) <= 1  # drawn from the spare texture
        phase[0] = "prepare"
        while backend.wants_prepare:
            backend.prepare()
    # the first page in its frame (nothing was announced before it), every later one ahead
    assert sized == ["frame"] + ["prepare"] * 5
    parser = backend._canvas.context.shared.parser

    def page_textures() -> int:
        return sum(
            isinstance(ob, glir.GlirTexture2D) and ob._shape_formats[0] == (16, 32, 1)
            for ob in parser._objects.values()
        )

    assert page_textures() == 6  # five pages and the spare
    render(backend, plan_2d((dataclasses.replace(draw, uploads=(), next_page=None),), (16, 32), 1))
    assert page_textures() == 5
    assert not backend.wants_prepare


def test_the_texture_of_the_page_an_atlas_is_about_to_add_is_allocated_outside_the_frame(
    make_backend: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With software OpenGL allocating a 2048² page takes 10-13 ms: a draw's ``next_page``
    has it allocated in a prepare task, and the frame that gets the page finds it made.
    A spare the atlas no longer announces is deleted on the GPU too, not leaked."""
    _pages_made_ahead(make_backend((16, 32)), monkeypatch)


@pytest.mark.qt
def test_a_window_allocates_the_announced_page_in_the_prepare_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window's GL context is current only while it paints: the prepare task makes it
    current to allocate the page there, not in the next paint."""
    from tilescope.render import create_backend
    from tilescope.render.vispy._app import _has_display, has_gl_context

    if not _has_display():
        pytest.skip("needs a display (run under xvfb-run -a)")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    backend: Any = create_backend(show=True, size=(16, 32))
    try:
        backend.native.show()
        for _ in range(20):
            app.processEvents()
            if has_gl_context(backend.native):
                break
        assert has_gl_context(backend.native)
        _pages_made_ahead(backend, monkeypatch)
    finally:
        backend.close()


def _integer_draw(texel: str, top: int) -> tuple[TiledDraw, np.ndarray]:
    """A 16x32 ramp of ``texel`` values in two tiles, at limits 10 %..90 % of ``top``, and
    the grey each column must show: (v - lo) / (hi - lo) x 255."""
    lo, hi = 0.1 * top, 0.9 * top
    values = np.round(np.linspace(0, top, 32)).astype(np.dtype(texel))
    tile = np.ascontiguousarray(np.broadcast_to(values[:16], (16, 16)))
    right = np.ascontiguousarray(np.broadcast_to(values[16:], (16, 16)))
    expected = np.clip((values.astype(np.float64) - lo) / (hi - lo), 0, 1) * 255
    uploads = (TileUpload(0, 0, 0, tile), TileUpload(0, 0, 16, right))
    draw = dataclasses.replace(
        _draw((_quad(0), _quad(1)), uploads), texel=texel, contrast_limits=(lo, hi)
    )
    return draw, expected


def _page_formats(backend: Any) -> set[Any]:
    from vispy.gloo import glir

    parser = backend._canvas.context.shared.parser
    return {
        ob._shape_formats[2]
        for ob in parser._objects.values()
        if isinstance(ob, glir.GlirTexture2D) and ob._shape_formats[0] == (16, 32, 1)
    }


@pytest.mark.parametrize(("texel", "top"), [("uint16", 65535), ("uint8", 255)])
def test_integer_pages_draw_the_values_they_hold(
    make_backend: BackendFactory, texel: str, top: int
) -> None:
    """uint16 / uint8 tiles go into r16 / r8 pages (sampled normalised); with the limits
    scaled alike the picture is the float32 one: grey (v - lo) / (hi - lo), by pixels."""
    from vispy.gloo import glir

    backend = make_backend((16, 32))
    draw, expected = _integer_draw(texel, top)
    shot = render(backend, plan_2d((draw,), (16, 32), 1))
    assert np.abs(shot[8, :, 0] - expected).max() <= 1.5
    as_float = dataclasses.replace(
        draw,
        texel="float32",
        uploads=tuple(dataclasses.replace(u, data=u.data.astype(np.float32)) for u in draw.uploads),
    )
    fresh = make_backend((16, 32))
    assert np.abs(render(fresh, plan_2d((as_float,), (16, 32), 1)) - shot).max() <= 1
    formats = _page_formats(backend)
    assert len(formats) == 1
    assert formats != {glir.as_enum("r32f")}  # an integer texture, half or a quarter the bytes


@pytest.mark.qt
def test_a_window_draws_uint16_pages_by_their_values() -> None:
    """The same r16 page through a Qt window's (GLX) context."""
    from tilescope.render import create_backend
    from tilescope.render.vispy._app import _has_display

    if not _has_display():
        pytest.skip("needs a display (run under xvfb-run -a)")
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    backend: Any = create_backend(show=True, size=(16, 32))
    try:
        backend.native.show()
        draw, expected = _integer_draw("uint16", 65535)
        shot = render(backend, plan_2d((draw,), (16, 32), 1))
        assert np.abs(shot[8, :, 0] - expected).max() <= 1.5
        assert len(_page_formats(backend)) == 1
    finally:
        backend.close()


def test_integer_texels_are_for_one_channel_images_only() -> None:
    with pytest.raises(ValueError, match="texel"):
        dataclasses.replace(_draw(()), texel="float16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="texel"):
        dataclasses.replace(_draw(()), channels=4, texel="uint8")


def _variants(backend: Any) -> list[tuple[bool, bool]]:
    (layer,) = backend._layers.values()
    return [visual.variant for visual in layer._pages._visuals]


def test_a_grey_layer_at_gamma_1_is_drawn_without_pow_or_lookup_and_the_same(
    make_backend: BackendFactory,
) -> None:
    """A one-channel image in cmap's "gray" at gamma 1 gets a shader without ``pow`` and
    without the lookup texture (software OpenGL pays every instruction per pixel); the
    pixels are those of the full shader: (v - lo) / (hi - lo), then ^ gamma, by the colormap."""
    backend = make_backend((16, 32))
    draw, expected = _integer_draw("uint16", 65535)
    shot = render(backend, plan_2d((draw,), (16, 32), 1))
    assert _variants(backend) == [(False, True)]
    assert np.abs(shot[8, :, 0] - expected).max() <= 1.5
    assert np.abs(shot[8, :, 1] - expected).max() <= 1.5

    bent = dataclasses.replace(draw, gamma=0.5)
    shot = render(backend, plan_2d((bent,), (16, 32), 1))
    assert _variants(backend) == [(True, True)]
    assert np.abs(shot[8, :, 0] - 255 * (expected / 255) ** 0.5).max() <= 1.5

    viridis = Colormap("viridis")
    coloured = dataclasses.replace(draw, colormap=viridis)
    shot = render(backend, plan_2d((coloured,), (16, 32), 1))
    assert _variants(backend) == [(False, False)]
    reference = viridis(expected / 255)[:, :3] * 255  # cmap's own mapping, not the shader's
    assert np.abs(shot[8, :, :3] - reference).max() <= 2.5

    back = render(backend, plan_2d((draw,), (16, 32), 1))  # and back to the cheap shader
    assert _variants(backend) == [(False, True)]
    assert np.abs(back[8, :, 0] - expected).max() <= 1.5


def test_is_grey_knows_cmaps_gray_from_other_ramps() -> None:
    from tilescope.render.vispy._tiled import cmap_lut, is_grey

    assert is_grey(cmap_lut(Colormap("gray")))
    for name in ("gray_r", "viridis", "magma", "green"):
        assert not is_grey(cmap_lut(Colormap(name))), name


def test_a_shown_kind_gets_an_adaptor_made_ahead_beside_one_left_by_a_removed_layer(
    make_backend: BackendFactory,
) -> None:
    """An adaptor made ahead for a layer removed before it was shown stays for its kind; a
    kind shown since (here: its layer's adaptor just taken) must still be asked for."""
    backend = make_backend((16, 32))
    backend.apply(plan_2d((_draw((_quad(0),)),), (16, 32), 1))  # float32, left for later
    backend.prepare()  # its adaptor, made ahead
    backend.prepare()  # and its first visual
    backend.apply(plan_2d((), (16, 32), 1))  # removed before it was shown
    assert not backend.pending_layers
    assert not backend.wants_prepare  # nothing shown: nothing to make
    kinds: Any = backend._tiled_kinds  # type: ignore[attr-defined]
    kinds.add(("image", 1, "uint16"))  # a uint16 layer shown, then removed
    assert backend.wants_prepare
    backend.prepare()
    ahead: Any = backend._ahead  # type: ignore[attr-defined]
    assert set(ahead) == {("image", 1, "uint16"), ("image", 1, "float32")}
