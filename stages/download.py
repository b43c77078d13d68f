"""Stage ``download``: put a data set's raw files in ``<data_dir>/raw/<dataset>``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from g3an.fsutil import output_lock
from stages.common import Progress, setup
from stages.paths import default_path

log = logging.getLogger("g3an.download")


def main(dataset: Optional[str], sources: Sequence[str], out: Optional[str], params: str,
         overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    from pipeline.acquire import acquire
    from pipeline.sources import source_for

    name = dataset or cfg.base.dataset
    out_dir = Path(out or default_path(cfg, "raw", name))
    with output_lock(out_dir), Progress() as bar:
        summary = acquire(source_for(name, cfg.download, cfg.preprocess), cfg.download, out_dir, seed=cfg.base.seed,
                          downloads=default_path(cfg, "downloads"),
                          sources=list(sources) or ([cfg.download.source] if cfg.download.source else []),
                          progress=bar.update)
    log.info("%s: %s videos in %s", name, summary.get("videos"), out_dir)
