"""The EMA generator: an exponential moving average of G's weights, and BatchNorm statistics
re-estimated for those weights.

G's BatchNorm running statistics belong to G's own (raw) weights. Copied beside the averaged
weights they are measured on another network: early in a run, when the weights still move fast,
the EMA generator's eval-mode output came out washed and flat (pixel std 0.15 vs 0.47 raw after
400 steps). ``recalibrate_batchnorm`` runs the EMA weights on fixed seeded latents in train mode
and keeps the plain average of the batch statistics (docs/what-we-tried.md has the measurement).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from g3an.sampling import sample_latents


@torch.no_grad()
def shadow(g: nn.Module) -> nn.Module:
    """A frozen copy of ``g`` in eval mode: the EMA generator as training keeps it and checkpoints store it."""
    return copy.deepcopy(g).eval().requires_grad_(False)


@torch.no_grad()
def update(ema: nn.Module, g: nn.Module, beta: float) -> None:
    """ema ← β·ema + (1 − β)·g for the weights; buffers (BN statistics) copied from g."""
    for pe, pg in zip(ema.parameters(), g.parameters()):
        pe.lerp_(pg, 1 - beta)
    for be, bg in zip(ema.buffers(), g.buffers()):
        be.copy_(bg)


@torch.no_grad()
def recalibrate_batchnorm(g: nn.Module, latent_length: int, n_classes: int, seed: int = 0,
                          batches: int = 4, batch: int = 32) -> nn.Module:
    """A copy of ``g`` (eval mode) whose BatchNorm running statistics are the mean batch statistics
    of ``batches`` × ``batch`` seeded samples; ``g`` itself is untouched."""
    out = copy.deepcopy(g)
    norms = [m for m in out.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return out.eval()
    device = next(out.parameters()).device
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calls below
    out.train()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        out(*sample_latents(batch, latent_length, n_classes, gen, device))
    for m, orig in zip(norms, (m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))):
        m.momentum = orig.momentum
    return out.eval()
