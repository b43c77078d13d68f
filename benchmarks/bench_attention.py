"""F-SA benchmark: T-SA and S-SA, forward + backward, on a (B, C, 16, 32, 32) map — G's fourth
module, where the paper places F-SA — at the CPU demo width (C = 16, batch 16) and the paper width
(C = 128, batch 8), fused and literal; prints milliseconds per call (median) and fused/literal.

    python benchmarks/bench_attention.py
    python benchmarks/bench_attention.py --reps 5
Runs with g3an-cli's process defaults (huge pages for large tensors, passive OpenMP).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from g3an.runtime import set_process_defaults  # noqa: E402  (no torch import)
from machine import machine_line  # noqa: E402  (this script's folder is on sys.path)
from timing import median_seconds  # noqa: E402

CASES = [("demo width 1/8", 16, 16), ("paper width 1", 128, 8)]  # (name, C, batch)


def time_call(module, x, reps: int) -> float:
    """Median seconds of module(x).sum().backward() on a fresh leaf, after one warm-up call."""
    return median_seconds(lambda: module(x.detach().requires_grad_(True)).sum().backward(), reps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    set_process_defaults()  # before torch is imported
    import torch

    from g3an.models.attention import FactorisedSelfAttention

    print(machine_line(), flush=True)

    torch.manual_seed(0)
    for name, c, batch in CASES:
        x = torch.randn(batch, c, 16, 32, 32)  # (B, C, T, H, W)
        ms = {}
        for impl in ("fused", "literal"):
            m = FactorisedSelfAttention(c, impl)
            for axis in (m.temporal, m.spatial):
                axis.gamma.data.fill_(0.5)  # γ = 0 would let autograd skip the attention's gradients
            ms[impl] = (time_call(m.temporal, x, args.reps) * 1e3, time_call(m.spatial, x, args.reps) * 1e3)
        f, lit = ms["fused"], ms["literal"]
        print(f"F-SA {name:15s} C={c:3d} batch={batch:2d}: fused T-SA {f[0]:6.0f} ms + S-SA {f[1]:6.0f} ms "
              f"= {sum(f):6.0f} ms; literal {lit[0]:6.0f} + {lit[1]:6.0f} = {sum(lit):6.0f} ms; "
              f"fused x{sum(lit) / sum(f):.2f} faster", flush=True)


if __name__ == "__main__":
    main()
