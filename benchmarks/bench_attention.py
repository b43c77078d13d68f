"""F-SA benchmark: T-SA and S-SA, forward + backward, on a (B, C, 16, 32, 32) map — G's fourth
module, where the paper places F-SA — at the CPU demo width (C = 16, batch 16) and the paper width
(C = 128, batch 8), fused and literal; prints milliseconds per call (median) and fused/literal.

    python benchmarks/bench_attention.py
    python benchmarks/bench_attention.py --reps 5
    python benchmarks/bench_attention.py --against 5c4afac    # this code's F-SA vs a commit's

``--against REV`` times this code's fused F-SA beside the one of commit REV (its ``g3an`` package,
taken with ``git archive`` into a temporary folder): each side in its own process, ``--rounds``
times, alternating which goes first, and prints the medians and their ratio. 5c4afac is the code
issue 11 measured when it asked for F-SA 3× faster (its goal 1); fused vs literal is not that ratio.
Runs with g3an-cli's process defaults (huge pages for large tensors, passive OpenMP), both sides.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
CASES = [("demo width 1/8", 16, 16), ("paper width 1", 128, 8)]  # (name, C, batch)


def time_call(module, x, reps: int) -> float:
    """Median seconds of module(x).sum().backward() on a fresh leaf, after one warm-up call."""
    from timing import median_seconds

    return median_seconds(lambda: module(x.detach().requires_grad_(True)).sum().backward(), reps)


def fsa_ms(c: int, batch: int, impl: str, reps: int) -> tuple[float, float]:
    """(T-SA, S-SA) milliseconds, forward + backward, of the ``FactorisedSelfAttention`` the first
    ``g3an`` on ``sys.path`` defines, on a seeded (batch, c, 16, 32, 32) map."""
    import torch

    from g3an.models.attention import FactorisedSelfAttention

    torch.manual_seed(0)
    x = torch.randn(batch, c, 16, 32, 32)  # (B, C, T, H, W)
    m = FactorisedSelfAttention(c, impl)
    for axis in (m.temporal, m.spatial):
        axis.gamma.data.fill_(0.5)  # γ = 0 would let autograd skip the attention's gradients
    return time_call(m.temporal, x, reps) * 1e3, time_call(m.spatial, x, reps) * 1e3


def code_of(rev: str, into: Path) -> Path:
    """Commit ``rev``'s ``g3an`` package, extracted under ``into``; a clear error if git cannot give it."""
    try:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "g3an"],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        why = e.stderr.decode().strip() if isinstance(e, subprocess.CalledProcessError) else str(e)
        sys.exit(f"bench_attention: --against {rev}: git cannot give that commit's g3an/ ({why}); "
                 "run from a git clone and name a commit it has")
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:  # our own repository's archive; filtered where Python can
        t.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return into


def one_side(code: Path, c: int, batch: int, reps: int) -> tuple[float, float]:
    """``fsa_ms`` for the fused F-SA of the code under ``code``, in a fresh process; refuses a result
    whose attention module came from anywhere else (two sides timing one code would read x1.00)."""
    out = subprocess.run([sys.executable, __file__, "--one", str(code), str(c), str(batch), "--reps", str(reps)],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"bench_attention: the run of {code} failed:\n{out.stderr.strip()}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(got["module"]).resolve().is_relative_to((code / "g3an").resolve()):
        sys.exit(f"bench_attention: the run of {code} imported {got['module']} instead")
    return got["t_sa_ms"], got["s_sa_ms"]


def against(rev: str, rounds: int, reps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="g3an-bench-") as tmp:
        sides = {rev: code_of(rev, Path(tmp)), "this code": ROOT}
        for name, c, batch in CASES:
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
            for r in range(rounds):
                for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                    times[side].append(one_side(sides[side], c, batch, reps))
            med = {k: (statistics.median(t for t, _ in v), statistics.median(s for _, s in v),
                       statistics.median(t + s for t, s in v)) for k, v in times.items()}
            old, new = med[rev], med["this code"]
            print(f"F-SA {name:15s} C={c:3d} batch={batch:2d}, fused, median of {rounds} rounds: "
                  f"{rev} T-SA {old[0]:6.0f} + S-SA {old[1]:6.0f} = {old[2]:6.0f} ms; this code {new[0]:6.0f} + "
                  f"{new[1]:6.0f} = {new[2]:6.0f} ms; this code x{old[2] / new[2]:.2f} faster "
                  f"(T-SA x{old[0] / new[0]:.2f}, S-SA x{old[1] / new[1]:.2f}; issue 11's goal 1: x3 against 5c4afac)",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--against", metavar="REV", help="time this code's fused F-SA beside commit REV's")
    ap.add_argument("--rounds", type=int, default=3, help="with --against: processes per side, alternating")
    ap.add_argument("--one", nargs=3, metavar=("CODE", "C", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    # the code under test goes first on sys.path, before anything imports g3an
    sys.path.insert(0, args.one[0] if args.one else str(ROOT))
    sys.path.insert(1, str(HERE))  # timing.py, machine.py
    if args.rounds < 1 or args.reps < 1:
        ap.error("--rounds and --reps must be at least 1")
    if args.one:  # a child of --against: the process defaults came with the parent's environment
        t_sa, s_sa = fsa_ms(int(args.one[1]), int(args.one[2]), "fused", args.reps)
        import g3an.models.attention as attention

        print(json.dumps({"t_sa_ms": t_sa, "s_sa_ms": s_sa, "module": attention.__file__}))
        return
    from g3an.runtime import set_process_defaults

    set_process_defaults()  # before torch is imported; children inherit the environment
    from machine import machine_line

    print(machine_line(), flush=True)
    if args.against:
        against(args.against, args.rounds, args.reps)
        return
    for name, c, batch in CASES:
        f, lit = fsa_ms(c, batch, "fused", args.reps), fsa_ms(c, batch, "literal", args.reps)
        print(f"F-SA {name:15s} C={c:3d} batch={batch:2d}: fused T-SA {f[0]:6.0f} ms + S-SA {f[1]:6.0f} ms "
              f"= {sum(f):6.0f} ms; literal {lit[0]:6.0f} + {lit[1]:6.0f} = {sum(lit):6.0f} ms; "
              f"fused x{sum(lit) / sum(f):.2f} faster", flush=True)


if __name__ == "__main__":
    main()
