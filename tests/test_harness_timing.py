"""Adaptive timing: warm-up, batching of fast calls, stopping rules, per-unit scaling."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest
import torch

from capplan.hardware.telemetry import CONTENDED_OTHERS_PCT, OthersCpu
from capplan.harness.spec import Budget
from capplan.harness.timing import MIN_ROUND_S, PerfCounterTimer, calls_per_round, measure, timer_for
from capplan.results.stats import summarize

TINY = Budget(
    warmup_min_iters=1, warmup_max_s=0.05, min_iters=5, max_iters=50, min_time_s=0.0, max_time_s=0.3
)


def test_sleep_is_never_measured_shorter_than_it_lasts() -> None:
    samples = measure(lambda: time.sleep(0.002), budget=TINY)
    assert 5 <= len(samples) <= 50
    assert min(samples) >= 0.002  # a lower bound only: the machine may be slow, never faster than sleep


def test_fast_calls_are_batched_and_reported_per_call() -> None:
    calls = 0

    def tick() -> None:
        nonlocal calls
        calls += 1

    samples = measure(tick, budget=TINY, drop_contended=False)
    assert calls > 10 * len(samples)  # many calls per timed round
    assert statistics.median(samples) < MIN_ROUND_S  # each sample is per call, not per round
    assert samples.calls_per_sample > 1 and "p99" not in summarize(samples)  # no tail from round means
    assert (
        calls_per_round(1e-6) > 1 and calls_per_round(1.0) == 1 and calls_per_round(0.0) > 1
    )  # 0: below clock resolution


def test_per_call_timing_times_every_call_alone() -> None:
    calls = 0

    def tick() -> None:
        nonlocal calls
        calls += 1

    before = calls
    samples = measure(tick, budget=TINY.model_copy(update={"max_iters": 300}), per_call=True,
                      drop_contended=False)
    warm_up = TINY.warmup_min_iters
    assert samples.calls_per_sample == 1 and len(samples) == 300
    assert calls - before >= 300 and calls - before <= 300 + max(warm_up, 6) + 50  # warm-up calls, no rounds
    assert "p99" in summarize(samples)


def test_budget_caps_iterations_and_stops_early_when_the_ci_is_tight() -> None:
    capped = measure(lambda: None, budget=TINY.model_copy(update={"max_iters": 7, "max_time_s": 10}))
    assert len(capped) == 7
    # a constant-cost call reaches a 50% CI at the first 0.2 s host-load window (~180 rounds of a 1 ms
    # sleep) and stops long before max_iters (10 s of 1 ms rounds would be ~9000)
    loose = TINY.model_copy(update={"target_rel_ci": 0.5, "max_iters": 10_000, "max_time_s": 10})
    assert len(measure(lambda: time.sleep(0.001), budget=loose, drop_contended=False)) < 1000


def _spinners(n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` processes that burn a CPU core each for at most 20 s (they stop by themselves)."""
    code = "import time\nend = time.time() + 20\nwhile time.time() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def test_other_processes_load_is_seen_and_contended_rounds_are_dropped_or_counted() -> None:
    spinners = _spinners(2)  # two busy cores' worth of other processes: far above the threshold on any host
    try:
        time.sleep(0.3)  # let them start
        meter = OthersCpu()
        time.sleep(0.5)
        assert meter.others_pct() > CONTENDED_OTHERS_PCT
        budget = TINY.model_copy(update={"max_time_s": 1.0, "min_iters": 10, "max_iters": 100_000})
        samples = measure(lambda: time.sleep(0.001), budget=budget)
        # every judged window was contended: its rounds were dropped and re-measured; if no clean rounds
        # came, they were kept (and counted) rather than returning nothing. Only a last window shorter
        # than a quarter window (< 0.05 s, ~45 rounds) is too short to judge.
        assert samples.contended_dropped + samples.contended_kept >= len(samples) // 2
        stats = summarize(samples)
        assert stats["contended_kept"] + stats["contended_dropped"] > 0
        off = measure(lambda: time.sleep(0.001), budget=budget, drop_contended=False)
        assert off.contended_kept == off.contended_dropped == 0
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def test_per_iter_units_divides_each_sample() -> None:
    samples = measure(lambda: time.sleep(0.002), budget=TINY, per_iter_units=1000)
    assert all(s >= 0.002 / 1000 for s in samples) and max(samples) < 0.002


def test_sync_runs_before_every_clock_read() -> None:
    syncs = 0

    def sync() -> None:
        nonlocal syncs
        syncs += 1

    timer = PerfCounterTimer(sync)
    timer.start()
    assert timer.stop() >= 0 and syncs == 2
    assert isinstance(timer_for("cpu"), PerfCounterTimer)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_event_timer_times_gpu_work() -> None:
    a = torch.randn(2048, 2048, device="cuda")
    samples = measure(lambda: a @ a, budget=TINY, timer=timer_for("cuda"))
    assert len(samples) >= 5 and min(samples) > 0
