"""The manifest of one shard split: what preprocessing wrote, read back by everything downstream.

``<shards>/<split>/manifest.json`` records the data set, its classes (the label vocabulary), its
appearance ``factors`` (``[name, vocabulary]`` pairs from the source's ground truth; empty for real sets),
whether every video carries its object's per-frame position (``tracked``: the synthetic set),
counts per class and subject, the shards written, the videos skipped and the params used.
``read_manifest`` checks the keys downstream code relies on, so a broken file is a one-line error.
"""

from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path
from typing import Sequence

from g3an.config import LoaderConfig
from g3an.errors import UserError
from g3an.fsutil import sha256_of

REQUIRED = ("dataset", "split", "videos", "resolution", "classes", "conditional", "factors", "per_subject", "shards")


def build_manifest(split: str, source, entries: Sequence[dict], shards: list[dict], skipped: list[dict],
                   params: dict) -> dict:
    """``entries``: the metadata of every video written; ``skipped``: ``{"path", "reason"}`` each."""
    frames = [e["frames"] for e in entries]
    return {
        "dataset": source.name, "split": split, "videos": len(entries), "frames": int(sum(frames)),
        "frames_per_video": {"min": min(frames, default=0), "max": max(frames, default=0),
                             "mean": round(sum(frames) / len(frames), 2) if frames else 0},
        "lengths": {str(n): c for n, c in sorted(collections.Counter(frames).items())},  # frames → videos
        "resolution": [params["size"], params["size"]], "classes": list(source.classes),
        "conditional": source.conditional,
        "factors": [[name, list(vocab)] for name, vocab in source.factors.items()],  # a list: keeps the order
        "per_class": dict(sorted(collections.Counter(str(e["label"]) for e in entries).items())),
        "per_subject": dict(sorted(collections.Counter(e["subject"] for e in entries).items())),
        "tracked": bool(entries) and all("track" in e for e in entries),  # every video has its object's track
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


def verified_shards(shards: str | Path, split: str = "train") -> list[str]:
    """The shard files ``<shards>/<split>/manifest.json`` lists, in its order, each checked against
    it: present, the same size, the same SHA-256 (manifests written before digests: size only). Any
    difference is a UserError naming the shard and the fix, before a single clip is read."""
    manifest, folder = read_manifest(shards, split), Path(shards) / split
    fix = "re-create the shards: `dvc repro preprocess` (or `dvc pull`, or `g3an-cli preprocess`)"
    if not manifest["shards"]:
        raise UserError(f"{folder}/manifest.json: lists no shards for the {split} split; {fix}")
    if manifest.get("videos") == 0:  # its shards are empty tars: a stream over them would never yield
        raise UserError(f"{folder}: the {split} split holds no videos (preprocess.test_fraction = 0, or every "
                        f"{split} video was skipped: see the manifest's 'skipped'); preprocess again with "
                        "preprocess.test_fraction > 0 or preprocess.test_subjects naming some subjects")
    paths = []
    for entry in manifest["shards"]:
        path = folder / entry["name"]
        if not path.is_file():
            raise UserError(f"{path}: listed in the manifest but missing; {fix}")
        if path.stat().st_size != entry["bytes"]:
            raise UserError(f"{path}: {path.stat().st_size} bytes, the manifest says {entry['bytes']} "
                            f"(truncated or replaced); {fix}")
        if "sha256" in entry and sha256_of(path) != entry["sha256"]:
            raise UserError(f"{path}: its bytes differ from the manifest's SHA-256 (corrupt); {fix}")
        paths.append(str(path))
    return paths


def data_hash(manifest: dict) -> str:
    """The identity of the data a manifest lists — its classes and every shard's name, size and
    SHA-256 — independent of where the shards lie: a checkpoint made on other data (more subjects,
    another split, other classes) must not be resumed on these shards."""
    shards = [[e["name"], e["bytes"], e.get("sha256")] for e in manifest["shards"]]
    blob = json.dumps({"classes": manifest["classes"], "shards": shards}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def fitting_steps(n: int, length: int, steps: Sequence[int]) -> list[int]:
    """The frame steps of ``steps`` that fit a ``length``-frame clip into an ``n``-frame video."""
    return [s for s in steps if (length - 1) * s + 1 <= n]


def _lengths(manifest: dict) -> dict[int, int]:
    """Frames per video → videos (manifests written before the histogram: every video at the minimum)."""
    lengths = manifest.get("lengths") or {str(manifest["frames_per_video"]["min"]): manifest["videos"]}
    return {int(n): c for n, c in lengths.items()}


def short_videos(manifest: dict, loader: LoaderConfig) -> int:
    """How many videos of a split no allowed frame step fits: the loader skips them."""
    return sum(c for n, c in _lengths(manifest).items() if not fitting_steps(n, loader.clip_length, loader.frame_steps))


def clip_plan(manifest: dict, loader: LoaderConfig) -> dict:
    """What the clips of a split will be, from its manifest: the frame steps at least one video serves
    (the protocol actually used), how many videos serve none (skipped). A UserError when none fits."""
    counts = _lengths(manifest)
    used = [s for s in loader.frame_steps if any(fitting_steps(n, loader.clip_length, [s]) for n in counts)]
    skipped = short_videos(manifest, loader)
    if not used:
        longest = max(counts, default=0)
        raise UserError(f"{manifest['dataset']}/{manifest['split']}: no video has enough frames for "
                        f"loader.clip_length = {loader.clip_length} at any of loader.frame_steps = "
                        f"{list(loader.frame_steps)} (the longest has {longest}); lower loader.clip_length or "
                        f"loader.frame_steps (a step s needs (clip_length - 1)·s + 1 frames)")
    return {"frame_steps": used, "videos": sum(counts.values()), "skipped_short": skipped}
