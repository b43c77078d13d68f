"""Stage ``evaluate``: generator + evaluator + shards → metrics.json (``dvc metrics show``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from g3an.fsutil import write_json_atomic
from stages.common import evaluator_path, generator_path, setup, shards_dir

log = logging.getLogger("g3an.evaluate")


def main(generator: Optional[str], evaluator: Optional[str], shards: Optional[str], out: Optional[str],
         params: str, overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    import torch

    from g3an.metrics.evaluate import evaluate

    torch.set_grad_enabled(False)
    runs = Path(cfg.base.runs_dir)
    results = evaluate(cfg, Path(generator or generator_path(cfg)), Path(evaluator or evaluator_path(cfg)),
                       Path(shards or shards_dir(cfg)),
                       Path(cfg.eval.cache_dir or runs / "eval-cache"), progress=lambda m: log.info("evaluate: %s", m))
    out_path = Path(out or runs / "evaluate" / "metrics.json")
    write_json_atomic(out_path, results)
    for name, r in results.items():
        if not name.startswith("_"):
            log.info("%-28s %s", name, r["value"] if r["value"] is None else f"{r['value']:.4f}")
