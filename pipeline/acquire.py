"""Getting a data set's raw files into ``<data_dir>/raw/<dataset>``:

- without ``--source``, as the source says: rendered here with no network (``Source.render``: synthetic),
  or downloaded (``Source.archives``: weizmann, one zip per action over HTTP(S), resumed, verified and
  cached in ``<data_dir>/downloads/weizmann`` with its lock file, then extracted safely);
- mug, uva_nemo (licensed), and weizmann from local files: from ``--source PATH`` (repeatable), an
  archive (extracted safely) or a folder (hard-linked where possible, else copied — the user's files
  are never moved or changed; archives inside it are extracted). A licensed set imported earlier
  is kept by later runs that give no source.
The raw folder is built in a temporary folder, its layout checked, then renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Optional, Sequence

from g3an.config import DownloadConfig
from g3an.errors import UserError
from g3an.fsutil import MARKER, staged_dir, write_json_atomic
from pipeline.download import LOCK_NAME, DamagedArchive, fetch_all, read_lock, safe_extract, write_lock
from pipeline.sources import Source
from pipeline.sources.base import visible_files

log = logging.getLogger(__name__)


ARCHIVES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")


def _import(sources: Sequence[Path], tmp: Path) -> int:
    """Every ``--source``: an archive is extracted; a folder is linked/copied, and the archives in it
    (e.g. Weizmann's ten per-action zips as the site serves them) are extracted in place."""
    n = 0
    for src in sources:
        if not src.exists():
            raise UserError(f"--source {src}: no such file or folder")
        if src.is_file():
            n += len(safe_extract(src, tmp))
            continue
        for path in visible_files(src):  # not macOS's __MACOSX/ and ._ copies (a ._x.zip is no archive)
            rel = path.relative_to(src)
            if path.name.lower().endswith(ARCHIVES):
                n += len(safe_extract(path, tmp / rel.parent))
            else:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, tmp / rel)
                except OSError:
                    shutil.copy2(path, tmp / rel)
                n += 1
    return n


def _set_aside_download(cache: Path, name: str) -> Path:
    """A fetched archive that does not extract (an error page served as the file, a truncated copy the
    server reported complete): moved aside as ``<name>.bad`` and dropped from the lock, so the next
    run fetches it again instead of trusting its recorded hash. Returns where it went."""
    bad = cache / f"{name}.bad"
    os.replace(cache / name, bad)
    lock = read_lock(cache)
    if lock.pop(name, None) is not None:
        write_lock(cache, lock)
    return bad


def _read_record(path: Path, dataset: str) -> Optional[dict]:
    """The JSON record of ``dataset`` in ``path`` (a summary, the recorded sources), or None when there
    is none, it is unreadable or it is another data set's."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("dataset") == dataset else None


def acquire(source: Source, dl: DownloadConfig, out: Path, *, seed: int, downloads: Path,
            sources: Sequence[str] = (),
            progress: Optional[Callable[[str, int, Optional[int]], None]] = None) -> dict:
    """Fill ``out`` with ``source``'s raw data set as ``dl`` says; returns a summary (what was fetched or
    rendered). ``downloads``: the cache of fetched archives (kept between runs, never a DVC output).
    ``sources``: local archives or folders (licensed sets; Weizmann too), recorded in
    ``<downloads>/<dataset>/sources.json``. A licensed set run without a source keeps a complete
    earlier import, or imports again from the recorded sources (DVC may have removed the output
    before re-running the stage) — so a pipeline run never loses it."""
    dataset = source.name
    summary: dict = {"dataset": dataset}
    imported: list[str] = []
    record = Path(downloads) / dataset / "sources.json"
    if source.licensed and not sources:
        kept = _read_record(Path(out) / "summary.json", dataset) if (Path(out) / MARKER).is_file() else None
        if kept is not None:  # a complete earlier import
            log.info("%s: keeping the data imported earlier from %s (give --source to import again)",
                     dataset, ", ".join(kept.get("sources", [])) or out)
            return kept
        sources = list((_read_record(record, dataset) or {}).get("sources") or [])
        if sources:
            log.info("%s: importing again from the source given earlier: %s", dataset, ", ".join(sources))
    with staged_dir(out, "download") as tmp:
        rendered = source.render(tmp, dl, seed, progress)  # a rendered set ignores any source given
        if rendered is not None:
            if sources:
                log.warning("%s: rendered here; ignoring the source given (%s)", dataset, ", ".join(sources))
            summary.update(videos=rendered, rendered=True, seed=seed)
        elif not sources and (urls := source.archives(dl)):
            cache = Path(downloads) / dataset
            fetched = fetch_all(urls, cache, retries=dl.retries, timeout=dl.timeout_s,
                                progress_factory=(lambda name: (lambda d, t: progress(name, d, t))) if progress else None)
            for f in fetched:
                try:
                    safe_extract(cache / f.file, tmp)
                except DamagedArchive as e:
                    bad = _set_aside_download(cache, f.file)
                    raise UserError(f"{e.archive}: {e.reason} (as downloaded from {f.url}); it was moved aside to "
                                    f"{bad} and the next run downloads it again") from None
            shutil.copy2(cache / LOCK_NAME, tmp / LOCK_NAME)
            summary.update(files=[f.__dict__ for f in fetched])
        else:
            if not sources:
                raise UserError(f"{dataset}: no --source given. {source.how_to_get}")
            given = [Path(s).expanduser() for s in sources]
            n = _import(given, tmp)
            imported = [str(s.absolute()) for s in given]  # for sources.json: this machine's paths
            # the output is shared through DVC remotes: names only (no home folders, and the same
            # archive imported from anywhere gives the same output hash)
            summary.update(sources=[s.name for s in given], files=n)
        problems = source.missing(tmp)
        records, skipped = source.scan(tmp)
        if not records:  # name what the user gave, not our temp folder
            shown = ", ".join(imported) or dataset
            raise UserError(f"{shown}: not a {dataset} data set: "
                            + "; ".join(p.replace(str(tmp), "the files") for p in problems)
                            + (f". {source.how_to_get}" if source.how_to_get else ""))
        summary.update(videos=len(records), skipped=len(skipped))
        missing = [c for c in source.classes if c not in {r.label for r in records}] if source.conditional else []
        if missing:
            summary["missing_classes"] = missing
            if len(missing) > len(source.classes) / 2:
                summary.setdefault("warnings", []).append(
                    f"only {len(source.classes) - len(missing)} of {len(source.classes)} classes present "
                    f"(missing: {', '.join(missing)}); give every archive with --source (repeatable)")
        for problem in problems:  # e.g. UvA-NEMO's details file: usable, but worth a warning
            summary.setdefault("warnings", []).append(problem.replace(str(tmp), str(out)))
        for warning in summary.get("warnings", []):
            log.warning("%s: %s", dataset, warning)
        write_json_atomic(tmp / "summary.json", summary)
    if imported:  # where a later run without --source finds them again
        write_json_atomic(record, {"dataset": dataset, "sources": imported})
    return summary
