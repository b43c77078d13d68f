"""GAN losses on raw logits — ``"bce"`` is the non-saturating loss of the paper (BCE with logits),
``"hinge"`` an option — and the priors on G's clips: colour (``train.colour_prior``) and temporal change
(``train.change_prior``)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
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


def colour_quantile_drift(video: torch.Tensor, quantiles: int = 64) -> torch.Tensor:
    """How much each frame's colour distribution strays from its clip's: per clip, channel and frame the
    pixel values sorted and read at ``quantiles`` evenly spaced ranks (the frame's quantile function), then
    the mean |q_t − mean_t q_t| — a 1-D Wasserstein-1 distance per channel. Where the pixels are does not
    count: an object moving over a still background scores 0, one that fades or turns colour does not.
    video (B, 3, T, H, W) → a scalar."""
    x = video.float().flatten(3)  # (B, 3, T, H·W)
    ranks = torch.linspace(0, x.shape[-1] - 1, quantiles).round().long()  # (Q,)
    q = x.gather(-1, _argsort(x.detach())[..., ranks].to(x.device))  # (B, 3, T, Q): the gradient goes to those pixels
    return (q - q.mean(dim=2, keepdim=True)).abs().mean()


def change_quantile_gap(fake: torch.Tensor, real: torch.Tensor, gen: torch.Generator,
                        samples: int = 65536) -> torch.Tensor:
    """How far the batch's per-pixel temporal changes |x_{t+1} − x_t| are distributed from the real batch's:
    the 1-D Wasserstein-1 distance between the two, estimated on the same ``samples`` random positions of
    each (sorted, compared rank by rank). Real clips change sparsely — a still ground, a tail of large
    changes where the object's edges move — so a still clip (no tail) and a flickering one (a dense
    body of small changes) both cost. fake and real (B, 3, T, H, W) alike; the gradient goes to fake only
    → a scalar."""
    b, c, t, h, w = fake.shape
    at = torch.randint(b * c * (t - 1) * h * w, (samples,), generator=gen).to(fake.device)  # (S,): in (B, 3, T−1, H, W)
    frame = h * w
    at = at + at // ((t - 1) * frame) * frame  # (S,): the same pixels' index in (B, 3, T, H, W), at frame t
    d_fake = (fake.reshape(-1)[at + frame] - fake.reshape(-1)[at]).float().abs()  # (S,): only where sampled
    d_real = (real.reshape(-1)[at + frame] - real.reshape(-1)[at]).detach().float().abs()
    order = _argsort(d_fake.detach()[None])[0].to(fake.device)
    return (d_fake[order] - d_real.sort().values).abs().mean()


def _argsort(x: torch.Tensor) -> torch.Tensor:
    """Each row's ascending order (indices). On the CPU numpy's SIMD sort: 2.8x faster than torch.sort
    on G's (16, 3, 16, 4096) clips (32 vs 89 ms, fwd + bwd of the prior; docs/what-we-tried.md, "The
    colour prior made the default"). Exact ties may come out in another order than torch.sort's: the same
    quantile values, the gradient on another of the tied pixels.

    numpy sorts in one thread while torch's intra-op threads wait between ops, so large inputs are cut
    into row blocks sorted side by side in as many threads as torch may use (numpy lets go of the GIL
    while it sorts): on an AVX2-only host 113-125 → 74-81 ms (docs/what-we-tried.md, "The colour
    prior's sort in two threads"). Each row is sorted alone either way: the same indices, bit for bit."""
    if x.device.type != "cpu":
        return x.argsort(dim=-1)
    a = x.numpy()
    rows = a.reshape(-1, a.shape[-1])  # (R, N)
    blocks = min(torch.get_num_threads(), rows.shape[0])
    if blocks < 2 or rows.size < _PARALLEL_SORT_MIN:
        return torch.from_numpy(np.argsort(a, axis=-1))
    out = np.empty(rows.shape, dtype=np.int64)  # (R, N)
    edges = np.linspace(0, rows.shape[0], blocks + 1).round().astype(int)

    def sort_block(i: int) -> None:
        out[edges[i]:edges[i + 1]] = np.argsort(rows[edges[i]:edges[i + 1]], axis=-1)

    list(_sort_pool(blocks).map(sort_block, range(blocks)))
    return torch.from_numpy(out.reshape(a.shape))


_PARALLEL_SORT_MIN = 1 << 18  # values; below it (e.g. the change prior's one row of 65 536) one thread
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _sort_pool(threads: int) -> ThreadPoolExecutor:
    """One pool per process and size (a forked child, a loader worker say, makes its own)."""
    key = (os.getpid(), threads)
    if key not in _pools:
        _pools[key] = ThreadPoolExecutor(threads, thread_name_prefix="g3an-sort")
    return _pools[key]
