"""The G³ module: three parallel streams and their fusion (paper §3.1, appendix Table 1).

- G_A (appearance, 2D): transposed conv with kernel 1×k×k on (B, C, 1, H, W).
- G_M (motion, 1D): transposed conv with kernel k×1×1 on (B, C, T, 1, 1).
- G_V (video, 3D): factorised transposed conv — ``"1p2d"`` temporal then spatial (default),
  ``"2p1d"`` spatial then temporal, or ``"3d"`` one full k×k×k kernel — on (B, C, T, H, W).
Fusion: the motion output is broadcast over H×W and added to the video output; the appearance
output is broadcast over T and concatenated on channels, so G_V leaves with 2 × ``width`` channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from g3an.models.layers import up_block

VideoMode = Literal["1p2d", "2p1d", "3d"]


@dataclass(frozen=True)
class Up:
    """One axis' transposed-conv geometry: out = (in − 1)·stride − 2·padding + kernel."""

    kernel: int
    stride: int
    padding: int

    def out(self, n: int) -> int:
        return (n - 1) * self.stride - 2 * self.padding + self.kernel


START4 = Up(4, 1, 0)  # 1 → 4
PLUS1 = Up(2, 1, 0)  # n → n + 1
PLUS3 = Up(4, 1, 0)  # n → n + 3
DOUBLE = Up(4, 2, 1)  # n → 2n
KEEP = Up(3, 1, 1)  # n → n, mixing neighbours (the paper preset's G³_4)
KEEP1 = Up(1, 1, 0)  # n → n, per step (the reference code's T-keeping modules)


class G3Module(nn.Module):
    def __init__(self, in_video: int, in_appearance: int, in_motion: int, width: int,
                 spatial: Up, temporal: Up, video_mode: VideoMode = "1p2d", sn: bool = True):
        super().__init__()
        s, t = spatial, temporal
        self.appearance = up_block(in_appearance, width, (1, s.kernel, s.kernel), (1, s.stride, s.stride),
                                   (0, s.padding, s.padding), sn)
        self.motion = up_block(in_motion, width, (t.kernel, 1, 1), (t.stride, 1, 1), (t.padding, 0, 0), sn)
        temporal_conv = ((t.kernel, 1, 1), (t.stride, 1, 1), (t.padding, 0, 0))
        spatial_conv = ((1, s.kernel, s.kernel), (1, s.stride, s.stride), (0, s.padding, s.padding))
        if video_mode == "1p2d":
            self.video = nn.Sequential(up_block(in_video, width, *temporal_conv, sn),
                                       up_block(width, width, *spatial_conv, sn))
        elif video_mode == "2p1d":
            self.video = nn.Sequential(up_block(in_video, width, *spatial_conv, sn),
                                       up_block(width, width, *temporal_conv, sn))
        elif video_mode == "3d":
            self.video = up_block(in_video, width, (t.kernel, s.kernel, s.kernel), (t.stride, s.stride, s.stride),
                                  (t.padding, s.padding, s.padding), sn)
        else:
            raise ValueError(f"unknown video_mode {video_mode!r}; expected '1p2d', '2p1d' or '3d'")
        self.out_channels = 2 * width

    def forward(self, v: torch.Tensor, a: torch.Tensor, m: torch.Tensor):
        """v (B, Cv, T, H, W), a (B, Ca, 1, H, W), m (B, Cm, T, 1, 1) → the three, upsampled and fused."""
        vm, a, m = self.streams(v, a, m)
        return self.concat(vm, a), a, m

    def streams(self, v: torch.Tensor, a: torch.Tensor, m: torch.Tensor):
        """The three streams upsampled, motion added to video, appearance not yet broadcast: the fused
        output is ``concat(vm, a)``. A consumer that is linear in its channels (the RGB conv) can
        take the two apart and skip the copy of ``a`` over T."""
        v = self.video(v)  # (B, w, T', H', W')
        a = self.appearance(a)  # (B, w, 1, H', W')
        m = self.motion(m)  # (B, w, T', 1, 1)
        return v + m, a, m  # motion broadcast over H', W'

    @staticmethod
    def concat(vm: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.cat([vm, a.expand(-1, -1, vm.shape[2], -1, -1)], dim=1)  # (B, 2w, T', H', W')
