"""Stage ``preprocess``: raw videos → ``<data_dir>/shards/<dataset>/{train,test}`` WebDataset tars."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from g3an.fsutil import output_lock
from stages.common import Progress, setup
from stages.paths import default_path

log = logging.getLogger("g3an.preprocess")


def main(dataset: Optional[str], raw: Optional[str], out: Optional[str], params: str,
         overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    from pipeline.manifest import short_videos
    from pipeline.preprocess import build_shards
    from pipeline.sources import source_for

    name = dataset or cfg.base.dataset
    raw_dir, out_dir = Path(raw or default_path(cfg, "raw", name)), Path(out or default_path(cfg, "shards", name))
    with output_lock(out_dir), Progress() as bar:
        manifests = build_shards(source_for(name, cfg.download, cfg.preprocess), raw_dir, out_dir, cfg.preprocess,
                                 cfg.base.seed, progress=lambda d, t: bar.update("preprocess", d, t))
    for split, m in manifests.items():
        n = len(m["shards"])
        log.info("%s/%s: %d videos, %d frames, %d shard%s, %d skipped", name, split, m["videos"], m["frames"],
                 n, "" if n == 1 else "s", len(m["skipped"]))
        if m.get("faces"):
            log.info("%s/%s: face found in %d videos, centre square for %d", name, split, m["faces"]["found"],
                     m["faces"]["fallback_center"])
        short = short_videos(m, cfg.loader)
        if short:
            log.warning("%s/%s: %d videos are too short for loader.clip_length %d at any of loader.frame_steps "
                        "%s; the loader will skip them", name, split, short, cfg.loader.clip_length,
                        list(cfg.loader.frame_steps))
