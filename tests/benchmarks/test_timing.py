"""benchmarks/timing.py: the one stopwatch every benchmark times its calls with."""

import pytest

from tests.helpers import load_benchmark


class _Clock:
    """A clock each call of ``work`` advances by the next of ``durations`` (the first is the warm-up's)."""

    def __init__(self, durations):
        self.now, self.durations, self.calls = 0.0, list(durations), 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.now += self.durations[self.calls]
        self.calls += 1


@pytest.mark.parametrize("warmup, durations, median", [
    (1, [100.0, 5.0, 1.0, 3.0], 3.0),    # the slow first call is not timed
    (0, [100.0, 5.0, 1.0], 5.0),         # bench_public warms up itself (with its shape hook), then times all
    (2, [9.0, 8.0, 2.0, 4.0], 3.0),      # an even count: the mean of the middle two
])
def test_median_of_the_timed_calls_only(warmup, durations, median):
    timing = load_benchmark("timing")
    clock = _Clock(durations)
    n = len(durations) - warmup
    assert timing.median_seconds(clock.work, n, warmup=warmup, clock=clock) == median
    assert clock.calls == len(durations)


def test_no_timed_call_is_refused():
    timing = load_benchmark("timing")
    with pytest.raises(ValueError, match="n must be at least 1"):
        timing.median_seconds(lambda: None, 0)
