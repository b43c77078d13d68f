"""Every stage's default input and output paths, in one place: the CLI's defaults and help text and
``dvc.yaml``'s ``cmd``/``outs`` are the same paths (a test holds them equal), so a stage run by hand
writes where ``dvc repro`` looks. Templates use ``base.*`` params; no heavy imports here."""

from __future__ import annotations

from pathlib import Path

DEFAULTS: dict[str, str] = {
    "raw": "{data_dir}/raw/{dataset}",
    "shards": "{data_dir}/shards/{dataset}",
    "downloads": "{data_dir}/downloads",
    "run": "{runs_dir}/train",
    "live": "results/train",
    "generator": "{runs_dir}/train/generator.pt",
    "evaluator": "{runs_dir}/evaluator/evaluator.pt",
    "evaluator_metrics": "results/evaluator/metrics.json",
    "metrics": "results/evaluate",
    "eval_cache": "{runs_dir}/eval-cache",
    "render": "{runs_dir}/render",
    "report": "{runs_dir}/report/index.html",
}

# Pretrained weights users bring (the paper's ResNeXt FID): a dependency of `evaluate` in dvc.yaml,
# so under `dvc repro` a weights file must lie in it (stages/evaluate.py refuses one elsewhere).
WEIGHTS_DIR = "weights"


def default_path(cfg, name: str, dataset: str | None = None) -> Path:
    """``DEFAULTS[name]`` filled from ``cfg.base`` (``dataset`` defaults to ``base.dataset``)."""
    b = cfg.base
    return Path(DEFAULTS[name].format(data_dir=b.data_dir, runs_dir=b.runs_dir, dataset=dataset or b.dataset))


def details_beside(metrics: Path) -> Path:
    """The sidecar a stage writes beside its declared metrics file: every number ``dvc metrics show``
    does not need."""
    return Path(metrics).parent / "details.json"


def shown(name: str) -> str:
    """The template as the CLI help shows it: ``<data_dir>/shards/<dataset>``."""
    return DEFAULTS[name].replace("{", "<").replace("}", ">")
