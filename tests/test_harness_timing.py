"""Adaptive timing: warm-up, batching of fast calls, stopping rules, per-unit scaling."""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from capplan.harness.spec import Budget
from capplan.harness.timing import MIN_ROUND_S, PerfCounterTimer, calls_per_round, measure, timer_for

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

    samples = measure(tick, budget=TINY)
    assert calls > 10 * len(samples)  # many calls per timed round
    assert statistics.median(samples) < MIN_ROUND_S  # each sample is per call, not per round
    assert (
        calls_per_round(1e-6) > 1 and calls_per_round(1.0) == 1 and calls_per_round(0.0) > 1
    )  # 0: below clock resolution


def test_budget_caps_iterations_and_stops_early_when_the_ci_is_tight() -> None:
    capped = measure(lambda: None, budget=TINY.model_copy(update={"max_iters": 7, "max_time_s": 10}))
    assert len(capped) == 7
    # a constant-cost call reaches a 50% CI after min_iters and stops long before max_iters
    loose = TINY.model_copy(update={"target_rel_ci": 0.5, "max_iters": 10_000, "max_time_s": 10})
    assert len(measure(lambda: time.sleep(0.001), budget=loose)) < 100


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
