"""Writing what people look at: captioned frame-grid PNGs and animated GIFs. Text is drawn with
OpenCV's built-in Hershey font, so the same inputs give the same bytes on every machine."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from g3an.fsutil import atomic_path, write_bytes_atomic
from g3an.render.grid import frame_grid

FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_SCALE = 0.45
TITLE_SCALE = 0.6
INK = (20, 20, 20)


def _text_size(text: str, scale: float) -> tuple[int, int]:
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    return w, h + base


def captioned(grid: np.ndarray, row_height: int, gutter: int, captions: Sequence[str], title: str) -> np.ndarray:
    """Add a title bar above and a caption column left of a grid whose rows are ``row_height`` tall."""
    pad = 8
    cap_w = max([_text_size(c, TEXT_SCALE)[0] for c in captions] + [0]) + 2 * pad
    title_h = _text_size(title, TITLE_SCALE)[1] + 2 * pad
    h, w = grid.shape[:2]
    out = np.full((h + title_h, max(w + cap_w, _text_size(title, TITLE_SCALE)[0] + 2 * pad), 3), 255, np.uint8)
    out[title_h:, cap_w:cap_w + w] = grid
    cv2.putText(out, title, (pad, title_h - pad - 2), FONT, TITLE_SCALE, INK, 1, cv2.LINE_AA)
    for r, text in enumerate(captions):
        th = _text_size(text, TEXT_SCALE)[1]
        y = title_h + gutter + r * (row_height + gutter) + (row_height + th) // 2 - 2
        cv2.putText(out, text, (pad, y), FONT, TEXT_SCALE, INK, 1, cv2.LINE_AA)
    return out


GUTTER = 2  # pixels between rows and frames


def captioned_grid(videos: Sequence[np.ndarray] | np.ndarray, captions: Sequence[str], title: str, scale: int = 1,
                   columns: int | None = None, indices: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """One row of frames per video (``grid.frame_grid``), each row captioned, the whole titled: the
    figures ``render`` draws and the sample grid training logs."""
    grid = frame_grid(videos, columns=columns, gutter=GUTTER, scale=scale, indices=indices)
    return captioned(grid, videos[0].shape[1] * scale, GUTTER, captions, title)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Atomic PNG write (fixed compression: identical pixels give identical bytes)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError(f"{path}: OpenCV could not encode a {rgb.shape} {rgb.dtype} image as PNG")
    write_bytes_atomic(path, buf.tobytes())


def write_gif(path: Path, frames: np.ndarray, fps: int = 8, scale: int = 2) -> None:
    """frames (T, H, W, 3) uint8 → an endlessly looping GIF, one GIF frame per video frame."""
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(f) for f in frames]
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps),
                       loop=0, optimize=False, disposal=1)

