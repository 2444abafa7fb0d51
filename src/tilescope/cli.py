"""Command line: ``tilescope view PATH``, ``tilescope demo``, ``pyramid`` and ``serve``.

With a display ``view`` and ``demo`` open a window; without one (a server, CI, ssh) they say
so and write a screenshot instead. ``pyramid`` and ``serve`` need no display. User errors
(missing file, unreadable format, bad data) print one clear line on stderr and exit with
status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tilescope.errors import TilescopeError
from tilescope.render.display import display_problem

if TYPE_CHECKING:
    from tilescope.viewer import Viewer

__all__ = ["load_demo", "main"]

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
    _add_data_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tilescope`` command; returns the process exit status."""
    args = _build_parser().parse_args(argv)
    if args.command in ("pyramid", "serve"):
        return _run_data_command(args)
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
                load_demo(viewer)
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


def load_demo(viewer: Viewer) -> None:
    """Add ``tilescope demo``'s layers to ``viewer`` (benchmarks replay the demo with it)."""
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


# -- tilescope pyramid / tilescope serve (no viewer, no display) ------------------------------


def _add_data_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pyr = sub.add_parser(
        "pyramid",
        help="write an OME-Zarr 0.5 pyramid (mean, or mode for labels) with dask",
        description="Write INPUT (.npy, TIFF, zarr, OME-Zarr) as an OME-Zarr 0.5 pyramid.",
    )
    pyr.add_argument("input", type=Path, help="file or zarr store to read")
    pyr.add_argument("output", type=Path, help="the OME-Zarr store to write (OUTPUT.zarr)")
    pyr.add_argument("--levels", type=int, help="number of levels (default: down to one chunk)")
    pyr.add_argument(
        "--chunks", metavar="N|N,N,...", help="chunk edge on y/x (default 256), or one per axis"
    )
    pyr.add_argument(
        "--scheduler", metavar="ADDRESS", help="dask.distributed scheduler (default: threads)"
    )
    pyr.add_argument("--labels", action="store_true", help="integer labels: mode downsampling")
    pyr.add_argument("--axes", help="axis names, e.g. cyx or tczyx (default: from the input)")
    pyr.add_argument("--scale", metavar="S,S,...", help="level-0 pixel size, one per axis")
    pyr.add_argument("--units", help="unit of the space axes, e.g. micrometer or µm")
    pyr.add_argument("--downsample-z", action="store_true", help="also halve z at each level")
    pyr.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    pyr.add_argument("--quiet", action="store_true", help="no progress bar")
    srv = sub.add_parser(
        "serve",
        help="serve a directory over HTTP with latency and a bandwidth cap",
        description="Serve DIR on 127.0.0.1 for tests, benchmarks and demos; Ctrl-C stops.",
    )
    srv.add_argument("directory", type=Path, help="directory to serve")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    srv.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    srv.add_argument(
        "--bandwidth-mbps", type=float, default=0.0, help="Mbit/s per response (0: unlimited)"
    )
    srv.add_argument(
        "--fail", metavar="GLOB", action="append", default=[], help="answer 500 for these paths"
    )
    srv.add_argument("--verbose", action="store_true", help="log every request on stderr")


def _numbers(text: str | None, kind: type[float] | type[int], what: str) -> list[float] | None:
    from tilescope.errors import PyramidError

    if text is None:
        return None
    try:
        return [kind(v) for v in text.split(",")]
    except ValueError:
        raise PyramidError(
            f"--{what} takes comma-separated numbers such as 1,256,256, not {text!r}."
        ) from None


def _run_data_command(args: argparse.Namespace) -> int:
    try:
        if args.command == "pyramid":
            return _pyramid(args)
        return _serve(args)
    except TilescopeError as e:
        print(f"tilescope: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _pyramid(args: argparse.Namespace) -> int:
    from tilescope.data.pyramid import read_source, write_pyramid

    chunks = _numbers(args.chunks, int, "chunks")
    source = read_source(args.input)
    levels = write_pyramid(
        source,
        args.output,
        levels=args.levels,
        chunks=None
        if chunks is None
        else [int(c) for c in chunks]
        if len(chunks) > 1
        else int(chunks[0]),
        axes=args.axes,
        scale=_numbers(args.scale, float, "scale"),
        units=args.units,
        labels=args.labels,
        downsample_z=args.downsample_z,
        overwrite=args.overwrite,
        scheduler=args.scheduler,
        progress=not args.quiet,
    )
    shapes = ", ".join(f"{lv.path} {'x'.join(map(str, lv.shape))}" for lv in levels)
    print(f"tilescope: wrote {args.output} ({len(levels)} levels: {shapes})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from tilescope.data.serve import SlowHTTPServer, fail_paths

    server = SlowHTTPServer(
        args.directory,
        port=args.port,
        latency_ms=args.latency_ms,
        bandwidth_mbps=args.bandwidth_mbps or None,
        faults=fail_paths(*args.fail) if args.fail else None,
        verbose=args.verbose,
    )
    bandwidth = f"{args.bandwidth_mbps:g} Mbit/s" if args.bandwidth_mbps else "unlimited"
    # SIGTERM (kill, systemd, docker stop) stops it as Ctrl-C does; handled before the URL is
    # printed (whoever read it may stop us at once). Ctrl-C itself keeps the disposition this
    # process was started with: a shell script's background job ignores SIGINT, and Python
    # then installs no KeyboardInterrupt for it.
    previous = signal.signal(signal.SIGTERM, _stop_serving)
    try:
        print(
            f"tilescope: serving {args.directory} at {server.url} "
            f"(latency {args.latency_ms:g} ms, bandwidth {bandwidth}); Ctrl-C stops",
            flush=True,
        )
        server.serve_forever()
    except (KeyboardInterrupt, _StopServing):
        print("tilescope: stopped", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
    return 0


class _StopServing(Exception):
    """Raised in the main thread by SIGTERM to end ``tilescope serve``."""


def _stop_serving(signum: int, frame: object) -> None:
    raise _StopServing
