"""The two discriminators, trained jointly: D_V on whole clips, D_I on single frames.

- ``VideoDiscriminator``: ``"3d"`` (the paper: 4×4×4 Conv3d, stride 2) or ``"2p1d"`` (the
  reference code: spatial 1×4×4 stride 2, then temporal 4×1×1 stride 2). Widths 64→128→256→512
  (× ``width``), spectral norm, LeakyReLU 0.2, one logit. Time is only strided while it is ≥ 2.
- ``ImageDiscriminator``: DCGAN-style Conv2d 64→512, spectral norm, LeakyReLU 0.2, one logit.

Both end with a linear layer over the flattened last feature map — the reference's final 4×4
conv, written as a linear — so they are built for one input size (``frames``, ``size``).

Class conditioning is a **projection** (Miyato & Koyama, 2018): logit = ψ(φ(x)) + ⟨e_y, φ(x)⟩.
We chose it over concatenating label maps to the input because it conditions every feature at
the end without changing the input layers, keeps spectral norm's Lipschitz control, and is the
standard conditional D for spectrally-normalised GANs.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from torch import nn

from g3an.models.layers import assert_shape, channels, conv2d, conv3d, embedding, linear

_WIDTHS = (64, 128, 256, 512)


def _n_layers(size: int) -> int:
    n = int(math.log2(size // 4))
    if 4 * 2 ** n != size or n < 1:
        raise ValueError(f"frame size {size} not supported; expected a power of two >= 8")
    return n


class _ProjectionHead(nn.Module):
    def __init__(self, features: int, n_classes: int):
        super().__init__()
        self.linear = linear(features, 1)
        self.embed = embedding(n_classes, features) if n_classes else None

    def forward(self, h: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        h = h.flatten(1)  # (B, F)
        logit = self.linear(h).squeeze(1)  # (B,)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass labels (B,)")
            logit = logit + (self.embed(labels) * h).sum(1)
        return logit


class VideoDiscriminator(nn.Module):
    def __init__(self, frames: int = 16, size: int = 64, width: float = 1.0,
                 mode: Literal["3d", "2p1d"] = "3d", n_classes: int = 0):
        super().__init__()
        if mode not in ("3d", "2p1d"):
            raise ValueError(f"unknown video D mode {mode!r}; expected '3d' or '2p1d'")
        self.frames, self.size = frames, size
        layers: list[nn.Module] = []
        cin, t, s = 3, frames, size
        for i in range(_n_layers(size)):
            cout = channels(_WIDTHS[min(i, 3)], width)
            tk, ts, tp = (4, 2, 1) if t >= 2 else (1, 1, 0)
            if mode == "3d":
                layers += [conv3d(cin, cout, (tk, 4, 4), (ts, 2, 2), (tp, 1, 1)), nn.LeakyReLU(0.2, inplace=True)]
            else:
                layers += [conv3d(cin, cout, (1, 4, 4), (1, 2, 2), (0, 1, 1)), nn.LeakyReLU(0.2, inplace=True),
                           conv3d(cout, cout, (tk, 1, 1), (ts, 1, 1), (tp, 0, 0)), nn.LeakyReLU(0.2, inplace=True)]
            cin, t, s = cout, (t + 2 * tp - tk) // ts + 1, s // 2
        self.features = nn.Sequential(*layers)
        self.head = _ProjectionHead(cin * t * s * s, n_classes)

    def forward(self, video: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        assert_shape(video, (None, 3, self.frames, self.size, self.size))  # (B, 3, T, H, W)
        return self.head(self.features(video), labels)  # (B,)


class ImageDiscriminator(nn.Module):
    def __init__(self, size: int = 64, width: float = 1.0, n_classes: int = 0):
        super().__init__()
        self.size = size
        layers: list[nn.Module] = []
        cin, s = 3, size
        for i in range(_n_layers(size)):
            cout = channels(_WIDTHS[min(i, 3)], width)
            layers += [conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            cin, s = cout, s // 2
        self.features = nn.Sequential(*layers)
        self.head = _ProjectionHead(cin * s * s, n_classes)

    def forward(self, image: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        assert_shape(image, (None, 3, self.size, self.size))  # (B, 3, H, W)
        return self.head(self.features(image), labels)  # (B,)
