"""End-to-end training throughput: shards → loader (2 workers) → GAN step → optimizer, at the CPU
demo width and at the paper preset, with the share of time spent waiting for data.

    python benchmarks/bench_train.py [--steps 40] [--paper-steps 3] [--shared-steps 24] [--active-openmp]
Target: data wait under 5% at the demo width with 2 loader workers. The "shared box" lines train the
demo config alone and then beside one competing 1-core busy process, and print the share of the solo
throughput kept (target >= 40%). OpenMP's wait policy is passive, as under g3an-cli, unless
--active-openmp (GNU OpenMP's own default) is given: compare the two.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from g3an.runtime import set_process_defaults  # noqa: E402  (no torch import)
from machine import machine_line  # noqa: E402  (this script's folder is on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--paper-steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=None, help="clips per step (default: the default config's)")
    ap.add_argument("--shared-steps", type=int, default=24, help="steps per shared-box run (0: skip them)")
    ap.add_argument("--active-openmp", action="store_true", help="keep OpenMP's spinning wait policy")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.active_openmp:
        os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")
    set_process_defaults()  # before torch is imported
    print(machine_line(), flush=True)

    from g3an.config import LoaderConfig, PreprocessConfig, config_from_dict
    from pipeline.preprocess import build_shards
    from pipeline.sources import get_source
    from pipeline.sources.synthetic import render_dataset

    if args.batch is None:
        args.batch = LoaderConfig().batch_size

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        base = config_from_dict({"download": {"synthetic": {"subjects": 16}}})
        render_dataset(d / "raw", base.download.synthetic, seed=0)
        build_shards(get_source("synthetic"), d / "raw", d / "shards", PreprocessConfig(workers=2, shard_size=8))
        demo, no_prior = {"width": 0.125, "attention_after": 2}, "demo, no colour prior"
        diff = "demo, D_V reads the frame changes"
        runs = [("demo (width 1/8, F-SA after G3_2)", demo, {}, args.steps),
                (no_prior, demo, {"colour_prior": 0.0}, args.steps),
                (diff, {**demo, "d_frame_diff": True}, {}, args.steps),
                ("demo (width 1/8, F-SA after G3_3)", {"width": 0.125, "attention_after": 3}, {}, args.steps),
                ("paper (width 1)", {"width": 1.0}, {}, args.paper_steps)]
        if args.steps:  # the process's first fit pays for its set-up: a short untimed one first
            _fit(demo, {}, min(args.steps, 5), args.batch, d / "shards", d / "warm-up")
        rate = {}
        for name, model, train, steps in (r for r in runs if r[3]):  # 0 steps: skip that configuration
            metrics = _fit(model, train, steps, args.batch, d / "shards", d / f"run{len(rate)}")
            rate[name] = metrics["clips_per_s"]
            print(f"{name:36s} batch {args.batch}: {rate[name]:7.2f} clips/s end to end, "
                  f"data wait {100 * metrics['data_wait']:.1f}% (target < 5% at demo width), {steps} steps",
                  flush=True)
        if args.steps:
            print(f"the colour prior's cost (train.colour_prior, on by default): the default step runs at "
                  f"{rate[runs[0][0]] / rate[no_prior]:.2f}x the speed without it", flush=True)
            print(f"the frame changes' cost (model.d_frame_diff, off by default): with them the step runs at "
                  f"{rate[diff] / rate[runs[0][0]]:.2f}x the default's speed", flush=True)
        if args.shared_steps:
            _shared_box(d / "shards", args.batch, args.shared_steps)


def _fit(model: dict, train: dict, steps: int, batch: int, shards: Path, out: Path) -> dict:
    """One short training run of ``model`` (+ ``train`` overrides) on the benchmark's shards: its metrics."""
    from g3an.config import config_from_dict
    from g3an.train.loop import fit

    cfg = config_from_dict({"model": model, "loader": {"batch_size": batch, "workers": 2},
                            "train": {"steps": steps, "ckpt_every": 1000, "log_every": 1000,
                                      "sample_every": 1000, "ema_beta": 0.999, **train}})
    return fit(cfg, shards, out).metrics


def _shared_box(shards: Path, batch: int, steps: int) -> None:
    """The demo config alone, then beside one CPU-bound 1-core process (a busy Python loop)."""
    from g3an.config import config_from_dict
    from g3an.train.loop import fit

    cfg = config_from_dict({"model": {"width": 0.125, "attention_after": 2},
                            "loader": {"batch_size": batch, "workers": 2},
                            "train": {"steps": steps, "ckpt_every": 1000, "log_every": 1000, "sample_every": 1000}})
    rates = {}
    for mode in ("alone", "beside a 1-core job"):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if mode != "alone" else None
        try:
            with tempfile.TemporaryDirectory() as run:
                rates[mode] = fit(cfg, shards, Path(run) / "run").metrics["clips_per_s"]
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    alone, shared = rates.values()
    print(f"shared box (demo, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}): {alone:.2f} clips/s alone, "
          f"{shared:.2f} beside a 1-core job = {shared / alone:.2f} of solo (target >= 0.40), {steps} steps", flush=True)


if __name__ == "__main__":
    main()
