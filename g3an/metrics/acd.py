"""Average content distance (ACD): how much a video's appearance drifts across its frames (lower
is more consistent). Two variants:

- ``acd_color``: MoCoGAN's definition for shapes — the L2 distance between frames' mean
  *foreground* colour (0–255 RGB), averaged over frame pairs and videos. Foreground = pixels that
  differ from the frame's background (the median colour of its border) by more than a threshold.
  Videos with an empty foreground in some frame are left out and counted (``coverage``): a blank
  video is not "consistent".
- ``acd_feat``: the same over the evaluator's per-frame appearance embeddings.
ACD alone is no quality score (a still image scores 0); read it beside the other metrics.
"""

from __future__ import annotations

import numpy as np
import torch


def _pairwise_mean(x: torch.Tensor) -> torch.Tensor:
    """x (N, T, D) → (N,) mean L2 distance over the T·(T−1)/2 frame pairs."""
    t = x.shape[1]
    d = torch.cdist(x, x)  # (N, T, T)
    return d.sum((1, 2)) / (t * (t - 1))


def foreground_colours(videos: np.ndarray, threshold: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """videos (N, T, H, W, 3) uint8 → mean foreground colour (N, T, 3) and a mask (N, T) of frames with any."""
    v = videos.astype(np.float32)
    border = np.concatenate([v[:, :, 0], v[:, :, -1], v[:, :, :, 0], v[:, :, :, -1]], axis=2)  # (N, T, 2H+2W, 3)
    bg = np.median(border, axis=2)  # (N, T, 3)
    fg = np.abs(v - bg[:, :, None, None]).max(-1) > threshold  # (N, T, H, W)
    count = fg.sum((2, 3))
    colour = (v * fg[..., None]).sum((2, 3)) / np.maximum(count, 1)[..., None]
    return colour, count > 0


def acd_color(videos: np.ndarray) -> dict:
    colour, present = foreground_colours(videos)
    ok = present.all(1)
    value = float(_pairwise_mean(torch.from_numpy(colour[ok]).double()).mean()) if ok.any() else None
    return {"value": value, "coverage": float(ok.mean())}


def acd_feat(frame_embeddings: torch.Tensor) -> dict:
    """frame_embeddings (N, T, D)."""
    return {"value": float(_pairwise_mean(frame_embeddings.double()).mean())}
