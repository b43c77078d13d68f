"""The statistics every metric reads off a set of clips (real or generated), through the judge, and the
real clips' statistics, cached under a hash of the shards (names, sizes, manifests), the judge's weights,
the protocol (clip length, frame steps, resolution, N, seed), the loader's sampling params and the code
that computes them, written atomically and reused by later runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from g3an.config import Config, LoaderConfig
from g3an.metrics import acd
from g3an.metrics.evaluator import predict
from g3an.metrics.frechet import statistics
from g3an.persistence import load_artifact, save_artifact
from g3an.render.grid import to_uint8
from pipeline.loader import ClipLoader, ClipStream, to_model_input
from pipeline.manifest import verified_shards


def _code_fingerprint() -> str:
    """A hash of the code that decides the real statistics (this module, the ACD and Fréchet helpers,
    the judge's reading, the uint8 conversion, the clip stream, the shard checks): an edit to any of
    them recomputes the cache."""
    h = hashlib.sha256()
    for fn in (_code_fingerprint, acd.acd_color, statistics, predict, to_uint8, ClipStream, verified_shards):
        h.update(Path(sys.modules[fn.__module__].__file__).read_bytes())
    return h.hexdigest()


def _entropies(probs: torch.Tensor) -> tuple[float, float]:
    p = probs.double().clamp_min(1e-12)
    intra = float(-(p * p.log()).sum(1).mean())
    marginal = p.mean(0)
    return intra, float(-(marginal * marginal.log()).sum())


@torch.no_grad()
def judge_clips(evaluator, videos: torch.Tensor, batch: int) -> dict:
    """What the judge reads off ``videos`` (N, 3, T, H, W), in batches: video features, motion
    probabilities, frame embeddings, appearance predictions per head, and the where cells."""
    out = {"feature": [], "motion_probs": [], "frame_embedding": [], "appearance": {}, "where": []}
    for i in range(0, videos.shape[0], batch):
        p = predict(evaluator, videos[i:i + batch])
        out["feature"].append(p["feature"])
        out["motion_probs"].append(p["motion_probs"])
        out["frame_embedding"].append(p["frame_embedding"])
        for k, v in p["appearance"].items():
            out["appearance"].setdefault(k, []).append(v)
        if p["where"] is not None:
            out["where"].append(p["where"])  # (b, 2)
    return {"feature": torch.cat(out["feature"]), "motion_probs": torch.cat(out["motion_probs"]),
            "frame_embedding": torch.cat(out["frame_embedding"]),
            "appearance": {k: torch.cat(v) for k, v in out["appearance"].items()},
            "where": torch.cat(out["where"]) if out["where"] else None}


def appearance_counts(appearance: dict[str, torch.Tensor]) -> dict[str, list[int]]:
    """Per appearance head, how many clips the judge read as each value (what ``app_coverage`` compares)."""
    return {k: torch.bincount(v).tolist() for k, v in appearance.items()}


def clip_statistics(videos_uint8: np.ndarray, ev: dict, labels: Optional[torch.Tensor]) -> dict:
    """One set of clips summarised for every metric: feature mean and covariance, entropies, ACD, the
    appearance counts, and (with labels) the judge's class accuracy."""
    mu, sigma = statistics(ev["feature"])
    intra, inter = _entropies(ev["motion_probs"])
    s = {"mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma), "n": int(ev["feature"].shape[0]),
         "intra_entropy": intra, "inter_entropy": inter, "acd_feat": acd.acd_feat(ev["frame_embedding"])["value"]}
    colour = acd.acd_color(videos_uint8)
    s["acd_color"], s["acd_color_coverage"] = colour["value"], colour["coverage"]
    s["appearance_counts"] = appearance_counts(ev["appearance"])
    if labels is not None:
        ok = labels >= 0
        s["accuracy"] = float((ev["motion_probs"].argmax(1)[ok] == labels[ok]).float().mean()) if ok.any() else None
    return s


def real_clips(shards: Path, split: str, n: int, loader: LoaderConfig, seed: int):
    """``n`` seeded real clips of a split, cut as ``loader`` says: float (N, 3, T, H, W) and labels (N,)."""
    stream = ClipStream(verified_shards(shards, split), loader, seed)
    frames, labels = [], []
    for f, lab in ClipLoader(stream, math.ceil(n / loader.batch_size), 0).segment(0):
        frames.append(f)
        labels.append(lab)
    return to_model_input(torch.cat(frames)[:n]), torch.cat(labels)[:n]


def _shards_fingerprint(shards: Path) -> str:
    h = hashlib.sha256()
    for split in ("train", "test"):
        for p in sorted((Path(shards) / split).glob("*")):
            h.update(f"{split}/{p.name}:{p.stat().st_size}".encode())
        m = Path(shards) / split / "manifest.json"
        if m.exists():
            h.update(m.read_bytes())
    return h.hexdigest()


def real_statistics(cfg: Config, protocol: dict, evaluator: torch.nn.Module, labelled: bool, shards: Path,
                    cache_dir: Path) -> tuple[dict, bool]:
    """Statistics of the real train and test clips (``labelled``: with the judge's class accuracy), from
    the cache when present; and whether they came from it. ``protocol["extractor"]`` names the judge's weights."""
    key = json.dumps({"shards": _shards_fingerprint(shards), "extractor": protocol["extractor"], "protocol": protocol,
                      "n_real": cfg.eval.n_real, "seed": cfg.eval.seed, "code": _code_fingerprint(), "labelled": labelled,
                      # which real clips the stream yields
                      "sampling": {"shuffle_buffer": cfg.loader.shuffle_buffer, "shard_mode": cfg.loader.shard_mode,
                                   "frame_steps": list(cfg.loader.frame_steps)}}, sort_keys=True)
    path = Path(cache_dir) / f"real-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"
    if path.exists():
        return load_artifact(path, "real-stats")["stats"], True
    stats = {}
    for split in ("train", "test"):
        clips = replace(cfg.loader, clip_length=protocol["clip_length"], batch_size=32)
        videos, labels = real_clips(shards, split, cfg.eval.n_real, clips, cfg.eval.seed)
        ev = judge_clips(evaluator, videos, cfg.eval.batch)
        stats[split] = clip_statistics(to_uint8(videos), ev, labels if labelled else None)
    save_artifact({"key": key, "stats": stats}, path, "real-stats")
    return stats, False
