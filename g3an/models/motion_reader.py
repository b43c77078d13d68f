"""The motion reader: an InfoGAN Q for z_m that sees only how a clip changes (``train.zm_reader: motion``).

InfoGAN on z_m (``train.zm_info``, not the paper) has D_V read the motion code back from a fake
and trains G to make that reading right. A linear Q on D_V's features (``zm_reader: linear``)
reads z_m from wherever G writes it, and in our runs G wrote it into colour: the three z_m under
one z_a drew a green, a yellow and a red object (docs/what-we-tried.md, "InfoGAN on z_m"). This
reader gets the clip's frame differences only, so a still image added to every frame cancels
out: z_m written into appearance cannot be read, and G earns nothing for writing it there.

Three strided 3D convs at D_V's first three widths (64, 128, 256 × ``width``), LeakyReLU 0.2,
average-pooled to 1 × 4 × 4, then a linear layer to z_m's 10 · T_z numbers. PyTorch's default
initialisation and no spectral norm: it is a regressor, not a critic.
"""

from __future__ import annotations

import torch
from torch import nn

from g3an.models.layers import assert_shape, channels

_WIDTHS = (64, 128, 256)
MIN_FRAMES = 5  # 4 differences: time 4 → 2 → 1 through the two strided convs


class MotionReader(nn.Module):
    def __init__(self, motion_code: int, frames: int, width: float = 1.0):
        super().__init__()
        if motion_code < 1:
            raise ValueError(f"a motion reader needs a motion code to read; got motion_code={motion_code}")
        if frames < MIN_FRAMES:
            raise ValueError(f"the motion reader needs clips of at least {MIN_FRAMES} frames; got {frames}")
        self.frames = frames
        c1, c2, c3 = (channels(w, width) for w in _WIDTHS)
        self.convs = nn.Sequential(
            nn.Conv3d(3, c1, 4, 2, 1), nn.LeakyReLU(0.2),  # time and space halved
            nn.Conv3d(c1, c2, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv3d(c2, c3, (3, 4, 4), (1, 2, 2), 1), nn.LeakyReLU(0.2),  # time kept: it may be 1 by now
            nn.AdaptiveAvgPool3d((1, 4, 4)))
        self.out = nn.Linear(c3 * 16, motion_code)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, 3, T, H, W) → the z_m it reads, flattened (B, motion_code)."""
        assert_shape(video, (None, 3, self.frames, None, None))
        motion = video[:, :, 1:] - video[:, :, :-1]  # (B, 3, T−1, H, W): what a still image adds cancels
        return self.out(self.convs(motion).flatten(1))  # (B, C, 1, 4, 4) → (B, motion_code)
