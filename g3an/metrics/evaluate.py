"""Score a trained generator: sample seeded fakes, run the evaluator (and, with user-supplied
weights, the paper's 3D ResNeXt-101) on fakes and real clips, compute every registered metric.

Real-data statistics are cached under a hash of the shards (names, sizes, manifest), the
extractor's weights and the protocol (clip length, frame steps, resolution, N, seed), written
atomically, and reused by later runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from g3an.config import SYNTHETIC_ACTIONS, Config, LoaderConfig
from g3an.errors import UserError
from g3an.fsutil import sha256_of
from g3an.metrics import METRICS, acd, disentangle, register
from g3an.metrics.evaluator import WHERE_HEADS, load_evaluator, predict, readable
from g3an.metrics.frechet import frechet_distance, statistics
from g3an.models.build import load_generator
from g3an.persistence import load_artifact, save_artifact
from g3an.render.grid import to_uint8
from g3an.sampling import flat_output, generate, sample_latents
from pipeline.loader import ClipLoader, ClipStream, to_model_input
from pipeline.manifest import clip_plan, read_manifest, verified_shards

log = logging.getLogger("g3an.evaluate")


STATS_VERSION = 2  # the real-statistics cache's contents (2: appearance_counts); a new version recomputes them


@dataclass
class Context:
    cfg: Config
    protocol: dict
    classes: list
    n_classes: int
    heads: list
    real: dict  # split → cached statistics
    fake: dict = field(default_factory=dict)
    g: Optional[torch.nn.Module] = None
    evaluator: Optional[torch.nn.Module] = None
    latent_length: int = 1
    extra: dict = field(default_factory=dict)


def _entropies(probs: torch.Tensor) -> tuple[float, float]:
    p = probs.double().clamp_min(1e-12)
    intra = float(-(p * p.log()).sum(1).mean())
    marginal = p.mean(0)
    return intra, float(-(marginal * marginal.log()).sum())


@torch.no_grad()
def _run_evaluator(evaluator, videos: torch.Tensor, batch: int) -> dict:
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


def _summary(videos_uint8: np.ndarray, ev: dict, labels: Optional[torch.Tensor]) -> dict:
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


def real_statistics(ctx: Context, shards: Path, cache_dir: Path, evaluator_digest: str) -> tuple[dict, bool]:
    """Statistics of the real train and test clips, from the cache when present."""
    cfg = ctx.cfg
    key = json.dumps({"shards": _shards_fingerprint(shards), "extractor": evaluator_digest, "protocol": ctx.protocol,
                      "n_real": cfg.eval.n_real, "seed": cfg.eval.seed, "stats": STATS_VERSION}, sort_keys=True)
    path = Path(cache_dir) / f"real-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"
    if path.exists():
        return load_artifact(path, "real-stats")["stats"], True
    stats = {}
    for split in ("train", "test"):
        clips = replace(cfg.loader, clip_length=ctx.protocol["clip_length"], batch_size=32)
        videos, labels = real_clips(shards, split, cfg.eval.n_real, clips, cfg.eval.seed)
        ev = _run_evaluator(ctx.evaluator, videos, cfg.eval.batch)
        stats[split] = _summary(to_uint8(videos), ev, labels if ctx.n_classes else None)
    save_artifact({"key": key, "stats": stats}, path, "real-stats")
    return stats, False


def _record(ctx: Context, value, n_fake: Optional[int] = None, n_real: Optional[int] = None, **extra) -> dict:
    return {"value": value, "n_fake": n_fake if n_fake is not None else ctx.cfg.eval.n_fake,
            "n_real": n_real if n_real is not None else ctx.real["test"]["n"], **ctx.protocol, **extra}


@register("fd")
def fd_metric(ctx: Context) -> dict:
    r, f = ctx.real, ctx.fake["stats"]
    dim = r["test"]["mu"].shape[0]
    name = f"fd_cls{dim}_{ctx.protocol['clip_length']}f"
    return {name: _record(ctx, frechet_distance(f["mu"], f["sigma"], r["test"]["mu"], r["test"]["sigma"]),
                          floor_real_train_vs_test=frechet_distance(r["train"]["mu"], r["train"]["sigma"],
                                                                    r["test"]["mu"], r["test"]["sigma"]),
                          note="Fréchet distance in our evaluator's feature space: not comparable to published FID/FVD")}


@register("classification")
def classification_metrics(ctx: Context) -> dict:
    f, r, t = ctx.fake["stats"], ctx.real["test"], ctx.protocol["clip_length"]
    out = {f"intra_entropy_cls_{t}f": _record(ctx, f["intra_entropy"], real_test=r["intra_entropy"],
                                              note="mean H(p(y|x)); lower = more confident"),
           f"inter_entropy_cls_{t}f": _record(ctx, f["inter_entropy"], real_test=r["inter_entropy"],
                                              maximum=math.log(max(2, len(ctx.classes))),
                                              note="H(mean p(y|x)); higher = more diverse")}
    if ctx.n_classes:
        out[f"acc_cls_{t}f"] = _record(ctx, f["accuracy"], real_test=r.get("accuracy"), chance=1 / ctx.n_classes,
                                       note="generated clips classified as their requested class")
    return out


def _shares(counts: list[int], n: int) -> np.ndarray:
    c = np.zeros(n)
    c[:len(counts)] = counts[:n]
    return c / max(1.0, c.sum())


def app_coverage(fake: dict, real: dict, heads: list[tuple[str, int]]) -> tuple[float, dict]:
    """1 − the total-variation distance between two sets' judged appearance factors, per head (from
    ``appearance_counts``), and its mean over the heads: 1 when the fakes draw every colour, size and
    background as often as the real clips show them, 0 when they draw none of them."""
    per = {h: 1.0 - 0.5 * float(np.abs(_shares(fake[h], n) - _shares(real[h], n)).sum()) for h, n in heads}
    return float(np.mean(list(per.values()))), per


@register("coverage")
def coverage_metrics(ctx: Context) -> dict:
    """How much of the real training clips' appearance distribution the fakes cover (a generator that
    drops modes, e.g. draws every clip on one background, scores low whatever each clip looks like).
    The reference is the training split, what G learnt from (the test split holds a few subjects, so
    its appearances are lumpy); read it against the real test clips' own score (``real_test``) and,
    on the synthetic set, the renderer drawing z_a at random (the oracle). In details.json and the
    report, not a headline file (one more column would not fit ``dvc metrics show`` in 160 columns)."""
    heads = ctx.heads
    value, per = app_coverage(ctx.fake["stats"]["appearance_counts"], ctx.real["train"]["appearance_counts"], heads)
    real, _ = app_coverage(ctx.real["test"]["appearance_counts"], ctx.real["train"]["appearance_counts"], heads)
    extra = {}
    oracle = _oracle(ctx)
    if oracle is not None:
        gen = torch.Generator().manual_seed(ctx.cfg.eval.seed)
        z_a, z_m, labels = sample_latents(ctx.cfg.eval.n_fake, ctx.latent_length, ctx.n_classes, gen)
        pred = _run_evaluator(ctx.evaluator, generate(oracle, z_a, z_m, labels, ctx.cfg.eval.batch),
                              ctx.cfg.eval.batch)["appearance"]
        extra["oracle"] = app_coverage(appearance_counts(pred), ctx.real["train"]["appearance_counts"], heads)[0]
    return {f"app_coverage_{ctx.protocol['clip_length']}f": _record(
        ctx, value, real_test=real, per_head={h: round(v, 4) for h, v in per.items()},
        appearance_heads="+".join(h for h, _ in heads), **extra,
        note="1 - total variation between the judged appearance factors of fakes and real training clips, "
             "mean over heads (higher = more of the data's appearances drawn)")}


@register("acd")
def acd_metrics(ctx: Context) -> dict:
    f, r, t = ctx.fake["stats"], ctx.real["test"], ctx.protocol["clip_length"]
    return {f"acd_color_{t}f": _record(ctx, f["acd_color"], coverage=f["acd_color_coverage"],
                                       real_test=r["acd_color"], real_test_coverage=r["acd_color_coverage"],
                                       note="mean foreground colour drift across frames (0-255); lower = consistent"),
            f"acd_feat_{t}f": _record(ctx, f["acd_feat"], real_test=r["acd_feat"],
                                      note="per-frame evaluator embedding drift; lower = consistent")}


def disentanglement_scores(ctx: Context, g: torch.nn.Module) -> dict:
    cfg = ctx.cfg
    gen = torch.Generator().manual_seed(cfg.eval.seed + 1)
    z_a, z_m, classes = disentangle.grid_latents(cfg.eval.disentangle_sets, ctx.n_classes, ctx.latent_length, gen)
    za, zm, lab = disentangle.expand(z_a, z_m, classes)
    ev = _run_evaluator(ctx.evaluator, generate(g, za, zm, lab, cfg.eval.batch), cfg.eval.batch)
    shape = (cfg.eval.disentangle_sets, disentangle.GRID, disentangle.GRID)
    app = disentangle.appearance_codes(ev["appearance"], ctx.heads).reshape(shape).numpy()
    mot = ev["motion_probs"].argmax(1).reshape(shape).numpy()
    return disentangle.scores(app, mot, None if classes is None else classes.numpy())


def path_scores(ctx: Context, g: torch.nn.Module) -> dict:
    """``path_varies`` / ``path_kept`` on one-class 4 × 4 grids, from the judge's where head."""
    cfg = ctx.cfg
    gen = torch.Generator().manual_seed(cfg.eval.seed + 2)
    z_a, z_m, classes = disentangle.path_latents(cfg.eval.disentangle_sets, ctx.n_classes, ctx.latent_length, gen)
    where = _run_evaluator(ctx.evaluator, generate(g, *disentangle.expand(z_a, z_m, classes), cfg.eval.batch),
                           cfg.eval.batch)["where"]  # (S·16, 2): the cells of the first and the last frame
    codes = where[:, 0] * ctx.evaluator.track_grid ** 2 + where[:, 1]
    return disentangle.path_scores(codes.reshape(cfg.eval.disentangle_sets, disentangle.GRID, disentangle.GRID).numpy())


def _oracle(ctx: Context) -> Optional[torch.nn.Module]:
    """The synthetic renderer as a generator, where it can stand in for this run's data and classes."""
    if ctx.extra.get("dataset") == "synthetic" and ctx.n_classes and set(ctx.classes) <= set(SYNTHETIC_ACTIONS):
        from g3an.metrics.oracle import RendererGenerator

        return RendererGenerator(ctx.classes, ctx.protocol["resolution"], ctx.protocol["clip_length"])
    return None


def _dis_records(ctx: Context, scores: dict, oracle: dict, **extra) -> dict:
    t, n = ctx.protocol["clip_length"], 16 * ctx.cfg.eval.disentangle_sets
    return {f"dis_{k}_{t}f": _record(ctx, v, n_fake=n, n_real=0, note=disentangle.NOTES[k], **extra,
                                     **({"oracle": oracle[k]} if oracle else {})) for k, v in scores.items()}


@register("disentanglement")
def disentanglement_metrics(ctx: Context) -> dict:
    """On the synthetic set the renderer itself (the oracle) is scored too: the ceiling the
    evaluator allows, to read the model's scores against."""
    oracle = _oracle(ctx)
    return _dis_records(ctx, disentanglement_scores(ctx, ctx.g),
                        disentanglement_scores(ctx, oracle) if oracle is not None else {},
                        appearance_heads="+".join(h for h, _ in ctx.heads))


@register("path")
def path_metrics(ctx: Context) -> dict:
    """Only with a judge whose where head reads the object's cell well (``readable_where``)."""
    if not ctx.extra.get("where_readable"):
        return {}
    oracle = _oracle(ctx)
    return _dis_records(ctx, path_scores(ctx, ctx.g), path_scores(ctx, oracle) if oracle is not None else {},
                        grid=f"{ctx.evaluator.track_grid}x{ctx.evaluator.track_grid}")


def judge_warning(info: dict, n_classes: int) -> Optional[str]:
    """A warning when the judge's motion accuracy is nearer chance than perfect: its scores cannot
    rank generators (a 10-step judge reads degenerate clips as perfectly disentangled)."""
    acc = (info.get("test_accuracy") or {}).get("motion")
    chance = 1 / max(1, n_classes)
    if acc is None or n_classes < 2 or readable(acc, chance):
        return None
    return (f"the judge's motion accuracy is {acc:.2f} (chance {chance:.2f}): these scores cannot rank generators; "
            "raise eval.evaluator_steps and re-run `dvc repro train-evaluator`")


def readable_heads(blob: dict) -> list[tuple[str, int]]:
    """The appearance heads the evaluator reads reliably on the test split: accuracy at least halfway
    from chance to 1. A head at chance would only add noise to the disentanglement scores (on the
    synthetic set at 64 px, shape is such a head); the metrics record which heads were used."""
    acc = blob["info"].get("test_accuracy") or {}
    heads = [(k, len(v)) for k, v in blob["heads"]]
    kept = [(k, n) for k, n in heads if acc.get(k) is None or readable(acc[k], 1 / n)]
    return kept or heads


def readable_where(blob: dict) -> bool:
    """Whether the judge has a where head that reads the object's cell, first and last frame, at least
    halfway from chance to 1 on the test split (else the path scores would be noise)."""
    grid = blob["config"].get("track_grid", 0)
    acc = blob["info"].get("test_accuracy") or {}
    return bool(grid) and all(readable(acc.get(k), 1 / grid ** 2) for k in WHERE_HEADS)


def evaluate(cfg: Config, generator_path: Path, evaluator_path: Path, shards: Path, cache_dir: Path,
             progress: Optional[Callable[[str], None]] = None) -> dict:
    say = progress or (lambda msg: None)
    g, export = load_generator(generator_path, cfg.model)
    evaluator, blob = load_evaluator(evaluator_path)
    if blob["config"]["size"] != export["spec"]["size"]:
        raise UserError(f"{evaluator_path}: trained on {blob['config']['size']} px clips but the generator makes "
                        f"{export['spec']['size']} px; retrain the evaluator on the same shards")
    tz = export["latent_length"]
    frames = g.spec.frames(tz)
    judged = blob["info"].get("clip_length")
    if judged is not None and judged != frames:
        raise UserError(f"{evaluator_path}: the judge was trained on {judged}-frame clips but the generator makes "
                        f"{frames}; set loader.clip_length={frames} and retrain it (`dvc repro train-evaluator`)")
    plans = [clip_plan(read_manifest(shards, split), replace(cfg.loader, clip_length=frames))
             for split in ("train", "test")]
    protocol = {"resolution": export["spec"]["size"], "clip_length": frames,
                "frame_steps": sorted(set(plans[0]["frame_steps"]) | set(plans[1]["frame_steps"])),
                "extractor": f"g3an evaluator {sha256_of(evaluator_path)[:16]}"}
    ctx = Context(cfg, protocol, export["classes"], export["n_classes"], readable_heads(blob),
                  real={}, g=g, evaluator=evaluator, latent_length=tz,
                  extra={"dataset": export["config"]["base"]["dataset"], "where_readable": readable_where(blob)})
    say("real statistics")
    ctx.real, hit = real_statistics(ctx, shards, cache_dir, protocol["extractor"])
    log.info("real-data statistics: %s", "cache hit" if hit else "computed and cached")
    say("generating")
    gen = torch.Generator().manual_seed(cfg.eval.seed)
    z_a, z_m, labels = sample_latents(cfg.eval.n_fake, tz, ctx.n_classes, gen)
    videos = generate(g, z_a, z_m, labels, cfg.eval.batch)
    warnings = [w for w in (flat_output(videos), judge_warning(blob["info"], ctx.n_classes)) if w]
    for w in warnings:
        log.warning("evaluate: %s", w)
    ctx.fake = {"stats": _summary(to_uint8(videos), _run_evaluator(evaluator, videos, cfg.eval.batch), labels)}
    results: dict = {}
    for name, metric in METRICS.items():
        say(name)
        results.update(metric(ctx))
    if cfg.eval.i3d_or_resnext_weights:
        from g3an.metrics.resnext import paper_fvd

        say("fvd (3D ResNeXt-101)")
        results.update(paper_fvd(ctx, shards, Path(cfg.eval.i3d_or_resnext_weights), cache_dir))
    if warnings:  # every score is marked: a weak judge or a flat generator makes them unreliable
        for r in results.values():
            r["unreliable"] = "; ".join(warnings)
    trained = export.get("config", {})
    results["_meta"] = {"warnings": warnings, "generator_step": export.get("step"), "real_stats_cache_hit": hit,
                        "params_hash": export.get("params_hash"), "dataset": trained.get("base", {}).get("dataset"),
                        "train_seed": trained.get("base", {}).get("seed"),
                        "preset": trained.get("model", {}).get("preset"), "width": trained.get("model", {}).get("width"),
                        "generator": str(generator_path), "evaluator_test_accuracy": blob["info"].get("test_accuracy")}
    return results
