"""Persisted artifacts: the one place that writes and reads every ``.pt`` file g3an makes or takes.

``save_artifact(obj, path, kind)`` stamps ``{"format": "g3an-<kind>/1"}`` into the dict and writes
it atomically with stable bytes; ``load_artifact(path, kind)`` reads it with
``torch.load(weights_only=True)`` — a file from a stranger can hold tensors and plain containers,
never code — and checks its format. Every failure is a one-line :class:`UserError` naming the file
and the fix. The kinds (``KINDS``): training checkpoints, the generator export later stages load,
the judge network, cached real-data statistics, and foreign weights (a user's state dict, which
carries no format of ours).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from g3an.errors import UserError
from g3an.fsutil import write_bytes_atomic


@dataclass(frozen=True)
class Kind:
    format: Optional[str]  # the "format" value the file must carry; None for foreign files
    fix: str  # what makes a good one: said when the file is missing or of another kind
    legacy: bool = False  # also accept files without a "format" key (written before formats existed)


KINDS: dict[str, Kind] = {
    "checkpoint": Kind("g3an-checkpoint/1", "`g3an-cli train` writes checkpoints", legacy=True),
    "generator": Kind("g3an-generator/1", "run `g3an-cli train` (or `dvc repro train`) first"),
    "evaluator": Kind("g3an-evaluator/1", "run `g3an-cli train-evaluator` (or `dvc repro train-evaluator`) first"),
    "real-stats": Kind("g3an-real-stats/1", "delete the file; `g3an-cli evaluate` recomputes it"),
    "weights": Kind(None, "a state dict saved with torch.save"),
}


def save_artifact(obj: dict, path: str | Path, kind: str) -> str:
    """``torch.save`` into memory, then an atomic write; returns the SHA-256 of the bytes written.
    (Saving to the temp file directly would name the zip archive inside after that random file name:
    same weights, different bytes and DVC hashes.)"""
    fmt = KINDS[kind].format
    buffer = io.BytesIO()
    torch.save({"format": fmt, **obj} if fmt else obj, buffer)
    data = buffer.getvalue()
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def load_artifact(path: str | Path, kind: str) -> dict:
    """The dict saved in ``path``, checked to be a ``kind`` artifact (see ``KINDS``)."""
    spec, path = KINDS[kind], Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {kind} not found; {spec.fix}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own message advises weights_only=False: the unsafe thing
        raise UserError(f"{path}: refused — it holds pickled objects other than tensors and plain containers, "
                        f"which are never loaded ({spec.fix})") from None
    except (RuntimeError, EOFError, ValueError, AttributeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: refused — not a readable, safe {kind} file ({first[:160]}); restore it "
                        f"from a copy or move it away ({spec.fix})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: not a g3an {kind} (holds a {type(obj).__name__}, expected a dict); {spec.fix}")
    found = obj.get("format")
    if spec.format is not None and found != spec.format and not (spec.legacy and found is None):
        raise UserError(f"{path}: not a g3an {kind} (format {found!r}, expected {spec.format!r}); {spec.fix}")
    return obj
