"""Command line: ``tilescope view PATH`` and ``tilescope demo``.

With a display both open a window; without one (a server, CI, ssh) they say so and write a
screenshot instead. User errors (missing file, unreadable format, bad data) print one clear
line on stderr and exit with status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tilescope.errors import TilescopeError
from tilescope.render.display import display_problem

if TYPE_CHECKING:
    from tilescope.viewer import Viewer

__all__ = ["main"]

DEFAULT_SIZE = (768, 1024)  # (height, width) of screenshots and the canvas


def _parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(H, W)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be WIDTHxHEIGHT in pixels, e.g. 1024x768, not {text!r}"
        ) from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"size {text!r} must be between 16 and 8192 pixels a side")
    return h, w


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tilescope",
        description="An n-dimensional image viewer that never freezes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--screenshot",
            metavar="OUT.png",
            type=Path,
            help="write a screenshot to this PNG and exit (no window)",
        )
        p.add_argument(
            "--size",
            metavar="WxH",
            type=_parse_size,
            default=DEFAULT_SIZE,
            help="canvas / screenshot size in pixels (default 1024x768)",
        )

    view = sub.add_parser(
        "view",
        help="view a .npy, TIFF (OME, SVS, NDPI), zarr or OME-Zarr file, or a URL",
        epilog="URL reads: TILESCOPE_REMOTE_TIMEOUT_S (seconds per request, default 30) and "
        "TILESCOPE_REMOTE_CONCURRENCY (requests in flight, default 16). Exit status: 0 done; "
        "1 a layer on the screenshot failed or is incomplete; 2 the input cannot be opened.",
    )
    view.add_argument(
        "path", help="file, zarr directory, or http(s)://, s3://, gs:// URL of a zarr store"
    )
    common(view)
    demo = sub.add_parser(
        "demo", help="a huge procedural multiscale z-stack and a real image (no download)"
    )
    common(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tilescope`` command; returns the process exit status."""
    args = _build_parser().parse_args(argv)
    size: tuple[int, int] = args.size
    screenshot: Path | None = args.screenshot
    command: str = args.command
    problem = display_problem() if screenshot is None else None
    windowed = screenshot is None and problem is None
    if problem is not None:
        screenshot = Path(f"tilescope-{command}.png")
        print(
            f"tilescope: no display found ({problem}); "
            f"writing a screenshot to {screenshot} instead of opening a window.",
            file=sys.stderr,
        )
    try:
        from tilescope.viewer import Viewer

        viewer = Viewer(show=windowed, size=size, title=f"tilescope {command}")
        try:
            if command == "demo":
                _load_demo(viewer)
            else:
                viewer.open(args.path)
            if screenshot is not None:
                viewer.screenshot(screenshot, size=size)
                print(f"tilescope: wrote {screenshot}")
                return _report_failed_layers(viewer)
            return viewer.run()
        finally:
            viewer.close()
    except TilescopeError as e:
        print(f"tilescope: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _report_failed_layers(viewer: Viewer) -> int:
    """1 (after printing each) when a visible layer is not ready after the screenshot, else 0.

    "loading" counts too: the screenshot's wait timed out, so the picture is incomplete.
    """
    failed = [
        (layer, status)
        for layer in viewer.layers
        if layer.visible and (status := viewer.layer_status(layer)).state != "ready"
    ]
    for layer, status in failed:
        print(f"tilescope: layer {layer.name!r} is incomplete: {status}", file=sys.stderr)
    return 1 if failed else 0


def _load_demo(viewer: Viewer) -> None:
    from tilescope.data.sample import procedural_pyramid, small_real_image

    levels = procedural_pyramid()
    size = levels[0].shape[-1]
    viewer.add_image(
        levels,
        name="procedural pyramid",
        colormap="magma",
        contrast_limits=(14000, 51000),
        multiscale=True,
    )
    # The real image sits in the middle of the pyramid, scaled to a tenth of its width.
    scale = size / 10 / 512
    viewer.add_image(
        small_real_image(),
        name="immunohistochemistry (scikit-image)",
        rgb=True,
        scale=(scale, scale),
        translate=(size / 2 - 256 * scale, size / 2 - 256 * scale),
    )
    viewer.reset_view()
