"""UvA-NEMO smiles (Dibeklioğlu et al. 2012): licensed; the user obtains it.

Layout: ``<NNN>_{deliberate,spontaneous}_smile_<K>.mp4`` (1920×1080, 50 fps) anywhere below the
root, plus ``UvA-NEMO_Smile_Database_File_Details.txt`` (tab-separated, a few header lines, one
row per file: the file name, the subject code, the subject's details and the spontaneous/posed
label). The subject is the details row's subject code — several files can share one — and, for a
file without a row (or without the details file), the file name's ``<NNN>``; the split is
subject-disjoint on it. The paper trains it unconditionally; the deliberate/spontaneous
label is kept as the record's label (and the details row as metadata), and training ignores it
unless ``train.conditional: yes``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.sources.base import Skipped, Source, VideoRecord, safe_key, visible_files

DETAILS = "UvA-NEMO_Smile_Database_File_Details.txt"
_NAME = re.compile(r"^(\d+)_(deliberate|spontaneous)_smile_(\d+)$", re.IGNORECASE)
_NAME_IN_CELL = re.compile(r"(\d+)_(deliberate|spontaneous)_smile_(\d+)", re.IGNORECASE)


def read_details(path: Path) -> dict[str, dict]:
    """Rows of the details file keyed by video stem. Header lines are whatever precedes the first
    row naming a video; the last of them with as many cells as the rows gives the column names."""
    rows: dict[str, dict] = {}
    header: list[str] | None = None
    previous: list[list[str]] = []
    for raw in path.read_text(errors="replace").splitlines():
        cells = [c.strip() for c in raw.split("\t")]
        hit = next((m for c in cells if (m := _NAME_IN_CELL.search(c))), None)
        if hit is None:
            if not rows and any(cells):
                previous.append(cells)
            continue
        if header is None:
            fitting = [p for p in previous if len(p) == len(cells)]
            header = fitting[-1] if fitting else [f"col{i}" for i in range(len(cells))]
        stem = hit.group(0).lower()
        rows[stem] = {(header[i] if i < len(header) and header[i] else f"col{i}"): c for i, c in enumerate(cells)}
    return rows


def subject_code(row: dict) -> str:
    """The subject code of a details row: the column whose header names the subject; without a header
    line, the column after the file name (the file's order: file name, subject code, the subject's
    details, the label). '' when neither is there."""
    named = [v for k, v in row.items() if "subject" in k.lower() and v]
    if named:
        return named[0]
    if row.get("col1") and _NAME_IN_CELL.search(row.get("col0", "")):
        return row["col1"]
    return ""


class UvaNemoSource(Source):
    name = "uva_nemo"
    classes = ("deliberate", "spontaneous")
    conditional = False
    crop = "face"
    licensed = True
    fps = 50.0
    how_to_get = ("UvA-NEMO is licensed: request it at https://www.uva-nemo.org , then run "
                  "`g3an-cli download uva_nemo --source PATH` with the archive or the folder of .mp4 files")

    def scan(self, root: Path):
        root = Path(root)
        details_files = visible_files(root, DETAILS)
        details = read_details(details_files[0]) if details_files else {}
        records, skipped = [], []
        for path in (p for p in visible_files(root) if p.suffix.lower() == ".mp4"):
            m = _NAME.match(path.stem)
            if not m:
                skipped.append(Skipped(str(path), "name is not <NNN>_{deliberate,spontaneous}_smile_<K>.mp4"))
                continue
            number, kind, take = m.group(1), m.group(2).lower(), m.group(3)
            row = details.get(path.stem.lower(), {})
            subject = subject_code(row) or number
            meta = {"details": row} if details else {}
            records.append(VideoRecord(id=safe_key(f"uva_nemo-{number}-{kind}-{take}"), subject=subject,
                                       label=kind, path=str(path), fps=self.fps, meta=meta))
        return sorted(records, key=lambda r: r.id), skipped

    def missing(self, root: Path) -> list[str]:
        problems = []
        if not self.scan(root)[0]:
            problems.append(f"no <NNN>_{{deliberate,spontaneous}}_smile_<K>.mp4 files under {root}")
        if not any(Path(root).rglob(DETAILS)):
            problems.append(f"no {DETAILS} (videos are usable without it; its metadata is then absent)")
        return problems

    def check_layout(self, root: Path) -> None:
        if not self.scan(root)[0]:  # the details file is optional
            super().check_layout(root)
