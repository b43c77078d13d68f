"""The appendix-C figures as data: which latents each row uses and what its caption says.

- ``c1_unconditional``: each of ``n_appearance`` z_a with the same ``n_motion`` z_m — appearance
  fixed along a block, motion changing (a conditional model keeps one class per block).
- ``c2_conditional_subject0`` / ``_subject1`` (conditional models): one z_a each × every class ×
  two z_m, rows "subject k, <class>, z_m j" with the data set's class names.
- ``c3_appearance_dim<d>`` / ``c3_motion_dim<d>``: one dimension of z_a (or of z_m, at every time
  step) swept from −range to +range, everything else fixed.
- ``c4_motion_switch``: (z_a0, z_m0, c0) and (z_a1, z_m1, c1) on top; (z_a0, z_m1, c1) and
  (z_a1, z_m0, c0) below.
- ``variable_length``: one z_a, a motion code grown along its time axis (T_z = 1, 2, 3, …).
Every figure draws its latents from its own seeded generator, so figures are independent and
reproducible.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Optional

import torch

from g3an.config import RenderConfig
from g3an.latent import Z_APPEARANCE, Z_MOTION


@dataclass
class Row:
    caption: str
    z_a: torch.Tensor  # (128,)
    z_m: torch.Tensor  # (10, T_z)
    label: Optional[int] = None


@dataclass
class Figure:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    seed: int = 0
    stride: Optional[int] = None  # show every stride-th frame instead of evenly spaced columns


def _gen(cfg: RenderConfig, name: str) -> tuple[torch.Generator, int]:
    seed = cfg.seed * 1_000_003 + zlib.crc32(name.encode()) % 1_000_003
    return torch.Generator().manual_seed(seed), seed


def build_figures(cfg: RenderConfig, classes: list[str], n_classes: int, latent_length: int) -> list[Figure]:
    tz = latent_length
    cond = n_classes > 0

    def cname(c: Optional[int]) -> str:
        return classes[c] if c is not None and c < len(classes) else str(c)

    figures = []
    g, seed = _gen(cfg, "c1")
    za = torch.randn(cfg.n_appearance, Z_APPEARANCE, generator=g)
    zm = torch.randn(cfg.n_motion, Z_MOTION, tz, generator=g)
    fig = Figure("c1_unconditional", "C.1 one appearance, several motions (rows: z_a k, z_m j)", seed=seed)
    for a in range(cfg.n_appearance):
        label = a % n_classes if cond else None
        for m in range(cfg.n_motion):
            fig.rows.append(Row(f"z_a {a}, z_m {m}" + (f", class {cname(label)}" if cond else ""), za[a], zm[m], label))
    figures.append(fig)

    if cond:
        g, seed = _gen(cfg, "c2")
        za, zm = torch.randn(2, Z_APPEARANCE, generator=g), torch.randn(2, Z_MOTION, tz, generator=g)
        for k in range(2):  # one figure per subject: 2 × 8 classes × 2 motions in one grid is too tall to view
            fig = Figure(f"c2_conditional_subject{k}", f"C.2 conditional: subject {k} x every class x two motions",
                         seed=seed)
            for c in range(n_classes):
                for j in range(2):
                    fig.rows.append(Row(f"subject {k}, {cname(c)}, z_m {j}", za[k], zm[j], c))
            figures.append(fig)

    g, seed = _gen(cfg, "c3")
    za0, zm0 = torch.randn(Z_APPEARANCE, generator=g), torch.randn(Z_MOTION, tz, generator=g)
    label0 = 0 if cond else None
    values = torch.linspace(-cfg.sweep_range, cfg.sweep_range, cfg.sweep_steps)
    for kind, dims in (("appearance", cfg.sweep_appearance_dims), ("motion", cfg.sweep_motion_dims)):
        for d in dims:
            sym = "z_a" if kind == "appearance" else "z_m"
            fig = Figure(f"c3_{kind}_dim{d}", f"C.3 latent manipulation: {sym}[{d}] swept, the rest fixed", seed=seed)
            for v in values.tolist():
                za_, zm_ = za0.clone(), zm0.clone()
                if kind == "appearance":
                    za_[d] = v
                else:
                    zm_[d, :] = v
                fig.rows.append(Row(f"{sym}[{d}] = {v:+.2f}", za_, zm_, label0))
            figures.append(fig)

    g, seed = _gen(cfg, "c4")
    za, zm = torch.randn(2, Z_APPEARANCE, generator=g), torch.randn(2, Z_MOTION, tz, generator=g)
    c0, c1 = (0, n_classes // 2) if cond else (None, None)
    fig = Figure("c4_motion_switch", "C.4 motion switch: originals (top), motions swapped (bottom)", seed=seed)
    tag = (lambda c: f", {cname(c)}") if cond else (lambda c: "")
    fig.rows += [Row(f"original: subject 0, motion 0{tag(c0)}", za[0], zm[0], c0),
                 Row(f"original: subject 1, motion 1{tag(c1)}", za[1], zm[1], c1),
                 Row(f"switched: subject 0, motion 1{tag(c1)}", za[0], zm[1], c1),
                 Row(f"switched: subject 1, motion 0{tag(c0)}", za[1], zm[0], c0)]
    figures.append(fig)

    g, seed = _gen(cfg, "length")
    za0 = torch.randn(Z_APPEARANCE, generator=g)
    zm_long = torch.randn(Z_MOTION, max(cfg.latent_lengths), generator=g)
    fig = Figure("variable_length", "Variable length: one appearance, the motion code grown in time", seed=seed)
    for t in sorted(cfg.latent_lengths):
        fig.rows.append(Row(f"T_z = {t}", za0, zm_long[:, :t], label0))
    figures.append(fig)
    return figures
