"""``fit``: the G³AN training loop, top to bottom.

batch → D_V + D_I step → G step (``step.py``) → EMA → tick (log, sample grid, checkpoint).
Progress is counted in steps and clips seen. One run folder holds:

    checkpoints/step-NNNNNNN.pt, checkpoints/latest   (resume state; last ``keep_last`` kept)
    generator.pt                                      (G + EMA + spec: what later stages load)
    log.jsonl, config.yaml
    previous/<hash>-<time>/                           (runs set aside when the params changed)
and a dvclive folder (``live``, default ``<run>/live``): metrics.json, plots/metrics/*.tsv (losses
per step), plots/images/samples.png (a sample grid of the EMA generator, BN statistics re-estimated
as in generator.pt: ``ema.py``).

``train.resume: auto`` continues from the newest checkpoint whose SHA-256 verifies (damaged newer
ones are reported and kept as ``*.corrupt``) when its params hash matches, and otherwise sets the
old run aside (never deletes or overwrites it) and starts fresh; ``never`` always sets it aside.
SIGINT/SIGTERM write a checkpoint and stop (``FitResult.interrupted``); a non-finite loss stops
with an error, leaving the last good checkpoint as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from g3an.config import Config, dump_yaml
from g3an.errors import UserError
from g3an.fsutil import write_bytes_atomic
from g3an.models.build import build_models, build_pair_discriminator
from g3an.render.grid import to_uint8
from g3an.render.media import captioned_grid
from g3an.sampling import sample_latents
from g3an.train import distributed
from g3an.train.checkpoint import CheckpointDir, rng_state, set_rng_state
from g3an.train.export import export_generator
from g3an.train.ema import recalibrate_batchnorm
from g3an.train.ema import shadow as ema_shadow, update as ema_update
from g3an.train.step import Nets, gan_step, make_optimizers, unwrap
from pipeline.loader import ClipLoader, ClipStream, to_model_input
from pipeline.manifest import clip_plan, data_hash, read_manifest, verified_shards

log = logging.getLogger("g3an.train")


@dataclass
class FitResult:
    step: int
    clips: int
    metrics: dict
    interrupted: Optional[int] = None  # the signal number that stopped the run
    models: dict = field(default_factory=dict, repr=False)  # g, d_v, d_i, d_p (None without pair_d), ema (unwrapped)


class Diverged(UserError):
    """A loss became NaN or infinite."""


def _set_aside(out: Path, live: Path, old_hash: str) -> Path:
    stem = out / "previous" / f"{old_hash}-{time.strftime('%Y%m%d-%H%M%S')}"
    dest, n = stem, 1
    while dest.exists():  # two set-asides in one second keep both
        dest, n = stem.with_name(f"{stem.name}-{n}"), n + 1
    dest.mkdir(parents=True)
    for src in [out / n for n in ("checkpoints", "log.jsonl", "generator.pt", "config.yaml")] + [live]:
        if src.exists():
            shutil.move(str(src), str(dest / ("live" if src == live else src.name)))
    return dest


def _log_rows(logf: Path) -> list[tuple[str, dict]]:
    """log.jsonl's rows as (line, row); a row cut short (a kill or a full disk mid-write) is dropped
    with a warning, so a damaged log never stops a resume."""
    rows, bad = [], 0
    for ln in logf.read_text(errors="replace").splitlines() if logf.is_file() else []:
        try:
            row = json.loads(ln)
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                rows.append((ln, row))
                continue
        except ValueError:
            pass
        bad += bool(ln.strip())
    if bad:
        log.warning("%s: %d damaged row(s) skipped (a write cut short)", logf, bad)
    return rows


def _step_of(line: str, col: int, width: int) -> int:
    """The step of a dvclive TSV row; -1 for a row cut short (fewer cells or no number)."""
    cells = line.split("\t")
    try:
        return int(cells[col]) if len(cells) == width else -1
    except ValueError:
        return -1


def _truncate_logs(out: Path, live: Path, step: int) -> None:
    """After a resume, drop log rows written past the checkpoint (a hard kill can leave some), and
    rows a kill cut short."""
    logf = out / "log.jsonl"
    if logf.exists():
        rows = [ln for ln, row in _log_rows(logf) if row["step"] <= step]
        write_bytes_atomic(logf, "".join(r + "\n" for r in rows).encode())
    for tsv in (live / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text(errors="replace").splitlines()
        header = lines[0].split("\t") if lines else []
        if "step" in header:
            col = header.index("step")
            kept = [lines[0]] + [ln for ln in lines[1:] if 0 <= _step_of(ln, col, len(header)) <= step]
            write_bytes_atomic(tsv, ("\n".join(kept) + "\n").encode())


def fit(cfg: Config, shards: Path, out: Path, live: Optional[Path] = None,
        progress: Optional[Callable[..., None]] = None) -> FitResult:
    d = distributed.init(cfg.train.device)
    try:
        return _fit(cfg, Path(shards), Path(out), Path(live) if live else Path(out) / "live", d, progress)
    finally:
        distributed.shutdown(d)


@dataclass
class _Run:
    """Everything a checkpoint restores: the networks, optimizers, sampling generator and counters."""
    g: torch.nn.Module
    d_v: torch.nn.Module
    d_i: torch.nn.Module
    ema: Optional[torch.nn.Module]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gen: torch.Generator  # this rank's latents and frame picks
    latent_length: int
    d_p: Optional[torch.nn.Module] = None  # train.pair_d's pair discriminator
    step: int = 0
    clips: int = 0

    def state(self) -> dict:
        return {"g": self.g.state_dict(), "d_v": self.d_v.state_dict(), "d_i": self.d_i.state_dict(),
                **({"d_p": self.d_p.state_dict()} if self.d_p is not None else {}),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "step": self.step, "clips": self.clips}

    def load(self, state: dict, rank: int, world: int = 1) -> None:
        self.g.load_state_dict(state["g"]), self.d_v.load_state_dict(state["d_v"])
        self.d_i.load_state_dict(state["d_i"])
        if self.d_p is not None:
            self.d_p.load_state_dict(state["d_p"])
        self.opt_g.load_state_dict(state["opt_g"]), self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step, self.clips = int(state["step"]), int(state["clips"])
        rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        if len(rngs) == world:
            set_rng_state(rngs[rank], self.gen)
        else:  # written by another number of ranks: each rank's stream starts afresh, still its own
            self.gen.manual_seed(self.gen.initial_seed() + 1_000_003 * self.step)
            if rank == 0:
                log.warning("the checkpoint was written by %d rank(s) and this run has %d: the random streams "
                            "start afresh at step %d (the run goes on, but not as an uninterrupted one would)",
                            len(rngs), world, self.step)


def _n_classes(cfg: Config, manifest: dict, shards: Path) -> int:
    if manifest["resolution"][0] != cfg.model.size:
        raise UserError(f"{shards}: shards are {manifest['resolution'][0]} px but model.size is {cfg.model.size}; "
                        "set preprocess.size and model.size to the same value")
    tc = cfg.train
    conditional = tc.conditional == "yes" or (tc.conditional == "auto" and manifest["conditional"])
    return len(manifest["classes"]) if conditional else 0


def _without_class_head(cfg: Config, n_classes: int, manifest: dict, shards: Path) -> Config:
    """An unconditional run has no classes for ``train.class_head`` to learn (UvA-NEMO, as the paper
    trains it, or ``train.conditional=no``): the head is off, the log says so, and config.yaml and
    the params hash record the run as it trained."""
    tc = cfg.train
    if tc.class_head == 0 or n_classes:
        return cfg
    log.warning("%s: an unconditional run (train.conditional = %s, classes in the shards: %d): the class head "
                "is off (train.class_head = %g applies to conditional runs only)", shards, tc.conditional,
                len(manifest["classes"]), tc.class_head)
    return dataclasses.replace(cfg, train=dataclasses.replace(tc, class_head=0.0))


def _build_run(cfg: Config, n_classes: int, d: distributed.Dist) -> _Run:
    tc = cfg.train
    torch.manual_seed(cfg.base.seed)
    # Training draws from neither, but a checkpoint stores both states: seeded, two runs of one
    # config write the same bytes, and DVC does not store and push a new copy of the same run
    random.seed(cfg.base.seed)
    np.random.seed(cfg.base.seed)
    try:
        g, d_v, d_i, tz = build_models(cfg.model, cfg.loader, n_classes, motion_code=tc.zm_info > 0,
                                       class_head=tc.class_head > 0, appearance_code=tc.za_info > 0)
    except ValueError as e:
        raise UserError(f"loader.clip_length = {cfg.loader.clip_length}: {e}") from None
    g, d_v, d_i = g.to(d.device), d_v.to(d.device), d_i.to(d.device)
    d_p = build_pair_discriminator(cfg.model).to(d.device) if tc.pair_d > 0 else None
    ema = ema_shadow(g) if tc.ema_beta > 0 else None
    opt_g, opt_d = make_optimizers(g, d_v, d_i, tc.lr_g, tc.lr_d, tc.betas, d_p=d_p)
    gen = torch.Generator().manual_seed(cfg.base.seed * 7919 + d.rank)
    return _Run(g, d_v, d_i, ema, opt_g, opt_d, gen, tz, d_p)


def _resume_or_set_aside(run: _Run, ckpts: CheckpointDir, cfg: Config, params_hash: str, data: str, out: Path,
                         live_dir: Path, d: distributed.Dist) -> None:
    """Continue from the newest checkpoint that verifies, when it is of the same experiment on the same
    data (``params_hash``; ``data``: the shards' ``data_hash``) and not past ``train.steps`` (a shorter
    run never exports a longer one's weights); otherwise move the old run aside (never overwrite it)
    and start fresh. Newer checkpoints that fail their digest or cannot be read are
    reported and kept as ``*.corrupt``; ``latest`` is never followed."""
    if not ckpts.all():
        return
    path = state = None
    bad: list = []
    if cfg.train.resume == "auto":
        path, state, bad = ckpts.newest_good()
    distributed.barrier(d)  # every rank has read before rank 0 renames or moves anything
    if d.main:
        for p, why in bad:
            log.warning("checkpoint %s is damaged (%s); kept as %s", p, why, ckpts.quarantine(p).name)
    steps = cfg.train.steps  # not in the params hash: a longer run resumes a shorter one
    same = state is not None and state.get("params_hash") == params_hash and state.get("data_hash") == data
    if same and state.get("step", 0) <= steps:
        try:
            run.load(state, d.rank, d.world)
        except torch.OutOfMemoryError:  # a busy GPU, not a bad checkpoint
            raise
        except (RuntimeError, KeyError, ValueError) as e:  # another code version's layers or optimizer state
            raise UserError(f"{path}: does not fit this code's networks ({str(e).splitlines()[0][:160]}); start "
                            "afresh with train.resume=never (the old run is then kept aside)") from None
        log.info("resuming at step %d (%d clips seen) from %s", run.step, run.clips, path)
        if d.main:
            _truncate_logs(out, live_dir, run.step)
    elif d.main:
        why = ("train.resume is never" if cfg.train.resume != "auto" else
               "no checkpoint verifies" if state is None else
               f"the params changed (hash {state.get('params_hash')} → {params_hash})"
               if state.get("params_hash") != params_hash else
               f"the training data changed (shards {state.get('data_hash') or 'not recorded'} → {data})"
               if state.get("data_hash") != data else
               f"the newest checkpoint is at step {state.get('step')}, past train.steps = {steps}")
        tag = state.get("params_hash") if state else "unverified" if cfg.train.resume == "auto" else "resume-never"
        kept = _set_aside(out, live_dir, str(tag))
        log.warning("starting fresh at step 0: %s; the previous run is kept in %s", why, kept)
    distributed.barrier(d)


def _for_device(run: _Run, cfg: Config, n_classes: int, d: distributed.Dist) -> tuple[Nets, Callable]:
    """The networks as the step runs them (DDP, torch.compile) and the autocast context for the device."""
    tc, dev = cfg.train, d.device
    autocast = contextlib.nullcontext
    if dev.type == "cpu":
        torch.set_num_threads(min(torch.get_num_threads(), distributed.cpu_threads()))
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if tc.amp:
            autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
    nets = [run.g, run.d_v, run.d_i] + ([run.d_p] if run.d_p is not None else [])
    if d.world > 1:
        ids = [dev.index] if dev.type == "cuda" else None
        nets = [DDP(m, device_ids=ids) for m in nets]
    if tc.compile:
        nets = [torch.compile(m) for m in nets]
    g_run, dv_run, di_run, *dp_run = nets
    return Nets(g_run, dv_run, di_run, run.opt_g, run.opt_d, run.latent_length, n_classes, loss=tc.loss,
                r1_gamma=tc.r1_gamma, r1_every=tc.r1_every, augment_translate=tc.augment_translate,
                zm_diversity=tc.zm_diversity, zm_info=tc.zm_info, d_p=dp_run[0] if dp_run else None,
                pair_d=tc.pair_d, class_head=tc.class_head, za_info=tc.za_info,
                colour_prior=tc.colour_prior, change_prior=tc.change_prior), autocast


class _Ticker:
    """Rank 0's maintenance after a step: the log row (log.jsonl + dvclive), the sample grid, progress."""

    def __init__(self, cfg: Config, out: Path, live_dir: Path, run: _Run, classes: list[str], n_classes: int,
                 progress: Optional[Callable[..., None]]):
        self.tc, self.out, self.run, self.progress = cfg.train, out, run, progress
        self.n_classes, self.seed = n_classes, cfg.base.seed
        self.live = None
        # with nothing left to train the dvclive files are left as they are — only re-created when missing
        # (a finished run re-entered by `dvc repro` must still produce every declared output)
        missing = not all(p.is_file() for p in (live_dir / "metrics.json", live_dir / "plots" / "images" / "samples.png"))
        if run.step < self.tc.steps or missing:
            from dvclive import Live

            self.live = Live(str(live_dir), resume=run.step > 0, dvcyaml=None, save_dvc_exp=False, report=None)
        dev = next(run.g.parameters()).device
        fixed = sample_latents(min(8, max(n_classes, 4)), run.latent_length, n_classes,
                               torch.Generator().manual_seed(cfg.base.seed), dev)
        if n_classes:
            fixed = (fixed[0], fixed[1], torch.arange(fixed[0].shape[0], device=dev) % n_classes)
        self.fixed = fixed
        self.captions = [f"z {i}" + (f", class {classes[int(c)]}" if n_classes else "")
                         for i, c in enumerate(fixed[2].tolist() if n_classes else [0] * fixed[0].shape[0])]
        self.shown = {k: float("nan") for k in ("loss_d_video", "loss_d_image", "loss_g_video", "loss_g_image")}
        self.t_start = self.window_t = time.perf_counter()
        self.wait, self.window_clips = 0.0, 0
        if run.step >= self.tc.steps and self.live is not None:
            self._restore(out / "log.jsonl")

    def _restore(self, logfile: Path) -> None:
        """Re-create the sample grid and the summary of a finished run from its weights and log.jsonl."""
        self.live.step = self.run.step
        rows = [row for _, row in _log_rows(logfile)]
        for k, v in (rows[-1].items() if rows else ()):
            if k != "step":
                self.live.log_metric(f"train/{k}", v, plot=False)  # the summary only: the TSV history stays
        self._sample()
        self.live.make_summary()

    def __call__(self, losses: dict, batch_clips: int, wait: float) -> None:
        """After each step: ``wait`` is the time spent waiting for data so far."""
        tc, step = self.tc, self.run.step
        self.window_clips, self.wait = self.window_clips + batch_clips, wait
        if step % tc.log_every == 0 or step == tc.steps:
            self._log(losses)
        if step % tc.sample_every == 0 or step == tc.steps:
            self._sample()
        if self.progress:  # the losses of the last log row: reading them every step would sync a GPU
            self.progress(step, tc.steps, self.run.clips, self.shown)

    def _log(self, losses: dict) -> None:
        now, step = time.perf_counter(), self.run.step
        row = {k: round(v.item(), 5) for k, v in losses.items()}
        self.shown = {k: row[k] for k in losses}
        row.update(step=step, clips=self.run.clips, clips_per_s=round(self.window_clips / (now - self.window_t), 3),
                   data_wait=round(self.wait / max(1e-9, now - self.t_start), 4))
        self.window_t, self.window_clips = now, 0
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        self.live.step = step
        for k, v in row.items():
            if k != "step":
                self.live.log_metric(f"train/{k}", v)
        self.live.make_summary()
        log.info("step %d/%d  clips %d  D_v %.3f  D_i %.3f  G_v %.3f  G_i %.3f  %.1f clips/s",
                 step, self.tc.steps, self.run.clips, row["loss_d_video"], row["loss_d_image"], row["loss_g_video"],
                 row["loss_g_image"], row["clips_per_s"])

    def _sample(self) -> None:
        if self.run.ema is not None:  # as generator.pt will hold it: BN statistics re-estimated
            sampler = recalibrate_batchnorm(self.run.ema, self.run.latent_length, self.n_classes, seed=self.seed)
            with torch.no_grad():
                video = sampler(*self.fixed)
        else:
            sampler = unwrap(self.run.g)
            was_training = sampler.training
            sampler.eval()
            with torch.no_grad():
                video = sampler(*self.fixed)
            sampler.train(was_training)
        frames = to_uint8(video)  # (B, T, H, W, 3): one row per fixed latent, 8 frames across time
        title = f"samples at step {self.run.step} ({'EMA' if self.run.ema is not None else 'raw'} weights; fixed latents)"
        self.live.log_image("samples.png", captioned_grid(frames, self.captions, title, scale=2, columns=8))


def _fit(cfg: Config, shards: Path, out: Path, live_dir: Path, d: distributed.Dist, progress) -> FitResult:
    tc, dev = cfg.train, d.device
    manifest = read_manifest(shards)
    classes, n_classes = manifest["classes"], _n_classes(cfg, manifest, shards)
    cfg = _without_class_head(cfg, n_classes, manifest, shards)
    tc = cfg.train
    plan = clip_plan(manifest, cfg.loader)  # refuses clips no video can give, before anything is built
    if plan["skipped_short"]:
        log.warning("%d of %d training videos are too short for %d-frame clips at any of frame steps %s: "
                    "skipped (never padded); clips use steps %s", plan["skipped_short"], plan["videos"],
                    cfg.loader.clip_length, list(cfg.loader.frame_steps), plan["frame_steps"])
    params_hash, data = cfg.train_hash(), data_hash(manifest)

    # --- models, optimizers, state (resumed when the same experiment left a checkpoint)
    run = _build_run(cfg, n_classes, d)
    ckpts = CheckpointDir(out / "checkpoints", tc.keep_last)
    _resume_or_set_aside(run, ckpts, cfg, params_hash, data, out, live_dir, d)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out / "config.yaml", (dump_yaml(cfg) + f"# train params hash: {params_hash}\n"
                                                 f"# training data hash: {data}\n").encode())
    nets, autocast = _for_device(run, cfg, n_classes, d)

    # --- data: segments of ckpt_every batches, so a resumed run sees the same batches
    stream = ClipStream(verified_shards(shards, "train"), cfg.loader, cfg.base.seed, subject_pairs=tc.pair_d > 0)
    loader = ClipLoader(stream, tc.ckpt_every, cfg.loader.workers)
    start_step, start_clips = run.step, run.clips
    tick = _Ticker(cfg, out, live_dir, run, classes, n_classes, progress) if d.main else None

    def save() -> None:
        rngs = [rng_state(run.gen)] if d.world == 1 else distributed.gather_rng(rng_state(run.gen), d)
        if d.main:
            ckpts.save({**run.state(), "rng": rngs if d.world > 1 else rngs[0], "config": cfg.to_dict(),
                        "params_hash": params_hash, "data_hash": data, "classes": list(classes),
                        "n_classes": n_classes}, run.step)

    stop: dict = {"signal": None}
    previous = {s: signal.signal(s, lambda signum, _f: stop.__setitem__("signal", signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    t_start, wait = time.perf_counter(), 0.0
    losses: dict = {}
    bad_at = torch.full((), -1, dtype=torch.long, device=dev)  # first step with a non-finite loss; -1: none
    try:
        while run.step < tc.steps and stop["signal"] is None:
            batches = loader.segment(*divmod(run.step, tc.ckpt_every))
            while run.step < tc.steps:
                # --- batch
                t0 = time.perf_counter()
                try:
                    frames, labels = next(batches)  # (B, T, H, W, 3) uint8, (B,)
                except StopIteration:
                    break
                wait += time.perf_counter() - t0
                real = to_model_input(frames, dev)  # (B, 3, T, H, W) in [-1, 1]

                # --- D_V + D_I step, G step (step ``nxt``, counted from 1)
                nxt = run.step + 1
                losses = gan_step(nets, real, labels.to(dev) if n_classes else None, run.gen, autocast, step=nxt)
                # the finite check stays on the device; the host reads it (one sync) only before a log
                # row, a checkpoint or the end — never a checkpoint of weights a NaN went through
                ok = torch.stack([torch.isfinite(v).all() for v in losses.values()]).all()
                bad_at = torch.where((bad_at < 0) & ~ok, nxt, bad_at)
                due = nxt % tc.log_every == 0 or nxt % tc.ckpt_every == 0 or nxt >= tc.steps or stop["signal"] is not None
                first = int(bad_at) if due else -1
                bad, stopping = distributed.any_flag([first >= 0, stop["signal"] is not None], d)
                if bad:
                    shown = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
                    kept = next(iter(ckpts.all()), "(none yet)")
                    where = f"step {first}" if first >= 0 else f"step {nxt} or before, on another rank"
                    raise Diverged(f"non-finite loss at {where} ({shown}); the last good checkpoint "
                                   f"{kept} is intact — lower train.lr_g/lr_d or try train.loss=hinge")

                # --- EMA
                if run.ema is not None:
                    ema_update(run.ema, run.g, tc.ema_beta)
                run.step += 1
                run.clips += real.shape[0] * d.world

                # --- tick: log, samples, checkpoint
                if tick is not None:
                    tick(losses, real.shape[0] * d.world, wait)
                if run.step % tc.ckpt_every == 0 or run.step == tc.steps or stopping:
                    save()
                if stopping:
                    stop["signal"] = stop["signal"] or signal.SIGTERM
                    break
            del batches
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    elapsed = time.perf_counter() - t_start
    trained = run.step > start_step
    metrics = {k: round(v.item(), 5) for k, v in losses.items()}
    metrics.update(step=run.step, clips=run.clips, n_classes=n_classes,  # rates count this process's steps only
                   clips_per_s=round((run.clips - start_clips) / elapsed, 3) if trained else None,
                   data_wait=round(wait / elapsed, 4) if trained else None)
    if d.main:
        if stop["signal"] is None:
            export_generator(out / "generator.pt", run.g, run.ema, run.latent_length, classes, n_classes, cfg,
                             params_hash, run.step)
    return FitResult(run.step, run.clips, metrics, stop["signal"],
                     {"g": run.g, "d_v": run.d_v, "d_i": run.d_i, "d_p": run.d_p, "ema": run.ema})
