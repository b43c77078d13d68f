"""How every benchmark times a call: the median wall time of ``n`` calls after untimed warm-up.

One place for it, so ``bench_model``, ``bench_attention`` and ``bench_public`` (ours against the
public code) time alike: a difference between their figures is the work's, not the stopwatch's.
The first call of a configuration pays for allocator growth, oneDNN primitive creation and lazy
module set-up, so it is never timed.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(call: Callable[[], object], n: int, warmup: int = 1,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """The median of ``n`` timed calls of ``call``, after ``warmup`` untimed ones."""
    if n < 1:
        raise ValueError(f"median_seconds: n must be at least 1, got {n}")
    for _ in range(warmup):
        call()
    times = []
    for _ in range(n):
        t = clock()
        call()
        times.append(clock() - t)
    return statistics.median(times)
