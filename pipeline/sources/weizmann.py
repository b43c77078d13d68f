"""Weizmann actions (Gorelick et al. 2007): public, one zip per action.

Layout after extraction: ``<actor>_<action>.avi`` (180×144, 25 fps, 93 files), anywhere below the
root (the zips may or may not hold a folder). Actors: daria denis eli ido ira lena lyova moshe
shahar; actions: walk run jump side bend wave1 wave2 pjump jack skip. Lena has two takes of walk,
run and skip (``lena_walk1.avi``, ``lena_walk2.avi``): the trailing digit is a take number — but
``wave1``/``wave2`` are two different actions, so a name is matched whole before any digit is
stripped. Preprocessing as the paper: frames scaled to 85×64 (W×H), centre-cropped to 64×64.
"""

from __future__ import annotations

from pathlib import Path

from g3an.config import DownloadConfig
from pipeline.sources.base import Skipped, Source, VideoRecord, safe_key, visible_files

ACTIONS = ("walk", "run", "jump", "side", "bend", "wave1", "wave2", "pjump", "jack", "skip")
ACTORS = ("daria", "denis", "eli", "ido", "ira", "lena", "lyova", "moshe", "shahar")


def parse_name(stem: str, actions: tuple[str, ...] = ACTIONS) -> tuple[str, str, str] | None:
    """``lena_walk1`` → ("lena", "walk", "1"); ``ido_wave2`` → ("ido", "wave2", ""); else None."""
    if "_" not in stem:
        return None
    actor, action = stem.lower().split("_", 1)
    if action in actions:
        return actor, action, ""
    base = action.rstrip("0123456789")
    if base in actions and base != action:
        return actor, base, action[len(base):]
    return None


class WeizmannSource(Source):
    name = "weizmann"
    classes = ACTIONS
    conditional = True
    crop = "resize"
    fps = 25.0
    extensions = (".avi",)

    def archives(self, dl: DownloadConfig) -> dict[str, str]:
        """One zip per action under ``download.weizmann_url``."""
        base = dl.weizmann_url.rstrip("/")
        return {f"{a}.zip": f"{base}/{a}.zip" for a in ACTIONS}

    def scan(self, root: Path):
        records, skipped = [], []
        for path in (p for p in visible_files(root) if p.suffix.lower() in self.extensions):
            parsed = parse_name(path.stem, self.classes)
            if parsed is None:
                skipped.append(Skipped(str(path), f"name is not <actor>_<action>{path.suffix} with a known action"))
                continue
            actor, action, take = parsed
            records.append(VideoRecord(id=safe_key(f"{self.name}-{actor}-{action}{take}"), subject=actor, label=action,
                                       path=str(path), fps=self.fps, meta=self.sidecar(path)))
        return _dedupe(records, skipped)

    def sidecar(self, path: Path) -> dict:
        return {}


def _dedupe(records: list[VideoRecord], skipped: list[Skipped]):
    seen: dict[str, VideoRecord] = {}
    for r in records:
        if r.id in seen:
            skipped.append(Skipped(r.path, f"duplicate of {seen[r.id].path}"))
        else:
            seen[r.id] = r
    return sorted(seen.values(), key=lambda r: r.id), skipped
