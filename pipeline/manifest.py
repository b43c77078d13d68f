"""The manifest of one shard split: what preprocessing wrote, read back by everything downstream.

``<shards>/<split>/manifest.json`` records the data set, its classes (the label vocabulary), its
appearance ``factors`` (``[name, vocabulary]`` pairs from the source's ground truth; empty for real sets),
counts per class and subject, the shards written, the videos skipped and the params used.
``read_manifest`` checks the keys downstream code relies on, so a broken file is a one-line error.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Sequence

from g3an.errors import UserError

REQUIRED = ("dataset", "split", "videos", "resolution", "classes", "conditional", "factors", "per_subject", "shards")


def build_manifest(split: str, source, entries: Sequence[dict], shards: list[dict], skipped: list[dict],
                   params: dict) -> dict:
    """``entries``: the metadata of every video written; ``skipped``: ``{"path", "reason"}`` each."""
    frames = [e["frames"] for e in entries]
    return {
        "dataset": source.name, "split": split, "videos": len(entries), "frames": int(sum(frames)),
        "frames_per_video": {"min": min(frames, default=0), "max": max(frames, default=0),
                             "mean": round(sum(frames) / len(frames), 2) if frames else 0},
        "resolution": [params["size"], params["size"]], "classes": list(source.classes),
        "conditional": source.conditional,
        "factors": [[name, list(vocab)] for name, vocab in source.factors.items()],  # a list: keeps the order
        "per_class": dict(sorted(collections.Counter(str(e["label"]) for e in entries).items())),
        "per_subject": dict(sorted(collections.Counter(e["subject"] for e in entries).items())),
        "shards": shards, "params": params, "skipped": list(skipped),
    }


def read_manifest(shards: str | Path, split: str = "train") -> dict:
    """The manifest of ``<shards>/<split>``; a missing or broken one is a UserError naming the fix."""
    path = Path(shards) / split / "manifest.json"
    fix = "run `g3an-cli preprocess` (or `dvc repro preprocess`)"
    if not path.is_file():
        raise UserError(f"{path}: no {split} manifest; {fix} first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e}); {fix} to rewrite it") from None
    missing = [k for k in REQUIRED if k not in manifest] if isinstance(manifest, dict) else list(REQUIRED)
    if missing:
        raise UserError(f"{path}: not a g3an shard manifest (missing {', '.join(missing)}); {fix} to rewrite it")
    return manifest
