"""Frame grids: rows = videos, columns = time, with a thin gutter; nearest-neighbour upscaling.
Rows may have different lengths (the variable-length figure): short rows end early."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] → (B, T, H, W, 3) uint8."""
    v = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return v.permute(0, 2, 3, 4, 1).cpu().numpy()


def column_indices(t: int, columns: int) -> np.ndarray:
    """``columns`` frame indices evenly spaced over a ``t``-frame video."""
    return np.linspace(0, t - 1, min(columns, t)).round().astype(int)


def frame_grid(videos: Sequence[np.ndarray] | np.ndarray, columns: int | None = None, gutter: int = 2,
               scale: int = 1, background: int = 255, indices: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """videos: N arrays (T_i, H, W, 3) uint8 → one image, one row per video. Each row shows
    ``indices[i]`` (default: ``columns`` evenly spaced frames of that video)."""
    videos = list(videos)
    h, w = videos[0].shape[1:3]
    if indices is None:
        indices = [column_indices(v.shape[0], columns or v.shape[0]) for v in videos]
    ncols = max(len(ix) for ix in indices)
    hs, ws = h * scale, w * scale
    out = np.full((len(videos) * hs + (len(videos) + 1) * gutter, ncols * ws + (ncols + 1) * gutter, 3),
                  background, np.uint8)
    for r, (video, ix) in enumerate(zip(videos, indices)):
        for c, ti in enumerate(ix):
            frame = video[ti]
            if scale > 1:
                frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
            y, x = gutter + r * (hs + gutter), gutter + c * (ws + gutter)
            out[y:y + hs, x:x + ws] = frame
    return out
