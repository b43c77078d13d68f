"""Consistent translation of whole clips before the discriminators: DiffAugment's ``translation``
(Zhao et al., 2020), applied alike to real and generated clips, differentiably, so G learns through
it. An option (``train.augment_translate``), not the paper: the paper shows D un-augmented clips.

Each clip moves by its own (dy, dx), the same for every frame, so motion within the clip is kept;
what the shift uncovers is zero (mid-grey in [-1, 1]). R1 then penalises ∂D/∂x at the shifted real
clips, as StyleGAN2-ADA does with its augmented reals.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def translate(video: torch.Tensor, fraction: float, gen: torch.Generator) -> torch.Tensor:
    """video (B, C, T, H, W) → the same shape, each clip shifted by up to ``fraction`` of its height
    and width. ``fraction`` 0 returns ``video`` itself and draws nothing from ``gen``."""
    if fraction <= 0:
        return video
    b, _, _, h, w = video.shape
    my, mx = round(fraction * h), round(fraction * w)
    dy = torch.randint(-my, my + 1, (b,), generator=gen).tolist()
    dx = torch.randint(-mx, mx + 1, (b,), generator=gen).tolist()
    padded = F.pad(video, (mx, mx, my, my))  # (B, C, T, H + 2my, W + 2mx)
    return torch.stack([padded[i, :, :, my - y:my - y + h, mx - x:mx - x + w]  # content moves by (+y, +x)
                        for i, (y, x) in enumerate(zip(dy, dx))])
