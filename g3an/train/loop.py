"""``fit``: the G³AN training loop, top to bottom.

batch → D_V + D_I step → G step (``step.py``) → EMA → tick (log, sample grid, checkpoint).
Progress is counted in steps and clips seen. One run folder holds:

    checkpoints/step-NNNNNNN.pt, checkpoints/latest   (resume state; last ``keep_last`` kept)
    generator.pt                                      (G + EMA + spec: what later stages load)
    log.jsonl, config.yaml
    previous/<hash>-<time>/                           (runs set aside when the params changed)
and a dvclive folder (``live``, default ``<run>/live``): metrics.json, plots/metrics/*.tsv (losses
per step), plots/images/samples.png (a sample grid of the EMA generator).

``train.resume: auto`` continues from ``checkpoints/latest`` when its params hash matches and
otherwise sets the old run aside (never deletes it) and starts fresh. SIGINT/SIGTERM write a
checkpoint and stop (``FitResult.interrupted``); a non-finite loss stops with an error, leaving
the last good checkpoint as it was.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from g3an.config import Config, dump_yaml
from g3an.errors import UserError
from g3an.models.build import build_models
from g3an.render.grid import frame_grid, to_uint8
from g3an.sampling import sample_latents
from g3an.train import distributed
from g3an.train.checkpoint import CheckpointDir, load_safe, rng_state, save_atomic, set_rng_state
from g3an.train.step import Nets, gan_step, make_optimizers, unwrap

log = logging.getLogger("g3an.train")


@dataclass
class FitResult:
    step: int
    clips: int
    metrics: dict
    interrupted: Optional[int] = None  # the signal number that stopped the run
    models: dict = field(default_factory=dict, repr=False)  # g, d_v, d_i, ema (this rank's, unwrapped)


class Diverged(UserError):
    """A loss became NaN or infinite."""


def read_manifest(shards: Path) -> dict:
    path = Path(shards) / "train" / "manifest.json"
    if not path.exists():
        raise UserError(f"{path}: no training manifest; run `g3an-cli preprocess` first")
    return json.loads(path.read_text())


def _set_aside(out: Path, live: Path, old_hash: str) -> Path:
    dest = out / "previous" / f"{old_hash}-{time.strftime('%Y%m%d-%H%M%S')}"
    dest.mkdir(parents=True, exist_ok=True)
    for src in [out / n for n in ("checkpoints", "log.jsonl", "generator.pt", "config.yaml")] + [live]:
        if src.exists():
            shutil.move(str(src), str(dest / ("live" if src == live else src.name)))
    return dest


def _truncate_logs(out: Path, live: Path, step: int) -> None:
    """After a resume, drop log rows written past the checkpoint (a hard kill can leave some)."""
    logf = out / "log.jsonl"
    if logf.exists():
        rows = [ln for ln in logf.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        logf.write_text("".join(r + "\n" for r in rows))
    for tsv in (live / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        if lines:
            col = lines[0].split("\t").index("step")
            tsv.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if int(ln.split("\t")[col]) <= step]) + "\n")


def _ema_update(ema: torch.nn.Module, g: torch.nn.Module, beta: float) -> None:
    with torch.no_grad():
        for pe, pg in zip(ema.parameters(), g.parameters()):
            pe.lerp_(pg, 1 - beta)
        for be, bg in zip(ema.buffers(), g.buffers()):
            be.copy_(bg)


def export_generator(path: Path, g: torch.nn.Module, ema: Optional[torch.nn.Module], latent_length: int,
                     classes: list[str], n_classes: int, cfg: Config, params_hash: str, step: int) -> None:
    """The small file later stages load: weights plus everything needed to rebuild G."""
    save_atomic({"format": "g3an-generator/1", "g": unwrap(g).state_dict(),
                 "ema": ema.state_dict() if ema is not None else None,
                 "spec": dataclasses.asdict(unwrap(g).spec), "latent_length": latent_length,
                 "classes": list(classes), "n_classes": n_classes, "config": cfg.to_dict(),
                 "params_hash": params_hash, "step": step}, path)


def fit(cfg: Config, shards: Path, out: Path, live: Optional[Path] = None,
        progress: Optional[Callable[..., None]] = None) -> FitResult:
    d = distributed.init(cfg.train.device)
    try:
        return _fit(cfg, Path(shards), Path(out), Path(live) if live else Path(out) / "live", d, progress)
    finally:
        distributed.shutdown(d)


def _fit(cfg: Config, shards: Path, out: Path, live_dir: Path, d: distributed.Dist, progress) -> FitResult:
    from pipeline.loader import ClipLoader, ClipStream, list_shards, to_model_input

    tc, dev = cfg.train, d.device
    manifest = read_manifest(shards)
    classes = manifest["classes"]
    conditional = tc.conditional == "yes" or (tc.conditional == "auto" and manifest["conditional"])
    n_classes = len(classes) if conditional else 0
    if manifest["resolution"][0] != cfg.model.size:
        raise UserError(f"{shards}: shards are {manifest['resolution'][0]} px but model.size is {cfg.model.size}; "
                        "set preprocess.size and model.size to the same value")
    params_hash = cfg.train_hash()

    # --- models, optimizers, state
    torch.manual_seed(cfg.base.seed)
    try:
        g, d_v, d_i, tz = build_models(cfg.model, cfg.loader, n_classes)
    except ValueError as e:
        raise UserError(f"loader.clip_length = {cfg.loader.clip_length}: {e}") from None
    g, d_v, d_i = g.to(dev), d_v.to(dev), d_i.to(dev)
    ema = copy.deepcopy(g).eval().requires_grad_(False) if tc.ema_beta > 0 else None
    opt_g, opt_d = make_optimizers(g, d_v, d_i, tc.lr_g, tc.lr_d, tc.betas)
    gen = torch.Generator().manual_seed(cfg.base.seed * 7919 + d.rank)  # per-rank latents and frame picks
    ckpts = CheckpointDir(out / "checkpoints", tc.keep_last)
    step = clips = 0
    latest = ckpts.latest()
    if latest is not None:
        state = load_safe(latest)
        if tc.resume == "auto" and state.get("params_hash") == params_hash:
            g.load_state_dict(state["g"]), d_v.load_state_dict(state["d_v"]), d_i.load_state_dict(state["d_i"])
            opt_g.load_state_dict(state["opt_g"]), opt_d.load_state_dict(state["opt_d"])
            if ema is not None and state.get("ema") is not None:
                ema.load_state_dict(state["ema"])
            set_rng_state(state["rng"][d.rank] if isinstance(state["rng"], list) else state["rng"], gen)
            step, clips = int(state["step"]), int(state["clips"])
            log.info("resuming %s at step %d (%d clips seen)", latest, step, clips)
            if d.main:
                _truncate_logs(out, live_dir, step)
        else:
            distributed.barrier(d)
            if d.main:
                why = "train.resume is never" if tc.resume != "auto" else \
                    f"the params changed (hash {state.get('params_hash')} → {params_hash})"
                kept = _set_aside(out, live_dir, str(state.get("params_hash")))
                log.warning("starting fresh: %s; the previous run is kept in %s", why, kept)
            distributed.barrier(d)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(dump_yaml(cfg) + f"# train params hash: {params_hash}\n")

    # --- device settings and wrappers
    autocast = contextlib.nullcontext
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if tc.amp:
            autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
    g_run, dv_run, di_run = g, d_v, d_i
    if d.world > 1:
        ids = [dev.index] if dev.type == "cuda" else None
        g_run, dv_run, di_run = (DDP(m, device_ids=ids) for m in (g, d_v, d_i))
    if tc.compile:
        g_run, dv_run, di_run = (torch.compile(m) for m in (g_run, dv_run, di_run))
    nets = Nets(g_run, dv_run, di_run, opt_g, opt_d, tz, n_classes, tc.loss)

    # --- data: segments of ckpt_every batches, so a resumed run sees the same batches
    stream = ClipStream(list_shards(shards / "train"), cfg.loader.clip_length, cfg.loader.frame_steps,
                        cfg.loader.batch_size, cfg.loader.shuffle_buffer, cfg.base.seed, cfg.loader.shard_mode)
    loader = ClipLoader(stream, tc.ckpt_every, cfg.loader.workers)

    # --- logging (rank 0)
    start_step, start_clips = step, clips
    live = None
    if d.main and step < tc.steps:  # with nothing left to train, the dvclive files are left as they are
        from dvclive import Live

        live = Live(str(live_dir), resume=step > 0, dvcyaml=None, save_dvc_exp=False, report=None)
    fixed = sample_latents(min(8, max(n_classes, 4)), tz, n_classes, torch.Generator().manual_seed(cfg.base.seed), dev)
    if n_classes:
        fixed = (fixed[0], fixed[1], torch.arange(fixed[0].shape[0], device=dev) % n_classes)

    def save(at_step: int) -> None:
        rngs = [rng_state(gen)] if d.world == 1 else _gather_rng(rng_state(gen), d)
        if d.main:
            ckpts.save({"g": g.state_dict(), "d_v": d_v.state_dict(), "d_i": d_i.state_dict(),
                        "ema": ema.state_dict() if ema is not None else None,
                        "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": at_step, "clips": clips,
                        "rng": rngs if d.world > 1 else rngs[0], "config": cfg.to_dict(),
                        "params_hash": params_hash, "classes": list(classes), "n_classes": n_classes}, at_step)

    stop: dict = {"signal": None}
    previous = {s: signal.signal(s, lambda signum, _f: stop.__setitem__("signal", signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    t_start, wait, window_t, window_clips = time.perf_counter(), 0.0, time.perf_counter(), 0
    losses: dict = {}
    try:
        while step < tc.steps and stop["signal"] is None:
            segment, skip = divmod(step, tc.ckpt_every)
            batches = loader.segment(segment, skip)
            while step < tc.steps:
                t0 = time.perf_counter()
                try:
                    frames, labels = next(batches)  # (B, T, H, W, 3) uint8, (B,)
                except StopIteration:
                    break
                wait += time.perf_counter() - t0
                real = to_model_input(frames, dev)  # (B, 3, T, H, W) in [-1, 1]
                losses = gan_step(nets, real, labels.to(dev) if n_classes else None, gen, autocast)
                bad = not all(torch.isfinite(v).item() for v in losses.values())
                bad, stopping = distributed.any_flag([bad, stop["signal"] is not None], d)
                if bad:
                    shown = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
                    raise Diverged(f"non-finite loss at step {step + 1} ({shown}); the last good checkpoint "
                                   f"{ckpts.latest()} is intact — lower train.lr_g/lr_d or try train.loss=hinge")
                if ema is not None:
                    _ema_update(ema, g, tc.ema_beta)
                step += 1
                clips += real.shape[0] * d.world
                window_clips += real.shape[0] * d.world

                # --- tick
                if d.main and (step % tc.log_every == 0 or step == tc.steps):
                    now = time.perf_counter()
                    row = {k: round(v.item(), 5) for k, v in losses.items()}
                    row.update(step=step, clips=clips, clips_per_s=round(window_clips / (now - window_t), 3),
                               data_wait=round(wait / max(1e-9, now - t_start), 4))
                    window_t, window_clips = now, 0
                    with open(out / "log.jsonl", "a") as f:
                        f.write(json.dumps(row, sort_keys=True) + "\n")
                    live.step = step
                    for k, v in row.items():
                        if k != "step":
                            live.log_metric(f"train/{k}", v)
                    live.make_summary()
                    log.info("step %d/%d  clips %d  D_v %.3f  D_i %.3f  G_v %.3f  G_i %.3f  %.1f clips/s",
                             step, tc.steps, clips, row["loss_d_video"], row["loss_d_image"], row["loss_g_video"],
                             row["loss_g_image"], row["clips_per_s"])
                if d.main and (step % tc.sample_every == 0 or step == tc.steps):
                    sampler = ema if ema is not None else unwrap(g)
                    was_training = sampler.training
                    sampler.eval()
                    with torch.no_grad():
                        video = sampler(*fixed)
                    sampler.train(was_training)
                    live.log_image("samples.png", frame_grid(to_uint8(video), columns=8, scale=2))
                if progress and d.main:
                    progress(step, tc.steps, clips, {k: v.item() for k, v in losses.items()})
                if step % tc.ckpt_every == 0 or step == tc.steps or stopping:
                    save(step)
                if stopping:
                    stop["signal"] = stop["signal"] or signal.SIGTERM
                    break
            del batches
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    elapsed = time.perf_counter() - t_start
    metrics = {k: round(v.item(), 5) for k, v in losses.items()}
    metrics.update(step=step, clips=clips, n_classes=n_classes,  # rates count this process's steps only
                   clips_per_s=round((clips - start_clips) / elapsed, 3) if step > start_step else None,
                   data_wait=round(wait / elapsed, 4) if step > start_step else None)
    if d.main:
        if stop["signal"] is None:
            export_generator(out / "generator.pt", g, ema, tz, classes, n_classes, cfg, params_hash, step)
        if live is not None and step > start_step:
            live.step = step
            live.summary.update({f"final/{k}": v for k, v in metrics.items()})
            live.make_summary()
    return FitResult(step, clips, metrics, stop["signal"], {"g": g, "d_v": d_v, "d_i": d_i, "ema": ema})


def _gather_rng(state: dict, d: distributed.Dist) -> list:
    """Every rank's RNG state, so each rank resumes its own stream. Tensors travel as plain lists
    (``all_gather_object`` cannot pickle tensor storages in every torch build)."""
    import torch.distributed as dist

    def plain(x):
        if isinstance(x, torch.Tensor):
            return {"__tensor__": x.tolist(), "dtype": str(x.dtype).replace("torch.", "")}
        if isinstance(x, (list, tuple)):
            return type(x)(plain(v) for v in x)
        return {k: plain(v) for k, v in x.items()} if isinstance(x, dict) else x

    def tensors(x):
        if isinstance(x, dict) and "__tensor__" in x:
            return torch.tensor(x["__tensor__"], dtype=getattr(torch, x["dtype"]))
        if isinstance(x, (list, tuple)):
            return type(x)(tensors(v) for v in x)
        return {k: tensors(v) for k, v in x.items()} if isinstance(x, dict) else x

    states: list = [None] * d.world
    dist.all_gather_object(states, plain(state))
    return [tensors(s) for s in states]
