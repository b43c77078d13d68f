"""Disentanglement, measured: does appearance follow z_a only, and motion z_m (and the class) only?

Each set is a 4 × 4 grid of videos v_ij = G(z_a_i, z_m_j, c_j); the evaluator predicts a discrete
appearance A (the tuple of its appearance heads — the ground-truth factors on the synthetic set)
and a motion class M for each. Scores are fractions in [0, 1]:

- ``app_kept``: A(v_ij) = A(v_ij′) — appearance survives a change of motion;
- ``app_varies``: A(v_ij) ≠ A(v_i′j) — appearance follows z_a;
- ``motion_kept``: M(v_ij) = M(v_i′j) — motion survives a change of appearance;
- ``motion_varies``: M(v_ij) ≠ M(v_ij′) where the requested classes differ (or, unconditional,
  the motion codes) — motion follows z_m/c;
- ``switch`` (appendix C.4): v_ij′ takes A from v_ij and M from v_i′j′, and each differs from the
  other original — a generator whose outputs all look alike scores 0, not 1.
``disentanglement`` = mean(app_kept·app_varies, motion_kept·motion_varies, switch): each pair of
"kept" and "varies" only counts together, so ignoring an input cannot score well.

The class decides most of a clip's motion, so "motion varies" above mostly measures the label. What
z_m itself controls is read on **path grids** (``path_latents``): 4 × 4 videos G(z_a_i, z_m_j, c) of
one class c per set, and the judge's where head gives each video's path P — the grid cells holding
the object in its first and last frame (synthetic set only):

- ``path_varies``: P(v_ij) ≠ P(v_ij′) — within a class, z_m moves the object elsewhere;
- ``path_kept``: P(v_ij) = P(v_i′j) — the path survives a change of appearance.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from g3an.latent import Z_APPEARANCE, Z_MOTION

GRID = 4

# one line each, for logs and the report
NOTES = {"app_kept": "appearance unchanged when only z_m changes (higher = better)",
         "app_varies": "appearance changes with z_a (higher = better)",
         "motion_kept": "motion unchanged when only z_a changes (higher = better)",
         "motion_varies": "motion changes with z_m / the class (higher = better)",
         "switch": "C.4: swapping z_m keeps the appearance and takes the other motion (higher = better)",
         "disentanglement": "mean of app kept×varies, motion kept×varies and switch (higher = better)",
         "path_varies": "within one class, z_m changes where the object starts or ends (higher = better)",
         "path_kept": "the object's start and end cells unchanged when only z_a changes (higher = better)"}


def grid_latents(n_sets: int, n_classes: int, latent_length: int, gen: torch.Generator):
    """z_a (S, 4, 128), z_m (S, 4, 10, T_z), classes (S, 4) or None — distinct classes per set where possible."""
    z_a = torch.randn(n_sets, GRID, Z_APPEARANCE, generator=gen)
    z_m = torch.randn(n_sets, GRID, Z_MOTION, latent_length, generator=gen)
    classes = None
    if n_classes:
        classes = torch.stack([torch.randperm(max(n_classes, GRID), generator=gen)[:GRID] % n_classes
                               for _ in range(n_sets)])
    return z_a, z_m, classes


def path_latents(n_sets: int, n_classes: int, latent_length: int, gen: torch.Generator):
    """As ``grid_latents``, but each set's four columns share one class (classes (S, 4) or None), so
    that within a row only z_m changes."""
    z_a = torch.randn(n_sets, GRID, Z_APPEARANCE, generator=gen)
    z_m = torch.randn(n_sets, GRID, Z_MOTION, latent_length, generator=gen)
    classes = None
    if n_classes:
        classes = (torch.arange(n_sets) % n_classes)[torch.randperm(n_sets, generator=gen)][:, None].expand(-1, GRID)
    return z_a, z_m, classes


def path_scores(path: np.ndarray) -> dict:
    """path: (S, 4, 4) integer path codes of v_ij (from ``path_latents``)."""
    varies = [p[i, j] != p[i, j2] for p in path for i in range(GRID) for j, j2 in itertools.combinations(range(GRID), 2)]
    kept = [p[i, j] == p[i2, j] for p in path for j in range(GRID) for i, i2 in itertools.combinations(range(GRID), 2)]
    return {"path_varies": float(np.mean(varies)), "path_kept": float(np.mean(kept))}


def expand(z_a, z_m, classes):
    """The grid's videos in (set, i, j) order: z_a (S·16, 128), z_m (S·16, 10, T), labels (S·16,) or None."""
    s = z_a.shape[0]
    za = z_a[:, :, None].expand(-1, -1, GRID, -1).reshape(s * GRID * GRID, -1)
    zm = z_m[:, None].expand(-1, GRID, -1, -1, -1).reshape(s * GRID * GRID, *z_m.shape[2:])
    lab = None if classes is None else classes[:, None].expand(-1, GRID, -1).reshape(-1)
    return za, zm, lab


def scores(appearance: np.ndarray, motion: np.ndarray, classes: np.ndarray | None) -> dict:
    """appearance, motion: (S, 4, 4) integer predictions of v_ij; classes (S, 4) or None."""
    s_n = appearance.shape[0]
    kept_a, var_a, kept_m, var_m, switch = [], [], [], [], []
    for s in range(s_n):
        A, M = appearance[s], motion[s]
        for i in range(GRID):
            for j, j2 in itertools.combinations(range(GRID), 2):
                kept_a.append(A[i, j] == A[i, j2])
                if classes is None or classes[s, j] != classes[s, j2]:
                    var_m.append(M[i, j] != M[i, j2])
        for j in range(GRID):
            for i, i2 in itertools.combinations(range(GRID), 2):
                var_a.append(A[i, j] != A[i2, j])
                kept_m.append(M[i, j] == M[i2, j])
        for i, i2 in itertools.permutations(range(GRID), 2):
            for j, j2 in itertools.permutations(range(GRID), 2):
                swapped = (A[i, j2], M[i, j2])
                switch.append(swapped[0] == A[i, j] and swapped[0] != A[i2, j2]
                              and swapped[1] == M[i2, j2] and swapped[1] != M[i, j])
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    out = {"app_kept": mean(kept_a), "app_varies": mean(var_a), "motion_kept": mean(kept_m),
           "motion_varies": mean(var_m), "switch": mean(switch)}
    out["disentanglement"] = float(np.mean([out["app_kept"] * out["app_varies"],
                                            out["motion_kept"] * out["motion_varies"], out["switch"]]))
    return out


def appearance_codes(pred: dict[str, torch.Tensor], heads: list[tuple[str, int]]) -> torch.Tensor:
    """One integer per video for the tuple of appearance-head predictions."""
    code = torch.zeros_like(next(iter(pred.values())))
    for name, n in heads:
        code = code * n + pred[name]
    return code
