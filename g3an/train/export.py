"""A generator export from any training checkpoint: the ``generator.pt`` that ``g3an-cli train``
writes at the end of a run, for an earlier step too, so ``evaluate`` and ``render`` can score and
draw the run as it was then. One run's scores move by up to ±0.1 over its last 200 steps
(docs/what-we-tried.md, "how much one run's last 200 steps move the scores"): scoring the last few
checkpoints tells a recipe from a lucky snapshot."""

from __future__ import annotations

import copy
from pathlib import Path

from g3an.config import config_from_dict
from g3an.errors import UserError
from g3an.models.build import generator_spec
from g3an.models.generator import Generator
from g3an.persistence import load_artifact
from g3an.train.checkpoint import CheckpointDir
from g3an.train.loop import export_generator


def export_checkpoint(checkpoint: Path, out: Path) -> int:
    """Write ``out`` from ``checkpoint`` exactly as training exports its last step (G, and the EMA
    with its BatchNorm statistics re-estimated); returns the checkpoint's step. A checkpoint whose
    digest fails, or that is not one of ours, is a one-line UserError naming it."""
    checkpoint = Path(checkpoint)
    why = CheckpointDir(checkpoint.parent).problem(checkpoint) if checkpoint.is_file() else None
    if why:
        raise UserError(f"{checkpoint}: {why}; the checkpoint is damaged — export another one")
    state = load_artifact(checkpoint, "checkpoint")
    try:
        cfg = config_from_dict(state["config"], source=str(checkpoint))
        n_classes, classes = int(state["n_classes"]), list(state["classes"])
        params_hash, step = state["params_hash"], int(state["step"])
        spec = generator_spec(cfg.model, n_classes)
        g = Generator(spec)
        g.load_state_dict(state["g"])
        ema = None
        if state.get("ema") is not None:
            ema = copy.deepcopy(g).eval().requires_grad_(False)  # as training keeps it
            ema.load_state_dict(state["ema"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # a bad config in it names the file itself
        raise UserError(f"{checkpoint}: not a complete g3an training checkpoint ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]}); export a checkpoint `g3an-cli train` wrote") from None
    export_generator(out, g, ema, spec.latent_length(cfg.loader.clip_length), classes, n_classes, cfg,
                     params_hash, step)
    return step
