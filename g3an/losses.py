"""GAN losses on raw logits. ``"bce"`` is the non-saturating loss of the paper (BCE with logits);
``"hinge"`` is an option."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss(real: torch.Tensor, fake: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    if kind == "bce":  # −log σ(real) − log(1 − σ(fake))
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    raise ValueError(f"unknown loss {kind!r}; expected 'bce' or 'hinge'")


def g_loss(fake: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    if kind == "bce":  # non-saturating: −log σ(fake)
        return F.softplus(-fake).mean()
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}; expected 'bce' or 'hinge'")
