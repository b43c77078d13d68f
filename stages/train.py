"""Stage ``train``: shards → checkpoints, generator.pt, dvclive metrics (under torchrun: DDP)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from g3an.errors import UserError
from g3an.fsutil import output_lock
from stages.common import Progress, setup
from stages.paths import default_path

log = logging.getLogger("g3an.train")


def main(shards: Optional[str], out: Optional[str], live: Optional[str], params: str,
         overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    from g3an.train.loop import fit

    if cfg.model.placement_warning():
        log.warning(cfg.model.placement_warning())
    shard_dir = Path(shards or default_path(cfg, "shards"))
    out_dir = Path(out or default_path(cfg, "run"))
    # a run folder given by hand keeps its own dvclive files (never the default run's history)
    live_dir = Path(live or (out_dir / "live" if out else default_path(cfg, "live")))
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: is a file; give train a run folder")
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun rank 0 owns the run folder
    start: dict = {}

    def show(step: int, total: int, clips: int, losses: dict) -> None:
        start.setdefault("t", time.perf_counter())  # from the first step of this process (a resume too)
        start.setdefault("clips", clips)
        rate = (clips - start["clips"]) / max(1e-9, time.perf_counter() - start["t"])
        bar.update("train", step, total, description=f"train  D {losses['loss_d_video']:.2f}/{losses['loss_d_image']:.2f}"
                   f"  G {losses['loss_g_video']:.2f}/{losses['loss_g_image']:.2f}  {rate:.1f} clips/s")

    with output_lock(out_dir) if main_rank else contextlib.nullcontext(), Progress() as bar:
        result = fit(cfg, shard_dir, out_dir, live_dir, progress=show)
    if result.interrupted is not None:
        log.warning("stopped by signal %d at step %d; checkpoint written — run the same command to resume",
                    result.interrupted, result.step)
        sys.exit(128 + result.interrupted)  # non-zero: DVC must not record an unfinished stage as done
    rate = result.metrics["clips_per_s"]
    if main_rank:
        log.info("done: %d steps, %d clips%s", result.step, result.clips,
                 f", {rate:.1f} clips/s" if rate is not None else " (nothing left to train: the run was complete)")
