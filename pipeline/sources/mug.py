"""MUG facial expressions (Aifanti et al. 2010): licensed; the user obtains it.

Layout: ``subjects3/<NNN>/[session<k>/]<expression>/take<NNN>/img_<NNNN>.jpg`` (896×896 jpg,
19 fps); the root given may be ``subjects3`` itself or any folder above it. Expressions: anger,
disgust, fear, happiness, sadness, surprise (6 labels); ``neutral`` is excluded unless
``preprocess.include_neutral``. Take folders whose name ends in ``end`` (``take000end``) are kept as
ordinary takes of the same expression: their frames are a normal image sequence, their id keeps
the suffix (so they never collide with ``take000``), and their metadata says ``end_take: true`` so
a user can filter them. Subjects are the ``<NNN>`` folders; the split is subject-disjoint.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.sources.base import Skipped, Source, VideoRecord, safe_key, visible_files

EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
_TAKE = re.compile(r"^take(\d+)(end)?$", re.IGNORECASE)
_FRAME = re.compile(r"^img_(\d+)\.jpe?g$", re.IGNORECASE)


def frame_files(take: Path) -> list[Path]:
    """The take's ``img_<NNNN>.jpg`` files in frame order."""
    files = [(int(m.group(1)), p) for p in take.iterdir() if (m := _FRAME.match(p.name))]
    return [p for _, p in sorted(files)]


def find_subjects_root(root: Path) -> Path | None:
    root = Path(root)
    if root.name == "subjects3" and root.is_dir():
        return root
    hits = visible_files(root, "subjects3", dirs=True)  # not a macOS zip's __MACOSX/subjects3
    return hits[0] if hits else None


class MugSource(Source):
    name = "mug"
    conditional = True
    crop = "face"
    licensed = True
    fps = 19.0
    how_to_get = ("MUG is licensed: request it at https://mug.ee.auth.gr/fed/ , then run "
                  "`g3an-cli download mug --source PATH` with the archive or the folder holding subjects3/")

    def __init__(self, options: dict | None = None):
        super().__init__(options)
        self.classes = EXPRESSIONS + (("neutral",) if self.options.get("include_neutral") else ())

    def scan(self, root: Path):
        base = find_subjects_root(root)
        if base is None:
            return [], [Skipped(str(root), "no subjects3/ folder")]
        records, skipped = [], []
        for take in (p for p in visible_files(base, dirs=True) if _TAKE.match(p.name)):
            parts = take.relative_to(base).parts  # (NNN, [session<k>,] expression, take<NNN>[end])
            if len(parts) not in (3, 4) or (len(parts) == 4 and not parts[1].lower().startswith("session")):
                skipped.append(Skipped(str(take), "not at subjects3/<NNN>/[session<k>/]<expression>/take<NNN>"))
                continue
            subject, expression = parts[0], parts[-2].lower()
            session = parts[1] if len(parts) == 4 else ""
            if expression not in self.classes:
                why = "neutral excluded (preprocess.include_neutral)" if expression == "neutral" else "unknown expression"
                skipped.append(Skipped(str(take), why))
                continue
            frames = frame_files(take)
            if not frames:
                skipped.append(Skipped(str(take), "no img_<NNNN>.jpg frames"))
                continue
            end = bool(_TAKE.match(take.name).group(2))
            rid = safe_key("-".join(x for x in ("mug", subject, session, expression, take.name) if x))
            records.append(VideoRecord(id=rid, subject=subject, label=expression, path=str(take), fps=self.fps,
                                       frames=len(frames), meta={"session": session, "end_take": end}))
        return sorted(records, key=lambda r: r.id), skipped

    def missing(self, root: Path) -> list[str]:
        base = find_subjects_root(root)
        if base is None:
            return [f"no subjects3/ folder under {root}"]
        records, _ = self.scan(root)
        if not records:
            return [f"no subjects3/<NNN>/<expression>/take<NNN>/img_<NNNN>.jpg sequences under {base}"]
        return []
