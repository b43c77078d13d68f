"""bench_model --rounds: one configuration's rounds reduced to one row (benchmarks/bench_model.py)."""

import subprocess
import sys

import pytest

from tests.helpers import BENCHMARKS, load_benchmark


def _run(step_s, rss):
    return dict(preset="paper", width=0.125, attention="fused", r1_gamma=0.0, batch=16, g_forward_ms_per_clip=30.0,
                step_s=step_s, clips_per_s=16 / step_s, peak_rss_mb=rss, model_peak_mb=rss - 200,
                step_gflop=11.7, attention_gflop=1.9, achieved_gflops=11.7 / step_s, matmul_gflops=330.0)


@pytest.mark.parametrize("steps, median", [([0.73, 0.34, 0.32], 0.34), ([0.5, 0.3, 0.4, 0.6], 0.4), ([0.45], 0.45)])
def test_the_median_round_is_reported_whole_with_the_spread(steps, median):
    bench = load_benchmark("bench_model")
    runs = [_run(s, 700 + i) for i, s in enumerate(steps)]
    row = bench.median_run(runs)
    chosen = next(r for r in runs if r["step_s"] == median)
    # the median round's own figures (its GFLOP/s and memory belong to that step), never a mix of rounds
    assert {k: row[k] for k in chosen} == chosen
    assert (row["rounds"], row["step_s_min"], row["step_s_max"]) == (len(steps), min(steps), max(steps))
    line = bench.row_line(row)
    assert f"step {median:7.2f} s" in line
    assert (f"[{min(steps):.2f}-{max(steps):.2f} over {len(steps)}]" in line) == (len(steps) > 1)


def test_rounds_below_one_is_refused_before_any_work():
    out = subprocess.run([sys.executable, str(BENCHMARKS / "bench_model.py"), "--rounds", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "--rounds must be at least 1" in out.stderr
