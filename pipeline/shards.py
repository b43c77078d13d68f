"""Deterministic WebDataset shard writing.

One sample = one whole video: ``<id>.frames.npy`` (T, H, W, 3) uint8 and ``<id>.json`` metadata.
Ids contain no dots (WebDataset keys end at the first dot). Tar members get fixed metadata
(mtime 0, fixed owner and mode) so identical inputs give byte-identical shards — and identical
DVC hashes — run after run.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from g3an.fsutil import sha256_of

SHARD_PATTERN = "{split}-%06d.tar"


def encode_sample(key: str, frames: np.ndarray, meta: dict) -> dict:
    assert "." not in key, key
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3, frames.shape
    return {"__key__": key, "frames.npy": frames, "json": json.dumps(meta, sort_keys=True).encode()}


class ShardSetWriter:
    """Writes one split's samples into ``<folder>/<split>-NNNNNN.tar``, ``per_shard`` videos each."""

    def __init__(self, folder: Path, split: str, per_shard: int):
        import webdataset as wds  # imports torch: keep it out of module import time

        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.split = folder, split
        self._writer = wds.ShardWriter(str(folder / SHARD_PATTERN.format(split=split)), maxcount=per_shard,
                                       maxsize=float("inf"), verbose=0, mtime=0.0, user="g3an", group="g3an",
                                       mode=0o444)
        self.count, self.closed = 0, False

    def write(self, key: str, frames: np.ndarray, meta: dict) -> None:
        self._writer.write(encode_sample(key, frames, meta))
        self.count += 1

    def close(self) -> list[dict]:
        self.closed = True
        self._writer.close()
        return shard_listing(self.folder)

    def abort(self) -> None:
        """After a failure (a full disk, say): close the open tar without raising, so it does not try
        to flush again when garbage-collected. The half-written folder is the caller's to remove."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self._writer.close()


def shard_listing(folder: Path) -> list[dict]:
    """Name, size and SHA-256 of every shard in ``folder``, sorted: what training checks before its
    first step (``pipeline.manifest.verified_shards``). The shards were just written, so the hash
    reads them back from the page cache."""
    return [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_of(p)} for p in sorted(folder.glob("*.tar"))]
