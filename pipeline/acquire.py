"""Getting a data set's raw files into ``<data_dir>/raw/<dataset>``, one way per kind of source:

- synthetic: rendered locally (no network);
- weizmann: one zip per action over HTTP(S) (resumed, verified, cached in
  ``<data_dir>/downloads/weizmann`` with its lock file), then extracted safely;
- mug, uva_nemo (licensed): from ``--source PATH``, an archive (extracted safely) or a folder
  (hard-linked where possible, else copied — the user's files are never moved or changed).
The raw folder is built in a temporary folder, its layout checked, then renamed into place.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Optional

from g3an.config import DownloadConfig
from g3an.errors import UserError
from g3an.fsutil import staged_dir
from pipeline.download import LOCK_NAME, fetch_all, safe_extract
from pipeline.sources import Source
from pipeline.sources.weizmann import ACTIONS

log = logging.getLogger(__name__)


def _link_or_copy_tree(src: Path, dst: Path) -> int:
    n = 0
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
            n += 1
    return n


def acquire(source: Source, dl: DownloadConfig, out: Path, *, seed: int, downloads: Path,
            source_path: Optional[str] = None,
            progress: Optional[Callable[[str, int, Optional[int]], None]] = None) -> dict:
    """Fill ``out`` with ``source``'s raw data set as ``dl`` says; returns a summary (what was fetched or
    rendered). ``downloads``: the cache of fetched archives (kept between runs)."""
    dataset = source.name
    summary: dict = {"dataset": dataset}
    with staged_dir(out, "download") as tmp:
        if dataset == "synthetic":
            from pipeline.sources.synthetic import render_dataset

            n = render_dataset(tmp, dl.synthetic, seed, (lambda d, t: progress("render", d, t)) if progress else None)
            summary.update(videos=n, rendered=True, seed=seed)
        elif dataset == "weizmann" and not source_path:
            cache = Path(downloads) / dataset
            base = dl.weizmann_url.rstrip("/")
            urls = {f"{a}.zip": f"{base}/{a}.zip" for a in ACTIONS}
            fetched = fetch_all(urls, cache, retries=dl.retries, timeout=dl.timeout_s,
                                progress_factory=(lambda name: (lambda d, t: progress(name, d, t))) if progress else None)
            for f in fetched:
                safe_extract(cache / f.file, tmp)
            shutil.copy2(cache / LOCK_NAME, tmp / LOCK_NAME)
            summary.update(files=[f.__dict__ for f in fetched])
        else:
            if not source_path:
                raise UserError(f"{dataset}: no --source given. {source.how_to_get}")
            src = Path(source_path).expanduser()
            if not src.exists():
                raise UserError(f"--source {src}: no such file or folder")
            if src.is_dir():
                n = _link_or_copy_tree(src, tmp)
            else:
                n = len(safe_extract(src, tmp))
            summary.update(source=str(src), files=n)
        source.check_layout(tmp)
        records, skipped = source.scan(tmp)
        summary.update(videos=len(records), skipped=len(skipped))
        for problem in source.missing(tmp):  # e.g. UvA-NEMO's details file: usable, but worth a warning
            log.warning("%s: %s", dataset, problem)
    return summary
