"""Render every figure of ``figures.py`` with a trained generator: PNG grids with captions, one GIF
per row, and an ``index.md`` listing them with their seeds."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from g3an.config import RenderConfig
from g3an.render.figures import Figure, build_figures
from g3an.render.grid import column_indices, to_uint8
from g3an.render.media import captioned_grid, write_gif, write_png
from g3an.sampling import flat_output, generate

log = logging.getLogger("g3an.render")


def generate_rows(g: torch.nn.Module, fig: Figure) -> list[np.ndarray]:
    """Each row's video (T_i, H, W, 3) uint8; rows of equal length are generated in one batch."""
    videos: list = [None] * len(fig.rows)
    by_length: dict[int, list[int]] = {}
    for i, row in enumerate(fig.rows):
        by_length.setdefault(row.z_m.shape[-1], []).append(i)
    for idx in by_length.values():
        z_a = torch.stack([fig.rows[i].z_a for i in idx])
        z_m = torch.stack([fig.rows[i].z_m for i in idx])
        labels = None
        if fig.rows[idx[0]].label is not None:
            labels = torch.tensor([fig.rows[i].label for i in idx])
        for i, v in zip(idx, to_uint8(generate(g, z_a, z_m, labels))):
            videos[i] = v
    return videos


def render_figure(fig: Figure, videos: list[np.ndarray], cfg: RenderConfig, out: Path) -> dict:
    if len({v.shape[0] for v in videos}) > 1:  # variable length: one fixed stride, long rows run longer
        stride = max(1, math.ceil(min(v.shape[0] for v in videos) / cfg.columns))
        indices = [np.arange(0, v.shape[0], stride) for v in videos]
    else:
        indices = [column_indices(v.shape[0], cfg.columns) for v in videos]
    captions = [r.caption for r in fig.rows]
    if len({v.shape[0] for v in videos}) > 1:
        captions = [f"{c}: {v.shape[0]} frames" for c, v in zip(captions, videos)]
    png = out / "figures" / f"{fig.name}.png"
    write_png(png, captioned_grid(videos, captions, fig.title, cfg.scale, indices=indices))
    gifs = []
    for i, v in enumerate(videos):
        gif = out / "videos" / fig.name / f"row-{i:02d}.gif"
        write_gif(gif, v, cfg.gif_fps, cfg.scale)
        gifs.append(str(gif.relative_to(out)))
    return {"name": fig.name, "title": fig.title, "seed": fig.seed, "png": str(png.relative_to(out)),
            "rows": [{"caption": c, "frames": int(v.shape[0]), "gif": gif, "label": r.label}
                     for r, c, v, gif in zip(fig.rows, captions, videos, gifs)]}


def render_all(g: torch.nn.Module, export: dict, cfg: RenderConfig, out: Path,
               progress: Optional[Callable[[int, int], None]] = None) -> list[dict]:
    out = Path(out)
    figures = build_figures(cfg, export["classes"], export["n_classes"], export["latent_length"])
    entries = []
    for k, fig in enumerate(figures):
        rows = generate_rows(g, fig)
        # C.1 (figure 0: rows of one length) tells whether the generator draws anything at all
        if k == 0 and (warning := flat_output(torch.from_numpy(np.stack(rows)).float() / 127.5 - 1)):
            log.warning("render: %s", warning)
        entries.append(render_figure(fig, rows, cfg, out))
        if progress:
            progress(k + 1, len(figures))
    lines = ["# G³AN figures", "",
             f"Generator: step {export.get('step')}, preset {export['spec']['preset']}, width "
             f"{export['spec']['width']}, {'conditional on ' + str(export['n_classes']) + ' classes' if export['n_classes'] else 'unconditional'}"
             f" ({'EMA' if cfg.use_ema and export.get('ema') is not None else 'raw'} weights); render seed {cfg.seed}.", ""]
    for e in entries:
        lines += [f"## {e['name']}", "", e["title"] + f" — latents seed {e['seed']}.", "", f"![{e['name']}]({e['png']})", "",
                  "| row | caption | frames | video |", "|---|---|---|---|"]
        lines += [f"| {i} | {r['caption']} | {r['frames']} | [gif]({r['gif']}) |" for i, r in enumerate(e["rows"])]
        lines.append("")
    (out / "index.md").write_text("\n".join(lines))
    (out / "figures.json").write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    # which generator drew them, as evaluate records the one it scored: the report checks the two agree
    (out / "generator.json").write_text(json.dumps(generator_identity(export), indent=2, sort_keys=True) + "\n")
    return entries


def generator_identity(export: dict) -> dict:
    """What tells two generator exports apart on the report: its training run and its step."""
    return {"params_hash": export.get("params_hash"), "step": export.get("step")}
