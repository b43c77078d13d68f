"""Our GAN step beside the public reference code's, on this machine: step seconds, peak memory and
the ratios public/ours (issue 11, goal 4).

    python benchmarks/bench_public.py --public ~/src/g3an-project            # all rows
    python benchmarks/bench_public.py --public ~/src/g3an-project --smoke    # seconds: 1/8, batch 2, 1 step
    python benchmarks/bench_public.py --public ~/src/g3an-project --skip-paper

``--public`` is a checkout of https://github.com/wyhsirius/g3an-project; its ``model/networks.py``
(and the ``model/ops.py`` it imports) are imported from there (the checkout goes first on
``sys.path``, ``import model.networks``). None of its code is copied here.

Rows (each side of each row in its own process, so ``ru_maxrss`` is that configuration's own):
  width 1/8, batch 16 — F-SA after G³_3, and no attention
  width 1 (the paper's), batch 8 — F-SA after G³_3, and no attention
Median of ``--steps`` (3) timed steps after one warm-up at width 1/8; one timed step at width 1.

Ours: ``bench_model.run_one`` with the ``paper`` preset,
fused F-SA (``attention="none"`` for the no-attention rows) and ``model.attention_after=3`` (with
``--match-public`` also ``preset="reference"``, ``d_video_mode="2p1d"``, ``g_spectral_norm=True``: the
public code's architecture in our implementation). run_one also times G forward, counts FLOPs in one more step and
times a matmul; only its ``step_s`` and peak RSS are used here.

Public: nothing is monkeypatched. Its constructors take a base channel count, ``ch`` (64 in its
cfg.py for G, D_V and D_I alike), and every channel count is a multiple of it, so width w is
``Generator(c_a=128, c_m=10, ch=round(64·w), mode="1p2d", use_attention=…)``,
``VideoDiscriminator(round(64·w))`` and ``ImageDiscriminator(round(64·w))``: ch = 8 at width 1/8,
64 at width 1. Its ``use_attention=False`` removes F-SA, so the no-attention rows run too. Inputs as
its trainer.py: z_a (B, 128, 1, 1, 1), z_m (B, 10, 1, 1, 1) → a (B, 3, 16, 64, 64) clip. Its F-SA
(``FSA(ch·4)``, T-SA then S-SA, softmax over explicit q·kᵀ score matrices) follows ``block4`` —
G³_3 counted from 0 — on the (B, 4·ch, 16, 32, 32) map. Its step, written here after its
trainer.py: D_V and D_I on the real clip / one frame, G forward, D_V and D_I on the detached fake,
BCE-with-logits (real → 1, fake → 0), backward and Adam step per discriminator; then G's
non-saturating BCE through both Ds, backward, Adam step. Adam lr 2e-4, betas (0.5, 0.999) for all
three optimizers (its train.py). Differences from its trainer.py, each to match our step: one random
frame per clip for D_I (it draws one index per batch), latents and frame indices from one
``torch.Generator``, and D_V / D_I frozen (``requires_grad=False``) during G's backward (it leaves
them trainable, so it also computes D weight gradients it then discards — freezing makes the public
step faster, so the ratio is conservative).

Not alike (read the ratios with these in mind):
- the architectures differ unless ``--match-public``: our ``paper`` preset follows the paper's
  appendix Table 1 (G_V 1024@4×4×2 → 512@8×8×4 → 256@16×16×8 → 128@32×32×16 → 64@64×64×16, F-SA on
  128 channels at width 1) while the public code runs 1024, 1024, 512, 256, 128 channels with time
  4, 8, 16, 16, 16 (F-SA on 256 channels), and its D_V is (2+1)D where ours is 3D: the public G does
  more work per step for reasons of architecture, not implementation;
- the public G has spectral norm on every transposed conv (ours: none, as the paper);
- our step runs each D once on real+fake concatenated, the public one runs real and fake apart.
Peak memory is ``ru_maxrss`` minus the RSS once torch and the models' code are imported ("model MB");
the memory ratio is ours/public of that.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_model import _rss_mb, run_one  # noqa: E402  (this script's folder is on sys.path; no torch import)
from machine import machine_line  # noqa: E402
from timing import median_seconds  # noqa: E402
from g3an.runtime import set_process_defaults  # noqa: E402  (no torch import)

PUBLIC_URL = "https://github.com/wyhsirius/g3an-project"
# (label, width, batch key, attention on?, speed target public/ours, memory target ours/public)
ROWS = [
    ("width 1/8, F-SA after G3_3", 0.125, "batch", True, 5.0, 0.5),
    ("width 1/8, no attention", 0.125, "batch", False, None, None),
    ("paper width 1, F-SA after G3_3", 1.0, "paper_batch", True, 3.5, None),
    ("paper width 1, no attention", 1.0, "paper_batch", False, None, None),
]


def public_error(path: str) -> str | None:
    """A one-line error when ``path`` is not a checkout with model/networks.py, else None."""
    if not (Path(path).expanduser() / "model" / "networks.py").is_file():
        return (f"bench_public.py: --public {path}: no model/networks.py there; pass --public PATH pointing at "
                f"a checkout of {PUBLIC_URL}")
    return None


def _attention_input_hook(kinds: tuple[type, ...], seen: list):
    """A global forward hook recording the input shape of the first F-SA module called."""
    import torch

    def hook(module, args, out):
        if not seen and isinstance(module, kinds):
            seen.append(list(args[0].shape))

    return torch.nn.modules.module.register_module_forward_hook(hook)


def run_ours(width: float, attention: bool, batch: int, steps: int, match_public: bool) -> dict:
    from g3an.models.attention import FactorisedSelfAttention

    model = dict(attention_after=3)
    if match_public:
        model.update(preset="reference", d_video_mode="2p1d", g_spectral_norm=True)
    preset = model.pop("preset", "paper")
    seen: list = []
    hook = _attention_input_hook((FactorisedSelfAttention,), seen)
    try:
        r = run_one(preset, width, "fused" if attention else "none", batch, steps, **model)
    finally:
        hook.remove()
    return dict(side="ours", width=width, attention=attention, batch=batch, steps=steps, step_s=r["step_s"],
                peak_rss_mb=r["peak_rss_mb"], model_peak_mb=r["model_peak_mb"], fsa_input=seen[0] if seen else None,
                preset=preset)


def run_public(path: str, width: float, attention: bool, batch: int, steps: int) -> dict:
    import torch
    from torch import nn

    root = Path(path).expanduser().resolve()
    sys.path.insert(0, str(root))
    networks = importlib.import_module("model.networks")
    if root not in Path(networks.__file__).resolve().parents:
        raise SystemExit(f"bench_public.py: --public {path}: imported model.networks from {networks.__file__} "
                         "instead (another 'model' package shadows the checkout)")
    fsa_kind = importlib.import_module("model.ops").FSA

    torch.manual_seed(0)
    base_rss = _rss_mb()
    ch = max(1, round(64 * width))
    g = networks.Generator(c_a=128, c_m=10, ch=ch, mode="1p2d", use_attention=attention)
    d_v = networks.VideoDiscriminator(ch)
    d_i = networks.ImageDiscriminator(ch)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, (0.5, 0.999))
    opt_dv = torch.optim.Adam(d_v.parameters(), 2e-4, (0.5, 0.999))
    opt_di = torch.optim.Adam(d_i.parameters(), 2e-4, (0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(batch, 3, 16, 64, 64) * 2 - 1

    def frozen(flag: bool) -> None:
        for p in list(d_v.parameters()) + list(d_i.parameters()):
            p.requires_grad_(not flag)

    def step() -> None:
        b, t = real.shape[0], real.shape[2]
        za = torch.randn(b, 128, 1, 1, 1, generator=gen)
        zm = torch.randn(b, 10, 1, 1, 1, generator=gen)
        rows = torch.arange(b)
        idx_real = torch.randint(t, (b,), generator=gen)  # one random frame per clip, as ours
        idx_fake = torch.randint(t, (b,), generator=gen)
        real_img = real[rows, :, idx_real]  # (B, 3, H, W)

        opt_dv.zero_grad()
        opt_di.zero_grad()
        vd_real, id_real = d_v(real), d_i(real_img)
        fake = g(za, zm)
        fake_img = fake[rows, :, idx_fake]
        vd_fake, id_fake = d_v(fake.detach()), d_i(fake_img.detach())
        ones, zeros = torch.ones_like(vd_real), torch.zeros_like(vd_real)
        err_vd = criterion(vd_real, ones) + criterion(vd_fake, zeros)
        err_id = criterion(id_real, ones) + criterion(id_fake, zeros)
        err_vd.backward()
        opt_dv.step()
        err_id.backward()
        opt_di.step()

        frozen(True)
        opt_g.zero_grad()
        err_g = criterion(d_v(fake), ones) + criterion(d_i(fake_img), ones)
        err_g.backward()
        opt_g.step()
        frozen(False)

    seen: list = []
    hook = _attention_input_hook((fsa_kind,), seen)
    step()  # warm-up, with the hook that records F-SA's input shape
    hook.remove()
    step_s = median_seconds(step, steps, warmup=0)
    return dict(side="public", width=width, attention=attention, batch=batch, steps=steps,
                step_s=step_s, peak_rss_mb=_rss_mb(), model_peak_mb=_rss_mb() - base_rss,
                fsa_input=seen[0] if seen else None, ch=ch)


def _subprocess(args, side: str, width: float, attention: bool, batch: int, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--public", args.public,
           "--one", side, str(width), "1" if attention else "0", str(batch), str(steps)]
    if args.match_public:
        cmd.append("--match-public")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"bench_public.py: the {side} run (width {width}, attention {attention}, batch {batch}) "
                         f"failed with exit code {proc.returncode}:\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_ratio(value: float, target: float | None, at_least: bool) -> str:
    if target is None:
        return f"{value:.2f}×"
    ok = value >= target if at_least else value <= target
    return f"{value:.2f}× ({'≥' if at_least else '≤'}{target:g}: {'met' if ok else 'NOT met'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--public", required=True, metavar="PATH",
                    help=f"a checkout of {PUBLIC_URL} (must hold model/networks.py)")
    ap.add_argument("--batch", type=int, default=16, help="batch at width 1/8 (default 16)")
    ap.add_argument("--paper-batch", type=int, default=8, help="batch at the paper's width 1 (default 8)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps at width 1/8, median (width 1: 1)")
    ap.add_argument("--skip-paper", action="store_true", help="only the width 1/8 rows")
    ap.add_argument("--skip-none", action="store_true", help="only the F-SA rows")
    ap.add_argument("--match-public", action="store_true",
                    help="ours with the public code's architecture (preset reference, (2+1)D D_V, SN in G) "
                         "instead of the paper preset")
    ap.add_argument("--smoke", action="store_true", help="a seconds-long check: width 1/8, batch 2, 1 step")
    ap.add_argument("--one", nargs=5, metavar=("SIDE", "WIDTH", "ATTN", "BATCH", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    error = public_error(args.public)
    if error:
        raise SystemExit(error)
    set_process_defaults()  # as g3an-cli runs (huge pages, passive OpenMP); the subprocesses inherit it
    if args.one:
        side, width, attention, batch, steps = args.one
        width, attention, batch, steps = float(width), attention == "1", int(batch), int(steps)
        if side == "ours":
            out = run_ours(width, attention, batch, steps, args.match_public)
        else:
            out = run_public(args.public, width, attention, batch, steps)
        print(json.dumps(out))
        return

    if args.smoke:
        args.batch, args.steps, args.skip_paper = 2, 1, True
    batches = dict(batch=args.batch, paper_batch=args.paper_batch)
    rows = [r for r in ROWS if not (args.skip_paper and r[1] >= 1) and not (args.skip_none and not r[3])]

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{machine_line()}, load average {load}")  # after set_process_defaults: it imports torch
    print(f"public code: {Path(args.public).expanduser().resolve()}; ours: "
          f"{'preset reference, (2+1)D D_V, SN in G' if args.match_public else 'preset paper'}, "
          "fused F-SA after G3_3", flush=True)

    results = []
    for label, width, batch_key, attention, speed_target, mem_target in rows:
        batch = batches[batch_key]
        steps = args.steps if width < 1 else 1
        pair = {}
        for side in ("ours", "public"):
            r = _subprocess(args, side, width, attention, batch, steps)
            pair[side] = r
            print(f"  {label:<32} batch {batch:>3}  {side:<6} step {r['step_s']:8.3f} s  "
                  f"peak RSS {r['peak_rss_mb']:8.0f} MB (model {r['model_peak_mb']:7.0f} MB)  "
                  f"F-SA input {r['fsa_input']}", flush=True)
        results.append((label, batch, steps, pair, speed_target, mem_target))

    from rich.console import Console
    from rich.table import Table

    table = Table(title="one GAN step (D_V + D_I + G, fwd + bwd + Adam): public / ours")
    for col in ("configuration", "batch", "steps", "ours s", "public s", "speed public/ours",
                "ours MB", "public MB", "memory ours/public"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for label, batch, steps, pair, speed_target, mem_target in results:
        ours, pub = pair["ours"], pair["public"]
        table.add_row(label, str(batch), str(steps), f"{ours['step_s']:.3f}", f"{pub['step_s']:.3f}",
                      _fmt_ratio(pub["step_s"] / ours["step_s"], speed_target, True),
                      f"{ours['model_peak_mb']:.0f}", f"{pub['model_peak_mb']:.0f}",
                      _fmt_ratio(ours["model_peak_mb"] / max(pub["model_peak_mb"], 1e-9), mem_target, False))
    Console(width=None if sys.stdout.isatty() else 170).print(table)  # no 80-column wrap in logs
    print("MB: peak RSS minus the RSS after imports, per configuration's own process. Steps: median of the "
          "timed steps after one warm-up.")


if __name__ == "__main__":
    main()
