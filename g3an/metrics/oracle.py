"""The synthetic renderer as a generator: the perfectly disentangled model, used as the ceiling of
the disentanglement scores on the synthetic set (what the evaluator can recognise at best).

z_a sets the appearance factors (each factor from one dimension, through the normal CDF), the
label sets the action, z_m its speed and phase. ``ignore_motion`` makes a motion-blind variant:
every video performs the first action with the same trajectory, whatever z_m and the label say.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np
import torch
from torch import nn

from pipeline.crop import resize_center_crop
from pipeline.sources.synthetic import BACKGROUNDS, COLOURS, SHAPES, SIZES, Appearance, draw_frame, trajectory


def _bucket(v: torch.Tensor, n: int) -> int:
    return min(n - 1, int((torch.erf(v / 2 ** 0.5) + 1) / 2 * n))


class RendererGenerator(nn.Module):
    def __init__(self, classes: Sequence[str], size: int = 64, frames: int = 16, ignore_motion: bool = False):
        super().__init__()
        self.classes, self.size, self.frames, self.ignore_motion = list(classes), size, frames, ignore_motion
        self.register_buffer("anchor", torch.zeros(1))  # gives generate() a device

    def appearance(self, z_a: torch.Tensor) -> Appearance:
        return Appearance(SHAPES[_bucket(z_a[0], len(SHAPES))], list(COLOURS)[_bucket(z_a[1], len(COLOURS))],
                          list(SIZES)[_bucket(z_a[2], len(SIZES))], list(BACKGROUNDS)[_bucket(z_a[3], len(BACKGROUNDS))])

    def forward(self, z_a: torch.Tensor, z_m: torch.Tensor, labels=None) -> torch.Tensor:
        out = []
        for b in range(z_a.shape[0]):
            app = self.appearance(z_a[b])
            motion_free = self.ignore_motion or labels is None
            action = self.classes[0] if motion_free else self.classes[int(labels[b])]
            rng = random.Random(0 if self.ignore_motion else float(z_m[b].sum()))
            traj = trajectory(action, 3 * self.frames, rng)[::3]  # frame step 3, as in training clips
            clip = np.stack([resize_center_crop(draw_frame(app, *p), self.size) for p in traj])
            out.append(torch.from_numpy(clip).permute(3, 0, 1, 2).float() / 127.5 - 1)  # (3, T, H, W)
        return torch.stack(out)
