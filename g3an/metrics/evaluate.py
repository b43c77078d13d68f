"""Score a trained generator: sample seeded fakes, run the evaluator (and, with user-supplied
weights, the paper's 3D ResNeXt-101) on fakes and real clips, compute every registered metric.
The clips' statistics (and the real ones' cache) are ``clip_stats``; which of the judge's heads can be
trusted is the judge's own rule (``evaluator.readable_heads``, ``readable_where``, ``judge_warning``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from g3an.config import SYNTHETIC_ACTIONS, Config
from g3an.errors import UserError
from g3an.fsutil import sha256_of
from g3an.metrics import METRICS, disentangle, register
from g3an.metrics.clip_stats import appearance_counts, clip_statistics, judge_clips, real_statistics
from g3an.metrics.evaluator import judge_warning, load_evaluator, readable_heads, readable_where
from g3an.metrics.frechet import frechet_distance
from g3an.models.build import load_generator
from g3an.render.grid import to_uint8
from g3an.sampling import flat_output, generate, sample_latents
from pipeline.manifest import clip_plan, read_manifest

log = logging.getLogger("g3an.evaluate")


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
        pred = judge_clips(ctx.evaluator, generate(oracle, z_a, z_m, labels, ctx.cfg.eval.batch),
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
    ev = judge_clips(ctx.evaluator, generate(g, za, zm, lab, cfg.eval.batch), cfg.eval.batch)
    shape = (cfg.eval.disentangle_sets, disentangle.GRID, disentangle.GRID)
    app = disentangle.appearance_codes(ev["appearance"], ctx.heads).reshape(shape).numpy()
    mot = ev["motion_probs"].argmax(1).reshape(shape).numpy()
    return disentangle.scores(app, mot, None if classes is None else classes.numpy())


def path_scores(ctx: Context, g: torch.nn.Module) -> dict:
    """``path_varies`` / ``path_kept`` on one-class 4 × 4 grids, from the judge's where head."""
    cfg = ctx.cfg
    gen = torch.Generator().manual_seed(cfg.eval.seed + 2)
    z_a, z_m, classes = disentangle.path_latents(cfg.eval.disentangle_sets, ctx.n_classes, ctx.latent_length, gen)
    where = judge_clips(ctx.evaluator, generate(g, *disentangle.expand(z_a, z_m, classes), cfg.eval.batch),
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
    manifests = [read_manifest(shards, split) for split in ("train", "test")]
    classes = list(manifests[0]["classes"])
    if list(export["classes"]) != classes:  # labels, the judge's motion head and chance would mean other things
        raise UserError(f"{generator_path}: trained on classes {list(export['classes'])} but {shards} holds "
                        f"{classes}; evaluate it with its own data set's shards and judge")
    if blob["config"]["n_motion"] != len(classes):
        raise UserError(f"{evaluator_path}: a judge of {blob['config']['n_motion']} motion classes, but {shards} "
                        f"holds {len(classes)}; train the judge on these shards (`dvc repro train-evaluator`)")
    plans = [clip_plan(m, replace(cfg.loader, clip_length=frames)) for m in manifests]
    protocol = {"resolution": export["spec"]["size"], "clip_length": frames,
                "frame_steps": sorted(set(plans[0]["frame_steps"]) | set(plans[1]["frame_steps"])),
                "extractor": f"g3an evaluator {sha256_of(evaluator_path)[:16]}"}
    ctx = Context(cfg, protocol, export["classes"], export["n_classes"], readable_heads(blob),
                  real={}, g=g, evaluator=evaluator, latent_length=tz,
                  extra={"dataset": export["config"]["base"]["dataset"], "where_readable": readable_where(blob)})
    say("real statistics")
    ctx.real, hit = real_statistics(cfg, protocol, evaluator, bool(ctx.n_classes), shards, cache_dir)
    log.info("real-data statistics: %s", "cache hit" if hit else "computed and cached")
    say("generating")
    gen = torch.Generator().manual_seed(cfg.eval.seed)
    z_a, z_m, labels = sample_latents(cfg.eval.n_fake, tz, ctx.n_classes, gen)
    videos = generate(g, z_a, z_m, labels, cfg.eval.batch)
    warnings = [w for w in (flat_output(videos), judge_warning(blob["info"], ctx.n_classes)) if w]
    for w in warnings:
        log.warning("evaluate: %s", w)
    ctx.fake = {"stats": clip_statistics(to_uint8(videos), judge_clips(evaluator, videos, cfg.eval.batch), labels)}
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
