"""Frame grids: rows = videos, columns = time, with a thin gutter; nearest-neighbour upscaling."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] → (B, T, H, W, 3) uint8."""
    v = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return v.permute(0, 2, 3, 4, 1).cpu().numpy()


def frame_grid(videos: np.ndarray, columns: int | None = None, gutter: int = 2, scale: int = 1,
               background: int = 255) -> np.ndarray:
    """videos (N, T, H, W, 3) uint8 → one image: N rows × ``columns`` frames (evenly spaced in time)."""
    n, t, h, w, _ = videos.shape
    columns = columns or t
    idx = np.linspace(0, t - 1, columns).round().astype(int)
    if scale > 1:
        videos = videos.repeat(scale, axis=2).repeat(scale, axis=3)
        h, w = h * scale, w * scale
    out = np.full((n * h + (n + 1) * gutter, columns * w + (columns + 1) * gutter, 3), background, np.uint8)
    for r in range(n):
        for c, ti in enumerate(idx):
            y, x = gutter + r * (h + gutter), gutter + c * (w + gutter)
            out[y:y + h, x:x + w] = videos[r, ti]
    return out
