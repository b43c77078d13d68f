"""Fréchet distance between Gaussians fitted to two feature sets:
d² = |μ₁ − μ₂|² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}), computed in float64 with symmetric
eigen-decompositions (no scipy; the symmetric form has the same trace as (Σ₁Σ₂)^{1/2})."""

from __future__ import annotations

import numpy as np
import torch


def statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    f = torch.as_tensor(features, dtype=torch.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need (N >= 2, D) features, got {tuple(f.shape)}")
    return f.mean(0).numpy(), torch.cov(f.T).reshape(f.shape[1], f.shape[1]).numpy()


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    mu1, mu2 = torch.as_tensor(mu1, dtype=torch.float64), torch.as_tensor(mu2, dtype=torch.float64)
    s1, s2 = torch.as_tensor(sigma1, dtype=torch.float64), torch.as_tensor(sigma2, dtype=torch.float64)
    r1 = _sqrt_psd(s1)
    cross = _sqrt_psd(r1 @ s2 @ r1)
    d = (mu1 - mu2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * torch.trace(cross)
    return float(d.clamp(min=0))


def fd_of_features(a, b) -> float:
    return frechet_distance(*statistics(a), *statistics(b))
