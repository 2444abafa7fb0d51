"""A picture whose finest detail only a full-resolution frame resolves (motion-frame tests)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CHECKER = (slice(8, 40), slice(8, 40))  # 1-pixel checkerboard
SQUARE = (slice(16, 48), slice(56, 88))  # solid white


def picture() -> npt.NDArray[np.uint8]:
    """64 x 96: a 1-pixel checkerboard on the left, a white square on the right."""
    img = np.zeros((64, 96), np.uint8)
    img[CHECKER] = (np.indices((32, 32)).sum(0) % 2) * 255
    img[SQUARE] = 255
    return img


#: A camera showing :func:`picture` 1:1, data pixel centres on screen pixel centres, on a
#: canvas of even width and height.
CENTER, ZOOM = (31.5, 47.5), 1.0


def alternation(frame: npt.NDArray[np.uint8]) -> float:
    """Mean step between neighbouring pixels inside the checkerboard (away from its edge) of
    a frame showing :func:`picture` about 1:1 anywhere on a black canvas: over 100 where it
    is resolved, 0 where nothing is drawn."""
    red = frame[..., 0].astype(np.int16)
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    if not rows.size:
        return 0.0
    top, left = rows[0], cols[0]  # the checkerboard's corner: the picture's first lit pixel
    inner = red[top + 4 : top + 28, left + 4 : left + 28]
    return float(np.abs(np.diff(inner, axis=1)).mean())
