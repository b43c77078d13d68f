"""Stage ``preprocess``: raw videos → ``<data_dir>/shards/<dataset>/{train,test}`` WebDataset tars."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from stages.common import Progress, setup

log = logging.getLogger("g3an.preprocess")


def main(dataset: Optional[str], raw: Optional[str], out: Optional[str], params: str,
         overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    from pipeline.acquire import source_options
    from pipeline.preprocess import build_shards
    from pipeline.sources import get_source

    name = dataset or cfg.base.dataset
    p = cfg.preprocess
    raw_dir = Path(raw or Path(cfg.base.data_dir) / "raw" / name)
    out_dir = Path(out or Path(cfg.base.data_dir) / "shards" / name)
    with Progress() as bar:
        manifests = build_shards(get_source(name, source_options(cfg)), raw_dir, out_dir, size=p.size,
                                 shard_size=p.shard_size, workers=p.workers, test_fraction=p.test_fraction,
                                 test_subjects=p.test_subjects, seed=cfg.base.seed, decoder=p.decoder,
                                 detector=p.face_detector, margin=p.face_margin, max_frames=p.max_frames,
                                 progress=lambda d, t: bar.update("preprocess", d, t))
    for split, m in manifests.items():
        log.info("%s/%s: %d videos, %d frames, %d shards, %d skipped", name, split, m["videos"], m["frames"],
                 len(m["shards"]), len(m["skipped"]))
