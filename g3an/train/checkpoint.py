"""Checkpoints: everything needed to continue a run exactly, written atomically, loaded safely.

A checkpoint holds G, D_V, D_I, the EMA generator, both optimizers, the step and clips seen, every
RNG state (python, numpy, torch, CUDA, and the run's own sampling generator), the resolved config
and the hash of the params that shape the run. Files are ``step-NNNNNNN.pt`` in one folder with a
``latest`` pointer; the last ``keep`` are kept, each with its SHA-256 beside it. Written and read
through ``g3an.persistence`` (atomic, ``weights_only=True``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from g3an.errors import UserError
from g3an.fsutil import sha256_of, write_bytes_atomic
from g3an.persistence import load_artifact, save_artifact

LATEST = "latest"


def rng_state(gen: torch.Generator) -> dict:
    np_state = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()),
                                                    *np_state[2:]),
             "torch": torch.get_rng_state(), "sampler": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, gen: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    gen.set_state(state["sampler"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointDir:
    """``step-NNNNNNN.pt`` files, each with its SHA-256 in ``step-NNNNNNN.pt.sha256`` (written after it),
    and a ``latest`` pointer that is only a hint for people: ``newest_good`` trusts the digests, never
    the pointer. A checkpoint whose bytes no longer match its digest (a flipped byte, a truncation) is
    renamed ``*.corrupt`` — kept for inspection, never loaded."""

    def __init__(self, folder: Path, keep: int = 3):
        self.folder, self.keep = Path(folder), keep

    def path(self, step: int) -> Path:
        return self.folder / f"step-{step:07d}.pt"

    def all(self) -> list[Path]:
        """Every checkpoint file, newest first."""
        return sorted(self.folder.glob("step-*.pt"), reverse=True)

    def problem(self, path: Path) -> Optional[str]:
        """Why ``path`` must not be loaded, or None when its digest verifies (or predates digests)."""
        digest = path.with_name(path.name + ".sha256")
        if not digest.is_file():
            return None  # written before digests existed: load_artifact still refuses what it cannot read
        expected = digest.read_text(errors="replace").strip()
        return None if sha256_of(path) == expected else "its bytes do not match the SHA-256 recorded when it was written"

    def load(self, path: Path) -> dict:
        """The state saved in ``path`` once its digest verifies; otherwise a one-line UserError naming
        it: bytes that no longer match their digest, a missing file, or a file that is not a checkpoint."""
        why = self.problem(path) if path.is_file() else None
        if why:
            raise UserError(f"{path}: {why}; restore it from a copy or use another checkpoint")
        return load_artifact(path, "checkpoint")

    def newest_good(self) -> tuple[Optional[Path], Optional[dict], list[tuple[Path, str]]]:
        """(path, state) of the newest checkpoint that verifies and loads, and the (path, why) of every
        newer one that did not."""
        bad: list[tuple[Path, str]] = []
        for path in self.all():
            try:
                return path, self.load(path), bad
            except UserError as e:
                bad.append((path, str(e).split(": ", 1)[-1]))
        return None, None, bad

    def quarantine(self, path: Path) -> Path:
        dest = path.with_name(path.name + ".corrupt")
        os.replace(path, dest)
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        return dest

    def save(self, state: dict, step: int) -> Path:
        path = self.path(step)
        digest = save_artifact(state, path, "checkpoint")
        write_bytes_atomic(path.with_name(path.name + ".sha256"), (digest + "\n").encode())
        write_bytes_atomic(self.folder / LATEST, (path.name + "\n").encode())
        for old in self.all()[self.keep:]:  # our own older checkpoints beyond keep_last
            old.unlink()
            old.with_name(old.name + ".sha256").unlink(missing_ok=True)
        return path
