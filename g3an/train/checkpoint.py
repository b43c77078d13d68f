"""Checkpoints: everything needed to continue a run exactly, written atomically, loaded safely.

A checkpoint holds G, D_V, D_I, the EMA generator, both optimizers, the step and clips seen, every
RNG state (python, numpy, torch, CUDA, and the run's own sampling generator), the resolved config
and the hash of the params that shape the run. Files are ``step-NNNNNNN.pt`` in one folder with a
``latest`` pointer; the last ``keep`` are kept. Written and read through ``g3an.persistence``
(atomic, ``weights_only=True``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from g3an.fsutil import write_bytes_atomic
from g3an.persistence import save_artifact

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
    def __init__(self, folder: Path, keep: int = 3):
        self.folder, self.keep = Path(folder), keep

    def path(self, step: int) -> Path:
        return self.folder / f"step-{step:07d}.pt"

    def latest(self) -> Optional[Path]:
        pointer = self.folder / LATEST
        if not pointer.exists():
            return None
        path = self.folder / pointer.read_text().strip()
        return path if path.exists() else None

    def save(self, state: dict, step: int) -> Path:
        path = self.path(step)
        save_artifact(state, path, "checkpoint")
        write_bytes_atomic(self.folder / LATEST, (path.name + "\n").encode())
        for old in sorted(self.folder.glob("step-*.pt"))[:-self.keep]:
            old.unlink()  # our own older checkpoints beyond keep_last
        return path
