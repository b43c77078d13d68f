"""Stage ``evaluate``: generator + evaluator + shards → one small metrics file per headline metric
(``dvc metrics show``) and ``details.json`` beside them (every record with its protocol)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional, Sequence

from g3an.errors import UserError
from g3an.fsutil import output_lock, signals_deferred, write_json_atomic
from g3an.metrics.summary import REFERENCES, details, headline
from stages.common import setup
from stages.paths import WEIGHTS_DIR, default_path

log = logging.getLogger("g3an.evaluate")


def check_weights_tracked(weights: str) -> None:
    """Under ``dvc repro`` (DVC sets ``DVC_STAGE``) a weights file must lie in ``weights/``, the
    stage's dependency: one elsewhere could change the scores while DVC calls the stage up to date.
    Run by hand, any path goes (the metric records the file's hash either way)."""
    if not weights or "DVC_STAGE" not in os.environ:
        return
    folder = Path(os.path.abspath(WEIGHTS_DIR))  # the stage runs in the project's root
    if folder not in Path(os.path.abspath(weights)).parents:
        raise UserError(f"eval.i3d_or_resnext_weights = {weights} lies outside {WEIGHTS_DIR}/, so DVC cannot see it "
                        f"change: copy it into {WEIGHTS_DIR}/ and set eval.i3d_or_resnext_weights="
                        f"{WEIGHTS_DIR}/{Path(weights).name}")


def main(generator: Optional[str], evaluator: Optional[str], shards: Optional[str], out: Optional[str],
         params: str, overrides: Sequence[str]) -> None:
    cfg = setup(params, overrides)
    check_weights_tracked(cfg.eval.i3d_or_resnext_weights)
    import torch

    from g3an.metrics.evaluate import evaluate

    torch.set_grad_enabled(False)
    out_dir = Path(out or default_path(cfg, "metrics"))
    with output_lock(out_dir):
        results = evaluate(cfg, Path(generator or default_path(cfg, "generator")),
                           Path(evaluator or default_path(cfg, "evaluator")), Path(shards or default_path(cfg, "shards")),
                           Path(cfg.eval.cache_dir or default_path(cfg, "eval_cache")),
                           progress=lambda m: log.info("evaluate: %s", m))
        rows = headline(results)
        out_dir.mkdir(parents=True, exist_ok=True)
        with signals_deferred():  # all of them or none: one generator's scores, never two mixed
            for stem, row in rows.items():
                write_json_atomic(out_dir / f"{stem}.json", row)
            write_json_atomic(out_dir / "details.json", details(results))
    log.info("wrote %s/{%s}.json and details.json", out_dir, ",".join(rows))
    for name, r in results.items():
        if not name.startswith("_"):
            beside = "  ".join(f"{label} {r[k]:.4f}" for k, label in REFERENCES.items()
                               if isinstance(r.get(k), (int, float)))
            log.info("%-26s %s%s", name, "n/a" if r["value"] is None else f"{r['value']:.4f}",
                     f"   ({beside})" if beside else "")
    for w in results["_meta"].get("warnings", []):
        log.warning("these scores are marked unreliable: %s", w)
