"""The generator export later stages load (``generator.pt``): written by training at its last step
(``export_generator``), and from any kept checkpoint (``export_checkpoint``, ``g3an-cli export``), so
``evaluate`` and ``render`` can score and draw a run as it was at that step. One run's scores move
by up to ±0.1 over its last 200 steps (docs/what-we-tried.md, "how much one run's last 200 steps
move the scores"): scoring the last few checkpoints tells a recipe from a lucky snapshot."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import torch

from g3an.config import Config, config_from_dict
from g3an.errors import UserError
from g3an.models.build import generator_spec
from g3an.models.generator import Generator
from g3an.persistence import save_artifact
from g3an.train.checkpoint import CheckpointDir
from g3an.train.ema import recalibrate_batchnorm, shadow
from g3an.train.step import unwrap


def export_generator(path: Path, g: torch.nn.Module, ema: Optional[torch.nn.Module], latent_length: int,
                     classes: list[str], n_classes: int, cfg: Config, params_hash: str, step: int) -> None:
    """The small file later stages load: weights plus everything needed to rebuild G; the EMA
    weights with BatchNorm statistics re-estimated for them (``ema.recalibrate_batchnorm``)."""
    if ema is not None:
        ema = recalibrate_batchnorm(ema, latent_length, n_classes, seed=cfg.base.seed)
    save_artifact({"g": unwrap(g).state_dict(), "ema": ema.state_dict() if ema is not None else None,
                   "spec": dataclasses.asdict(unwrap(g).spec), "latent_length": latent_length,
                   "classes": list(classes), "n_classes": n_classes, "config": cfg.to_dict(),
                   "params_hash": params_hash, "step": step}, path, "generator")


def export_checkpoint(checkpoint: Path, out: Path) -> int:
    """Write ``out`` from ``checkpoint`` as training exports its last step (G, and the EMA with its
    BatchNorm statistics re-estimated: the last checkpoint gives the run's own weights); returns the
    checkpoint's step. A checkpoint whose digest fails, or that is not one of ours, is a one-line
    UserError naming it; the write is atomic, so a failure leaves no partial file."""
    checkpoint = Path(checkpoint)
    state = CheckpointDir(checkpoint.parent).load(checkpoint)
    try:
        cfg = config_from_dict(state["config"], source=str(checkpoint))
        n_classes, classes = int(state["n_classes"]), list(state["classes"])
        params_hash, step = state["params_hash"], int(state["step"])
        spec = generator_spec(cfg.model, n_classes)
        g = Generator(spec)
        g.load_state_dict(state["g"])
        ema = None
        if state.get("ema") is not None:
            ema = shadow(g)  # as training keeps it
            ema.load_state_dict(state["ema"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # a bad config in it names the file itself
        raise UserError(f"{checkpoint}: not a complete g3an training checkpoint ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]}); export a checkpoint `g3an-cli train` wrote") from None
    export_generator(out, g, ema, spec.latent_length(cfg.loader.clip_length), classes, n_classes, cfg,
                     params_hash, step)
    return step
