"""Stage ``train-evaluator``: train shards → the judge network + its test-split accuracy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from g3an.fsutil import write_json_atomic
from stages.common import Progress, evaluator_path, setup, shards_dir

log = logging.getLogger("g3an.evaluator")


def main(shards: Optional[str], out: Optional[str], metrics: Optional[str], params: str,
         overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    from g3an.metrics.evaluator import save_evaluator, split_accuracy, train_evaluator
    from g3an.train.loop import read_manifest

    shard_dir = Path(shards or shards_dir(cfg))
    out_path = Path(out or evaluator_path(cfg))
    manifest = read_manifest(shard_dir)
    e = cfg.eval
    with Progress() as bar:
        model, info = train_evaluator(shard_dir, manifest, e.evaluator_steps, e.evaluator_batch, e.evaluator_lr,
                                      e.evaluator_width, e.seed, cfg.loader.clip_length, cfg.loader.frame_steps,
                                      cfg.loader.workers,
                                      lambda s, t, loss: bar.update("evaluator", s, t))
    accuracy = split_accuracy(model, shard_dir, info["heads"], cfg.loader.clip_length, cfg.loader.frame_steps,
                             e.n_real, e.seed)
    info["test_accuracy"] = accuracy
    save_evaluator(out_path, model, info)
    chance = {"motion": 1 / max(1, len(manifest["classes"])),
              **{k: 1 / len(v) for k, v in info["heads"]}}
    write_json_atomic(Path(metrics or out_path.parent / "metrics.json"),
                      {"test_accuracy": accuracy, "chance": chance, "steps": e.evaluator_steps,
                       "final_loss": round(info["final_loss"], 5), "heads": [k for k, _ in info["heads"]]})
    log.info("evaluator test accuracy: %s", ", ".join(f"{k} {v}" for k, v in accuracy.items()))
