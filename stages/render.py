"""Stage ``render``: generator.pt → the appendix-C figures (PNG + GIFs) and an index."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from g3an.fsutil import output_lock, staged_dir
from stages.common import Progress, setup
from stages.paths import default_path

log = logging.getLogger("g3an.render")


def main(generator: Optional[str], out: Optional[str], params: str, overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    import torch

    from g3an.models.build import load_generator
    from g3an.render.render import render_all

    torch.set_grad_enabled(False)
    path = Path(generator or default_path(cfg, "generator"))
    g, export = load_generator(path, cfg.model, use_ema=cfg.render.use_ema)
    out_dir = Path(out or default_path(cfg, "render"))
    with output_lock(out_dir), staged_dir(out_dir, "render") as tmp, Progress() as bar:
        entries = render_all(g, export, cfg.render, tmp, lambda d, t: bar.update("render", d, t))
    log.info("%d figures in %s (index: %s)", len(entries), out_dir, out_dir / "index.md")
