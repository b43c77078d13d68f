"""The record every source yields, the source interface, and the registry."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Literal, Optional

from g3an.config import DownloadConfig, PreprocessConfig
from g3an.errors import UserError

_KEY_BAD = re.compile(r"[^A-Za-z0-9_-]")


def visible_files(root: Path, pattern: str = "*", dirs: bool = False) -> list[Path]:
    """``root.rglob(pattern)``, sorted, files (or with ``dirs`` folders) only, without what archivers and
    file managers add beside a data set: anything under ``__MACOSX/`` (macOS zips) or a dot-named
    folder, and dot files such as AppleDouble ``._<name>`` copies (never videos or frames)."""
    root = Path(root)
    found = (p for p in root.rglob(pattern) if (p.is_dir() if dirs else p.is_file()))
    return sorted(p for p in found
                  if not any(part == "__MACOSX" or part.startswith(".") for part in p.relative_to(root).parts))


def safe_key(text: str) -> str:
    """A WebDataset sample key: no dots (the key ends at the first dot), no path separators."""
    return _KEY_BAD.sub("-", text)


@dataclass(frozen=True)
class VideoRecord:
    id: str  # unique, dot-free: the WebDataset key
    subject: str
    label: Optional[str]  # class name, or None for unlabelled data
    path: str  # a video file, or a folder of frames (MUG)
    fps: float
    frames: Optional[int] = None  # when known without decoding (frame folders)
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        assert "." not in self.id and "/" not in self.id, self.id


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


class Source:
    """A data set: where to get it, how to find its videos, how its frames are cropped."""

    name: ClassVar[str]
    classes: ClassVar[tuple[str, ...]]  # label names; the index is the class id
    conditional: ClassVar[bool]  # the paper trains it conditionally
    crop: ClassVar[Literal["resize", "face"]]
    licensed: ClassVar[bool] = False
    factors: ClassVar[dict[str, tuple[str, ...]]] = {}  # appearance factors with ground truth: name → vocabulary
    how_to_get: ClassVar[str] = ""

    def __init__(self, options: dict | None = None):
        self.options = options or {}

    def render(self, dest: Path, dl: DownloadConfig, seed: int,
               progress: Optional[Callable[[str, int, Optional[int]], None]] = None) -> Optional[int]:
        """Render the data set into ``dest`` here, with no network; returns the number of videos, or None
        for a data set that is recorded, not rendered."""
        return None

    def archives(self, dl: DownloadConfig) -> dict[str, str]:
        """Archive name → URL for a data set anyone may download (``download`` fetches, verifies and
        extracts them); empty for one that only comes from files the user gives (``--source``)."""
        return {}

    def scan(self, root: Path) -> tuple[list[VideoRecord], list[Skipped]]:
        """Every usable video under ``root`` (sorted by id) and every file passed over, with why."""
        raise NotImplementedError

    def missing(self, root: Path) -> list[str]:
        """What the on-disk layout lacks (empty when ``root`` looks like this data set)."""
        records, _ = self.scan(root)
        return [] if records else [f"no videos in the {self.name} layout under {root}"]

    def check_layout(self, root: Path) -> None:
        problems = self.missing(root)
        if problems:
            raise UserError(f"{root}: not a {self.name} folder: " + "; ".join(problems)
                            + (f". {self.how_to_get}" if self.how_to_get else ""))


SOURCES: dict[str, str] = {
    "synthetic": "pipeline.sources.synthetic:SyntheticSource",
    "weizmann": "pipeline.sources.weizmann:WeizmannSource",
    "mug": "pipeline.sources.mug:MugSource",
    "uva_nemo": "pipeline.sources.uva_nemo:UvaNemoSource",
}


def get_source(name: str, options: dict | None = None) -> Source:
    if name not in SOURCES:
        raise UserError(f"unknown data set {name!r}; expected one of {', '.join(SOURCES)}")
    module, cls = SOURCES[name].split(":")
    return getattr(importlib.import_module(module), cls)(options)


def source_for(dataset: str, download: DownloadConfig, preprocess: PreprocessConfig) -> Source:
    """The data set's source with the options the params give it (synthetic actions, MUG's neutral)."""
    return get_source(dataset, {"actions": download.synthetic.actions, "include_neutral": preprocess.include_neutral})
