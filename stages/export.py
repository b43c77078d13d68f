"""``g3an-cli export``: a training checkpoint → a generator export (``generator.pt``'s format), so
``evaluate`` and ``render`` can score and draw a run at any kept step. A tool, not a DVC stage."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from g3an.errors import UserError


def default_out(checkpoint: Path) -> Path:
    """``runs/train/checkpoints/step-0001800.pt`` → ``runs/train/generator-step-0001800.pt``: beside
    the run's own ``generator.pt``."""
    return checkpoint.parent.parent / f"generator-{checkpoint.stem}.pt"


def main(checkpoint: str, out: Optional[str]) -> tuple[int, Path]:
    """(step, the file written). The write is atomic: a failure leaves no partial file."""
    from g3an.train.export import export_checkpoint

    src = Path(checkpoint)
    dest = Path(out) if out else default_out(src)
    if dest.absolute() == src.absolute():
        raise UserError(f"--out {dest}: is the checkpoint itself; give another file name")
    if dest.is_dir():
        raise UserError(f"--out {dest}: is a folder; give a file name (e.g. {dest / default_out(src).name})")
    return export_checkpoint(src, dest), dest
