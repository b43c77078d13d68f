"""Latents and random choices of a training step, all drawn from one explicit ``torch.Generator``
so a run is reproducible and resumable (its state goes into the checkpoint)."""

from __future__ import annotations

from typing import Optional

import torch

from g3an.latent import Z_APPEARANCE, Z_MOTION


def sample_latents(batch: int, latent_length: int, n_classes: int, gen: torch.Generator,
                   device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """z_a (B, 128), z_m (B, 10, T_z) ~ N(0, I) in ``dtype``, and uniform labels (B,) or None. The
    draws are float32 whatever ``dtype`` is, so a float64 replay of a step sees the same latents."""
    z_a = torch.randn(batch, Z_APPEARANCE, generator=gen).to(device, dtype)
    z_m = torch.randn(batch, Z_MOTION, latent_length, generator=gen).to(device, dtype)
    labels: Optional[torch.Tensor] = None
    if n_classes:
        labels = torch.randint(n_classes, (batch,), generator=gen).to(device)
    return z_a, z_m, labels


def pick_frames(video: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """One frame per clip: video (B, 3, T, H, W), index (B,) → (B, 3, H, W)."""
    return video[torch.arange(video.shape[0], device=video.device), :, index.to(video.device)]


@torch.no_grad()
def generate(g: torch.nn.Module, z_a: torch.Tensor, z_m: torch.Tensor, labels: Optional[torch.Tensor] = None,
             batch: int = 16) -> torch.Tensor:
    """Run G in batches (eval mode is the caller's choice): (N, 3, T, H, W) in [-1, 1], on the CPU."""
    device = next(iter(list(g.parameters()) + list(g.buffers())), torch.empty(0)).device
    out = []
    for i in range(0, z_a.shape[0], batch):
        lab = None if labels is None else labels[i:i + batch].to(device)
        out.append(g(z_a[i:i + batch].to(device), z_m[i:i + batch].to(device), lab).float().cpu())
    return torch.cat(out)


def flat_output(videos: torch.Tensor, tol: float = 0.02) -> Optional[str]:
    """A warning when generated videos (values in [-1, 1]) are nearly one colour everywhere — an
    untrained or collapsed generator, whose "kept" scores (nothing changes) would read as perfect."""
    spread = float(videos.float().std())
    if spread >= tol:
        return None
    return (f"the generated videos are nearly uniform (pixel std {spread:.4f} over {videos.shape[0]} clips, in [-1, 1]): "
            "the generator is untrained or collapsed; its figures show flat frames and scores such as app_kept or "
            "motion_kept = 1 mean nothing — train longer (train.steps)")
