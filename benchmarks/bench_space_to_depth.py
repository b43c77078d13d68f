"""D_V's first conv as space-to-depth against oneDNN's strided conv: the default GAN step both ways,
interleaved in one process (``g3an.models.layers.Conv3d``; the space-to-depth form runs by itself only
where PyTorch's CPU kernels are AVX2 ones).

    python benchmarks/bench_space_to_depth.py [--steps 8] [--rounds 5]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/bench_space_to_depth.py

The second line makes an AVX-512 host run the AVX2 kernels of our slower machine kind (a Zen 1): the
same kernel choices, not the same speed. Both forms are built from params.yaml's defaults (width 1/8,
conditional on 8 classes, R1 and the other levers) with the same weights, and each round times
``--steps`` steps of each on the same random clips; the median round is printed with its range, and
the ratio space-to-depth / strided (below 1: space-to-depth is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per form and round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.steps < 1 or args.rounds < 1:
        ap.error("--steps and --rounds must be at least 1")

    from g3an.runtime import set_process_defaults

    set_process_defaults()  # as g3an-cli: passive OpenMP, huge pages, threads for the usable cores
    import torch

    from machine import machine_line  # this script's folder is on sys.path
    from g3an.config import load_config
    from g3an.models import layers
    from g3an.train import distributed, loop
    from g3an.train.step import gan_step

    print(machine_line())
    cfg = load_config(ROOT / "params.yaml")
    n_classes, b = 8, cfg.loader.batch_size
    gen = torch.Generator().manual_seed(0)
    clips = [torch.rand(b, 3, cfg.loader.clip_length, cfg.model.size, cfg.model.size, generator=gen) * 2 - 1
             for _ in range(4)]  # (B, 3, T, H, W)
    labels = [torch.randint(n_classes, (b,), generator=gen) for _ in clips]
    forms = {}
    for name in ("strided", "space-to-depth"):
        torch.manual_seed(0)
        run = loop._build_run(cfg, n_classes, distributed.Dist())  # the nets, optimizers and EMA `train` builds
        nets, autocast = loop._for_device(run, cfg, n_classes, distributed.Dist())
        forms[name] = (run, nets, autocast, name == "space-to-depth")

    def steps(name: str, n: int) -> float:
        run, nets, autocast, s2d = forms[name]
        layers.space_to_depth_on_this_cpu = lambda: s2d  # the policy, as this form needs it
        t = time.perf_counter()
        for i in range(n):
            gan_step(nets, clips[i % len(clips)], labels[i % len(clips)], run.gen, autocast, step=i + 1)
        return (time.perf_counter() - t) / n

    for name in forms:
        steps(name, 2)  # untimed: oneDNN primitives, allocator growth
    rounds: dict[str, list[float]] = {name: [] for name in forms}
    for r in range(args.rounds):
        for name in (list(forms) if r % 2 == 0 else list(forms)[::-1]):  # each form first in every other round
            rounds[name].append(steps(name, args.steps))
    med = {name: statistics.median(v) for name, v in rounds.items()}
    for name, v in rounds.items():
        print(f"GAN step, D_V's first conv {name:15s} {med[name]:.3f} s/step [{min(v):.3f}–{max(v):.3f}] "
              f"({args.rounds} rounds × {args.steps} steps, batch {b})")
    print(f"space-to-depth / strided: {med['space-to-depth'] / med['strided']:.2f}× the step time "
          "(g3an takes space-to-depth by itself only on AVX2 kernels)")


if __name__ == "__main__":
    main()
