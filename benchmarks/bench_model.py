"""Model benchmark: G forward per clip, one full GAN step (D_V + D_I + G, fwd + bwd + Adam),
peak memory, FLOPs per step (F-SA counted analytically) and achieved GFLOP/s as a share of a large
float32 matmul — for the paper preset and the CPU demo width, fused and literal attention, and the
demo width with R1 (γ = 1, the default recipe's ``train.r1_gamma``); prints the fused/literal ratios
and R1's cost.

    python benchmarks/bench_model.py                # all configurations (each in a subprocess)
    python benchmarks/bench_model.py --batch 8      # smaller batch
    python benchmarks/bench_model.py --rounds 3     # every configuration 3 times, round-robin; medians
Each configuration runs in its own process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def attention_flops(shapes: list[tuple[str, tuple[int, ...], int]]) -> float:
    """F-SA's FLOPs in one GAN step, from the literal equations: per axis-attention call on a
    (B, C, T, H, W) map with d = C/8 query/key channels, forward 2·N·L²·(d + C) (q·kᵀ, then the
    weights times v), backward twice that; T-SA: N = B·H·W sequences of L = T; S-SA: N = B·T, L = H·W.
    G runs forward once and backward once per step. (The fused SDPA kernel is invisible to
    ``FlopCounterMode`` on CPU, so its share is counted here.)"""
    total = 0.0
    for axis, (b, c, t, h, w), d in shapes:
        n, length = (b * h * w, t) if axis == "time" else (b * t, h * w)
        total += 3 * 2 * n * length ** 2 * (d + c)
    return total


def run_one(preset: str, width: float, attention: str, batch: int, steps: int, r1_gamma: float = 0.0,
            **model_params) -> dict:
    """One configuration; ``model_params``: further ``ModelConfig`` fields (e.g. attention_after=3)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from g3an.config import LoaderConfig, ModelConfig
    from g3an.models.build import build_models
    from g3an.sampling import sample_latents
    from g3an.train.step import Nets, gan_step, make_optimizers
    from timing import median_seconds  # this script's folder is on sys.path when it runs

    torch.manual_seed(0)
    base_rss = _rss_mb()
    model = ModelConfig(preset=preset, width=width, attention=attention, **model_params)  # D as wide as G
    g, d_v, d_i, tz = build_models(model, LoaderConfig())
    opt_g, opt_d = make_optimizers(g, d_v, d_i)
    nets = Nets(g, d_v, d_i, opt_g, opt_d, tz, r1_gamma=r1_gamma)
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(batch, 3, 16, 64, 64) * 2 - 1

    with torch.no_grad():  # G forward per clip, a median like the step's (a single call jumped ~10x between runs)
        za, zm, _ = sample_latents(batch, tz, 0, gen)
        g_fwd = median_seconds(lambda: g(za, zm), steps) / batch
    step_s = median_seconds(lambda: gan_step(nets, real, None, gen), steps)
    common = dict(preset=preset, width=width, attention=attention, r1_gamma=r1_gamma, batch=batch,
                  g_forward_ms_per_clip=g_fwd * 1e3, step_s=step_s, clips_per_s=batch / step_s,
                  peak_rss_mb=_rss_mb(), model_peak_mb=_rss_mb() - base_rss)
    if r1_gamma > 0:  # FlopCounterMode cannot follow R1's autograd.grad (torch 2.13): time and memory only
        return dict(common, step_gflop=None, attention_gflop=None, achieved_gflops=None, matmul_gflops=None)
    from g3an.models.attention import AxisSelfAttention

    shapes = []  # each axis attention's input shape, recorded while the step is counted
    hooks = [m.register_forward_hook(lambda mod, args, out: shapes.append((mod.axis, tuple(args[0].shape),
                                                                          mod.f.out_channels)))
             for m in g.modules() if isinstance(m, AxisSelfAttention)]
    with FlopCounterMode(display=False) as fc:
        gan_step(nets, real, None, gen)
    for h in hooks:
        h.remove()
    # F-SA's q·kᵀ and weights·v are counted analytically (the fused CPU kernel is invisible to the
    # counter); what the counter saw of them (bmm inside the attention modules) is taken out first
    counted_attn = sum(n for key, per_op in fc.get_flop_counts().items() if key.endswith("attention")
                       for op, n in per_op.items() if "bmm" in str(op) or "scaled_dot_product" in str(op))
    attn = attention_flops(shapes)
    flops = fc.get_total_flops() - counted_attn + attn
    return dict(common, step_gflop=flops / 1e9, attention_gflop=attn / 1e9, achieved_gflops=flops / step_s / 1e9,
                matmul_gflops=matmul_gflops())


def median_run(runs: list[dict]) -> dict:
    """One configuration's rounds as one row: the round with the median step time (so its GFLOP/s and memory
    belong to that step), with the spread of the step time over the rounds."""
    ordered = sorted(runs, key=lambda r: r["step_s"])
    mid = dict(ordered[(len(ordered) - 1) // 2])
    mid.update(rounds=len(runs), step_s_min=ordered[0]["step_s"], step_s_max=ordered[-1]["step_s"])
    return mid


def row_line(r: dict) -> str:
    return (f"{r['preset']:>6} width={r['width']:<6} attn={r['attention']:<8} R1 γ={r['r1_gamma']:<3} batch={r['batch']:>3}  "
            f"G fwd {r['g_forward_ms_per_clip']:7.1f} ms/clip  step {r['step_s']:7.2f} s "
            + (f"[{r['step_s_min']:.2f}-{r['step_s_max']:.2f} over {r['rounds']}] " if r.get("rounds", 1) > 1 else "")
            + f"({r['clips_per_s']:6.2f} clips/s)  " + (
                f"{r['step_gflop']:8.1f} GFLOP/step  (F-SA {r['attention_gflop']:.1f})  {r['achieved_gflops']:6.1f} "
                f"GFLOP/s = {r['achieved_gflops'] / r['matmul_gflops']:.2f} of a 2048² matmul ({r['matmul_gflops']:.0f})  "
                if r["step_gflop"] is not None else "(FLOPs not counted with R1)  ") +
            f"peak RSS {r['peak_rss_mb']:7.0f} MB (model {r['model_peak_mb']:6.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3, help="timed steps at the demo width (paper: 1)")
    ap.add_argument("--one", nargs=4, metavar=("PRESET", "WIDTH", "ATTENTION", "R1_GAMMA"), help=argparse.SUPPRESS)
    ap.add_argument("--skip-paper", action="store_true", help="only the demo width")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every configuration this many times, round-robin (each in its own process), and report "
                         "the median step with its min-max: on a host whose speed drifts, one round per config "
                         "can rank the configs wrongly")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    from g3an.runtime import set_process_defaults

    set_process_defaults()  # as g3an-cli runs (huge pages, passive OpenMP); the subprocesses inherit it
    if args.one:
        preset, width, attention, r1_gamma = args.one
        print(json.dumps(run_one(preset, float(width), attention, args.batch, args.steps, float(r1_gamma))))
        return
    from machine import machine_line  # here, not at the top: tests import this file by path, without its folder on sys.path

    print(machine_line(), flush=True)
    configs = [("paper", 0.125, "fused", 0.0), ("paper", 0.125, "literal", 0.0), ("paper", 0.125, "none", 0.0),
               ("paper", 0.125, "fused", 1.0)]
    if not args.skip_paper:
        configs += [("paper", 1.0, "fused", 0.0)]
    runs: dict[tuple, list[dict]] = {c: [] for c in configs}
    for _ in range(args.rounds):  # round-robin: a slow spell of the host hits every config alike
        for config in configs:
            preset, width, attention, r1_gamma = config
            steps = args.steps if width < 1 else 1
            out = subprocess.run([sys.executable, __file__, "--one", preset, str(width), attention, str(r1_gamma),
                                  "--batch", str(args.batch), "--steps", str(steps)],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            runs[config].append(r)
            print(row_line(r) if args.rounds == 1 else  # the rows as they come; with rounds, medians below
                  f"round {len(runs[config])}/{args.rounds}: {preset} width={width} "
                  f"attn={attention} R1 γ={r1_gamma}: step {r['step_s']:.2f} s", flush=True)
    rows = {c: median_run(rs) for c, rs in runs.items()}
    if args.rounds > 1:
        for r in rows.values():
            print(row_line(r), flush=True)
    fused, literal, r1 = (rows[("paper", 0.125, a, g)] for a, g in (("fused", 0.0), ("literal", 0.0), ("fused", 1.0)))
    print(f"demo width fused/literal: speed x{literal['step_s'] / fused['step_s']:.2f} (target >= 2), "
          f"peak memory x{fused['model_peak_mb'] / literal['model_peak_mb']:.2f} of literal (target <= 0.5)")
    print(f"demo width R1 γ=1 / none: step time x{r1['step_s'] / fused['step_s']:.2f}"
          + (f"  (medians over {args.rounds} rounds)" if args.rounds > 1 else ""))


if __name__ == "__main__":
    main()
