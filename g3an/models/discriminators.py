"""The two discriminators, trained jointly: D_V on whole clips, D_I on single frames (and, with
``train.pair_d``, a third: D_P on pairs of frames, ``PairDiscriminator``).

- ``VideoDiscriminator``:
  - ``"3d"`` (the paper): per layer a 4×4×4 Conv3d, stride 2 (time only strided while it is
    ≥ 2), then a linear head over the flattened last feature map.
  - ``"2p1d"`` (the public reference code's video D): per layer a spatial conv 1×4×4 stride
    (1, 2, 2) pad (0, 1, 1), then a temporal conv k×1×1 stride 1 pad 0 with k = min(4, T), so
    time shrinks by 3 per layer (16 → 13 → 10 → 7 → 4 at 64 px); the head is a 1×4×4 conv
    (same channel count) over the final 4×4 map → LeakyReLU 0.2 → a T_last×1×1 conv to one logit
    over the remaining frames (4×1×1 for 16 frames at 64 px, as in the reference).
  Widths 64→128→256→512 (× ``width``), spectral norm, LeakyReLU 0.2 after every conv but the last.
- ``ImageDiscriminator``: DCGAN-style Conv2d 64→512, spectral norm, LeakyReLU 0.2, then a linear
  head over the flattened last feature map.

The linear heads are the reference's final 4×4 conv written as a linear; every head is built for
one input size (``frames``, ``size``).

``mbstd`` > 0 (not the paper) appends ProGAN's **minibatch standard deviation** (Karras et al.,
2018) to a D's last feature map: one channel holding, for each group of ``mbstd`` samples, the
standard deviation of every feature across the group, averaged. A batch of near-identical fakes
then looks unlike a batch of real ones, whatever each looks like alone: the usual remedy for a
generator that drops modes (the default generator drew every clip on the dark background, half
the data set's). ``model.d_mbstd`` gives it to D_I, where appearance shows (``d_mbstd_video``: to
D_V too). It makes each logit depend on its batch, so real and fake inputs go through D in
separate calls (the training step does).

Class conditioning is a **projection** (Miyato & Koyama, 2018): logit = ψ(φ(x)) + ⟨e_y, φ(x)⟩.
We chose it over concatenating label maps to the input because it conditions every feature at
the end without changing the input layers, keeps spectral norm's Lipschitz control, and is the
standard conditional D for spectrally-normalised GANs. For the linear heads φ is the flattened
last feature map and ψ the linear layer; for the ``"2p1d"`` head φ is the output of the 1×4×4
conv + LeakyReLU, flattened to (B, C·T_last), and ψ the final T_last×1×1 conv — a linear map of φ,
so the projection sits exactly where the reference's unconditional logit is computed from.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from g3an.models.layers import assert_shape, channels, conv2d, conv3d, embedding, linear

_WIDTHS = (64, 128, 256, 512)


def _n_layers(size: int) -> int:
    n = int(math.log2(size // 4))
    if 4 * 2 ** n != size or n < 1:
        raise ValueError(f"frame size {size} not supported; expected a power of two >= 8")
    return n


class MinibatchStd(nn.Module):
    """(B, C, *S) → (B, C + 1, *S): the last channel is, per group of ``group`` samples (sample n in
    group n mod B/g, g the largest divisor of B up to ``group``), the mean over (C, *S) of the
    features' standard deviation across the group, the same for every position and group member."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b = h.shape[0]
        g = max(d for d in range(1, min(self.group, b) + 1) if b % d == 0)
        y = h.float().view(g, b // g, *h.shape[1:])  # (g, B/g, C, *S)
        std = (y.var(0, unbiased=False) + 1e-8).sqrt()  # (B/g, C, *S)
        s = std.flatten(1).mean(1).repeat(g)  # (B,): sample n gets its group's value
        s = s.view(b, 1, *[1] * (h.dim() - 2)).expand(b, 1, *h.shape[2:])  # (B, 1, *S)
        return torch.cat([h, s.to(h.dtype)], 1)


def _asked_heads(*asked: tuple[bool, Optional[nn.Module], str]) -> list[nn.Module]:
    """The extra heads a forward call asks for, in order, from (asked, head or None, error if absent)."""
    heads = []
    for wanted, head, missing in asked:
        if wanted:
            if head is None:
                raise ValueError(missing)
            heads.append(head)
    return heads


class _ProjectionHead(nn.Module, ABC):
    """logit = ψ(φ(h)) + ⟨e_y, φ(h)⟩ (e_y only when ``n_classes`` > 0)."""

    def __init__(self, features: int, n_classes: int):
        super().__init__()
        self.n_features = features
        self.embed = embedding(n_classes, features) if n_classes else None

    @abstractmethod
    def phi(self, h: torch.Tensor) -> torch.Tensor:
        """The last feature map → the (B, F) features the projection reads."""

    @abstractmethod
    def psi(self, phi: torch.Tensor) -> torch.Tensor:
        """(B, F) → the unconditional logit (B,); linear in φ."""

    def forward(self, h: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        return self.logit(self.phi(h), labels)

    def read(self, h: torch.Tensor, labels: Optional[torch.Tensor], heads: list[nn.Module]) -> tuple:
        """One pass: the (B,) logit, then what each of ``heads`` (linear layers on φ) reads from the
        same features φ."""
        phi = self.phi(h)  # (B, F)
        return (self.logit(phi, labels), *(head(phi) for head in heads))

    def logit(self, phi: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """(B, F) features φ → (B,) logits."""
        logit = self.psi(phi)  # (B,)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass labels (B,)")
            logit = logit + (self.embed(labels) * phi).sum(1)
        return logit


class _LinearHead(_ProjectionHead):
    """φ: the flattened last feature map; ψ: a linear layer (the reference's final 4×4 conv)."""

    def __init__(self, features: int, n_classes: int):
        super().__init__(features, n_classes)
        self.linear = linear(features, 1)

    def phi(self, h: torch.Tensor) -> torch.Tensor:
        return h.flatten(1)  # (B, F)

    def psi(self, phi: torch.Tensor) -> torch.Tensor:
        return self.linear(phi).squeeze(1)  # (B,)


class _ConvHead(_ProjectionHead):
    """The reference video D's head on (B, C, T, S, S): φ = LeakyReLU(1×S×S conv), flattened to
    (B, C·T); ψ = a T×1×1 conv to one logit."""

    def __init__(self, channels: int, frames: int, size: int, n_classes: int, in_channels: int = 0):
        super().__init__(channels * frames, n_classes)
        self.frames = frames
        self.spatial = conv3d(in_channels or channels, channels, (1, size, size))
        self.temporal = conv3d(channels, 1, (frames, 1, 1))

    def phi(self, h: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.spatial(h), 0.2).flatten(1)  # (B, C, T, 1, 1) → (B, C·T)

    def psi(self, phi: torch.Tensor) -> torch.Tensor:
        h = phi.view(phi.shape[0], -1, self.frames, 1, 1)  # (B, C, T, 1, 1)
        return self.temporal(h).flatten()  # (B, 1, 1, 1, 1) → (B,)


class VideoDiscriminator(nn.Module):
    """``motion_code`` > 0 adds InfoGAN's Q head (Chen et al., 2016; ``train.zm_info``, not the paper):
    a linear layer from the projection's features φ to that many numbers, the motion code z_m
    (10 · T_z) D_V reads back from a clip. ``class_head`` adds AC-GAN's auxiliary classifier (Odena
    et al., 2017; ``train.class_head``, not the paper): a linear layer from φ to the ``n_classes``
    class logits. ``forward(..., with_motion_code=True, with_class=True)`` returns them beside the
    logit, in that order, from the same pass. ``frame_diff`` (``model.d_frame_diff``, not the paper)
    gives D_V the clip's frame-to-frame changes x_{t+1} − x_t as three more input channels (zero
    after the last frame), so a still object or a flickering ground shows in its first layer."""

    def __init__(self, frames: int = 16, size: int = 64, width: float = 1.0,
                 mode: Literal["3d", "2p1d"] = "3d", n_classes: int = 0, motion_code: int = 0, mbstd: int = 0,
                 class_head: bool = False, frame_diff: bool = False):
        super().__init__()
        if mode not in ("3d", "2p1d"):
            raise ValueError(f"unknown video D mode {mode!r}; expected '3d' or '2p1d'")
        if class_head and n_classes < 1:
            raise ValueError("a class head needs classes: build the video D with n_classes > 0")
        if frames < 1:
            raise ValueError(f"clip length {frames} not supported; the video D needs at least 1 frame")
        self.frames, self.size, self.frame_diff = frames, size, frame_diff
        layers: list[nn.Module] = []
        cin, t, s = (6 if frame_diff else 3), frames, size
        for i in range(_n_layers(size)):
            cout = channels(_WIDTHS[min(i, 3)], width)
            if mode == "3d":
                tk, ts, tp = (4, 2, 1) if t >= 2 else (1, 1, 0)
                layers += [conv3d(cin, cout, (tk, 4, 4), (ts, 2, 2), (tp, 1, 1)), nn.LeakyReLU(0.2, inplace=True)]
                t = (t + 2 * tp - tk) // ts + 1
            else:
                tk = min(4, t)  # t ≥ 1 keeps t − tk + 1 ≥ 1: time never runs out
                layers += [conv3d(cin, cout, (1, 4, 4), (1, 2, 2), (0, 1, 1)), nn.LeakyReLU(0.2, inplace=True),
                           conv3d(cout, cout, (tk, 1, 1)), nn.LeakyReLU(0.2, inplace=True)]
                t = t - tk + 1
            cin, s = cout, s // 2
        if mbstd:
            layers.append(MinibatchStd(mbstd))
        self.features = nn.Sequential(*layers)  # → (B, C (+1 with mbstd), t, s, s)
        c_head = cin + (1 if mbstd else 0)
        self.head = (_LinearHead(c_head * t * s * s, n_classes) if mode == "3d"
                     else _ConvHead(cin, t, s, n_classes, in_channels=c_head))
        self.q = nn.Linear(self.head.n_features, motion_code) if motion_code else None
        self.classify = nn.Linear(self.head.n_features, n_classes) if class_head else None

    def forward(self, video: torch.Tensor, labels: Optional[torch.Tensor] = None, with_motion_code: bool = False,
                with_class: bool = False):
        """video (B, 3, T, H, W) → logits (B,); with ``with_motion_code`` and/or ``with_class`` a tuple:
        logits (B,), then the motion code (B, motion_code), then the class logits (B, n_classes)."""
        assert_shape(video, (None, 3, self.frames, self.size, self.size))
        heads = _asked_heads(
            (with_motion_code, self.q,
             "this video discriminator has no motion-code head: build it with motion_code > 0"),
            (with_class, self.classify, "this video discriminator has no class head: build it with class_head=True"))
        if self.frame_diff:
            change = F.pad(video[:, :, 1:] - video[:, :, :-1], (0, 0, 0, 0, 0, 1))  # (B, 3, T, H, W)
            video = torch.cat([video, change], 1)  # (B, 6, T, H, W)
        h = self.features(video)
        return self.head.read(h, labels, heads) if heads else self.head(h, labels)


class ImageDiscriminator(nn.Module):
    """``appearance_code`` > 0 adds InfoGAN's Q head for the appearance code (``train.za_info``, not
    the paper): a linear layer from the head's features φ to that many numbers, the z_a (128) D_I
    reads back from one frame. ``forward(..., with_appearance_code=True)`` returns it beside the
    logit, from the same pass."""

    def __init__(self, size: int = 64, width: float = 1.0, n_classes: int = 0, mbstd: int = 0, in_channels: int = 3,
                 appearance_code: int = 0):
        super().__init__()
        self.size, self.in_channels = size, in_channels
        layers: list[nn.Module] = []
        cin, s = in_channels, size
        for i in range(_n_layers(size)):
            cout = channels(_WIDTHS[min(i, 3)], width)
            layers += [conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            cin, s = cout, s // 2
        if mbstd:
            layers.append(MinibatchStd(mbstd))
            cin += 1
        self.features = nn.Sequential(*layers)  # → (B, C (+1 with mbstd), s, s)
        self.head = _LinearHead(cin * s * s, n_classes)
        self.q = nn.Linear(self.head.n_features, appearance_code) if appearance_code else None

    def forward(self, image: torch.Tensor, labels: Optional[torch.Tensor] = None, with_appearance_code: bool = False):
        """image (B, 3, H, W) → logits (B,); with ``with_appearance_code`` a tuple: logits (B,) and the
        appearance code read back (B, appearance_code)."""
        assert_shape(image, (None, self.in_channels, self.size, self.size))  # (B, 3, H, W)
        heads = _asked_heads(
            (with_appearance_code, self.q,
             "this image discriminator has no appearance-code head: build it with appearance_code > 0"))
        h = self.features(image)
        return self.head.read(h, labels, heads) if heads else self.head(h, labels)  # (B,)


class PairDiscriminator(ImageDiscriminator):
    """D_P (``train.pair_d``; not the paper): is this pair of frames two views of one subject? An
    unconditional image D over the two frames stacked on the channel axis. Real pairs are frames of
    two clips of the same subject (the loader's ``subject_pairs``: mostly two different actions);
    fake pairs are frames of two clips that share z_a, each with its own z_m and class. Every
    dataset here has several videos per subject, and in all of them a subject keeps its looks across
    videos: D_P asks G for exactly that, which neither D_V nor D_I can (each sees one clip at a time,
    so a generator that redraws the object for each class passes both). With ``mbstd`` (``model.d_mbstd``)
    it also sees how much the pairs of a group differ from each other: pairs alike *within* but
    not *across* pairs, as real ones are."""

    def __init__(self, size: int = 64, width: float = 1.0, mbstd: int = 0):
        super().__init__(size, width, n_classes=0, mbstd=mbstd, in_channels=6)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """first, second (B, 3, H, W) → logits (B,)."""
        return super().forward(torch.cat([first, second], 1))  # (B, 6, H, W)
