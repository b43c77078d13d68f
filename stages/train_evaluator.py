"""Stage ``train-evaluator``: train shards → the judge network + its test-split accuracy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from g3an.fsutil import output_lock, signals_deferred, write_json_atomic
from g3an.metrics.summary import short
from stages.common import Progress, setup
from stages.paths import default_path, details_beside

log = logging.getLogger("g3an.evaluator")


def main(shards: Optional[str], out: Optional[str], metrics: Optional[str], params: str,
         overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    from g3an.metrics.evaluator import chance_levels, save_evaluator, train_and_score
    from pipeline.manifest import read_manifest

    shard_dir = Path(shards or default_path(cfg, "shards"))
    out_path = Path(out or default_path(cfg, "evaluator"))
    default_metrics = out_path.parent / "metrics.json" if out else default_path(cfg, "evaluator_metrics")
    metrics_path = Path(metrics or default_metrics)
    manifest = read_manifest(shard_dir)
    with output_lock(out_path):
        with Progress() as bar:
            model, info = train_and_score(shard_dir, manifest, cfg.eval, cfg.loader,
                                          lambda s, t, loss: bar.update("evaluator", s, t))
        save_evaluator(out_path, model, info)
    accuracy, chance = info["test_accuracy"], chance_levels(manifest, info["heads"], model.track_grid)
    # the declared metric: motion accuracy beside its chance level; every head in the sidecar
    with signals_deferred():  # the metric and its sidecar together
        write_json_atomic(metrics_path, {"judge_motion": short(accuracy["motion"]), "chance": short(chance["motion"])})
        write_json_atomic(details_beside(metrics_path),
                          {"test_accuracy": accuracy, "chance": chance, "steps": cfg.eval.evaluator_steps,
                           "final_loss": round(info["final_loss"], 5), "heads": [k for k in chance if k != "motion"]})
    log.info("evaluator test accuracy: %s", ", ".join(f"{k} {v} (chance {chance[k]:.3f})" for k, v in accuracy.items()))
