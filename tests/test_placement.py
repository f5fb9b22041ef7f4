"""vCPU placement: the hand-off probe, the session reference, waiting for it, and what measurements do
when the host keeps the vCPUs apart (windows re-measured, then kept, counted and flagged noisy).

The host's placement cannot be chosen from inside a test, so the tests move the *reference* instead:
one far below any real probe makes every window "apart"; one far above is replaced by the first probe.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from capplan.hardware import placement
from capplan.harness import runner
from capplan.harness.kinds.dispatch import DispatchParams
from capplan.harness.runner import PlannedBenchmark, placement_summary, run_benchmarks
from capplan.harness.spec import BenchmarkSpec, Budget
from capplan.harness.timing import PLACEMENT_EXTRA_TIME, measure
from capplan.results.schema import Status
from capplan.results.stats import is_noisy, summarize
from capplan.results.store import Store

UNREACHABLE_US = 1e-3  # 1 ns a hand-off: every real probe is "apart" from it
ALWAYS_US = 1e6  # 1 s a hand-off: no real probe is
BUDGET = Budget(warmup_min_iters=1, warmup_max_s=0.05, min_iters=10, max_iters=100_000, min_time_s=0.0,
                max_time_s=0.5, target_rel_ci=1e-9)


@pytest.fixture(autouse=True)
def two_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two intra-op threads (the probe needs a hand-off), the gate on, and a fresh session reference."""
    monkeypatch.delenv(placement.GATE_ENV, raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    placement.reset()
    yield
    placement.reset()
    torch.set_num_threads(threads)


def test_probe_measures_a_hand_off_only_with_two_threads_and_the_gate_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    probe = placement.handoff_us()
    assert probe is not None and 0.05 < probe < 10_000  # µs: above a clock read, below 10 ms
    torch.set_num_threads(1)
    assert placement.handoff_us() is None  # one thread hands nothing off
    torch.set_num_threads(2)
    monkeypatch.setenv(placement.GATE_ENV, "0")
    assert placement.handoff_us() is None and placement.settle(5.0) == (0.0, True)


def test_reference_is_the_fastest_probe_and_apart_means_above_it_by_the_ratio() -> None:
    assert placement.reference_us() is None and not placement.is_shifted(8.5)  # nothing to judge by yet
    for probe in (8.5, 6.4, 7.0, None, -1.0):
        placement.note(probe)
    assert placement.reference_us() == 6.4  # lowered only, and only by real probes
    assert placement.is_shifted(8.5) and not placement.is_shifted(6.4 * placement.SHIFTED_RATIO)
    assert not placement.is_shifted(None)
    assert placement.is_shifted(2.0, reference=1.0) and not placement.is_shifted(2.0, reference=1.9)


def test_settle_gives_up_at_its_timeout_when_the_reference_is_out_of_reach() -> None:
    placement.reset(UNREACHABLE_US)
    t0 = time.perf_counter()
    waited, reached = placement.settle(0.3)
    assert not reached and 0.3 <= waited <= time.perf_counter() - t0 < 2.0


def test_settle_returns_at_once_in_the_reference_and_takes_its_first_probes_spaced() -> None:
    placement.reset(ALWAYS_US)
    waited, reached = placement.settle(5.0)
    assert reached and waited < 0.5
    placement.reset()
    waited, reached = placement.settle(5.0, min_probes=3)  # a session's first reference: several probes
    assert reached and waited >= 2 * placement.SETTLE_SLEEP_S
    assert placement.reference_us() is not None


def test_windows_taken_apart_are_re_measured_then_kept_counted_and_flagged_noisy() -> None:
    placement.reset(UNREACHABLE_US)
    t0 = time.perf_counter()
    samples = measure(lambda: time.sleep(0.001), budget=BUDGET)
    elapsed = time.perf_counter() - t0
    # every judged window was apart: dropped, waited on, re-measured within the extra time; then, with
    # no rounds in the reference placement, all were kept rather than returning nothing
    assert samples.shifted_kept == len(samples) > 0 and samples.shifted_dropped == 0
    assert elapsed >= BUDGET.max_time_s * (1 + PLACEMENT_EXTRA_TIME)  # the re-measuring happened
    assert elapsed < BUDGET.max_time_s * (1 + PLACEMENT_EXTRA_TIME) + 3.0  # and stopped
    stats = summarize(samples)
    assert stats["shifted_kept"] == len(samples) and is_noisy(stats, target_rel_ci=1.0)


def test_with_the_gate_off_nothing_is_probed_dropped_or_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    placement.reset(UNREACHABLE_US)
    monkeypatch.setenv(placement.GATE_ENV, "0")
    t0 = time.perf_counter()
    off = measure(lambda: time.sleep(0.001), budget=BUDGET)
    assert off.shifted_kept == off.shifted_dropped == 0 and len(off) > 0
    assert time.perf_counter() - t0 < BUDGET.max_time_s * (1 + PLACEMENT_EXTRA_TIME)  # no re-measuring
    assert placement.run_in_reference(lambda: 7) == (7, 0, True)


def test_windows_are_judged_again_against_the_reference_found_later() -> None:
    """A window probed before a faster placement was first seen counts as taken apart at the end."""
    placement.reset(ALWAYS_US)
    calls = 0

    def call() -> None:
        nonlocal calls
        calls += 1
        time.sleep(0.001)
        if calls == 150:  # ~0.15 s in: a far faster hand-off is seen (as when the vCPUs come together)
            placement.note(UNREACHABLE_US)

    samples = measure(call, budget=BUDGET.model_copy(update={"max_time_s": 0.3}))
    assert samples.shifted_dropped + samples.shifted_kept >= len(samples) // 2 > 0


def test_whole_run_kinds_run_again_while_apart_and_say_so() -> None:
    runs = []
    placement.reset(UNREACHABLE_US)
    result, reruns, placed = placement.run_in_reference(lambda: runs.append(1) or len(runs), settle_s=0.05)
    assert (result, reruns, placed) == (1 + placement.RERUNS, placement.RERUNS, False)
    runs.clear()
    placement.reset(ALWAYS_US)
    assert placement.run_in_reference(lambda: runs.append(1) or len(runs)) == (1, 0, True)


def test_runner_runs_a_benchmark_again_that_kept_rounds_from_another_placement(tmp_path: Path) -> None:
    """The parent's session reference reaches the child: one no host can reach makes every round
    "apart", so the benchmark is run once more from the start and the record says so."""
    store = Store(str(tmp_path / "runs.db"))
    spec = BenchmarkSpec(name="add", kind="dispatch", params={"ops": ["add"]},
                         budget=Budget(warmup_max_s=0.02, min_iters=5, min_time_s=0.0, max_time_s=0.1))
    planned = [PlannedBenchmark(spec, DispatchParams.model_validate(spec.params).model_dump())]
    placement.reset(UNREACHABLE_US)
    (event,) = run_benchmarks(planned, store, suite=None)
    record = event.record
    assert record is not None and record.status is Status.ok
    assert record.telemetry["placement_retries"] == runner.PLACEMENT_RETRIES == 1
    assert record.telemetry["placement_reached"] == 0.0  # it waited its 2 s at the start, in vain
    assert record.metrics[0].stats["shifted_kept"] > 0 and record.metrics[0].noisy
    assert placement_summary([record])[1] == 1 and len(store.query()) == 1  # one record per benchmark
