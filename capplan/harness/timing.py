"""Adaptive timing of a callable: bounded warm-up, calibrated rounds, stop on a tight CI or the budget.

CPU timings use ``time.perf_counter_ns``; CUDA timings use CUDA events. Either way the device is
synchronised before the clock is read.

Contention. Rounds are grouped into windows of at least CONTENTION_WINDOW_S; after each window the
share of the host's CPU that other processes used during it is read (capplan.hardware.telemetry).
A window above CONTENDED_OTHERS_PCT is dropped and measured again, within CONTENDED_EXTRA_TIME of the
budget's max_time_s. If too few uncontended samples remain at the end, the contended ones are kept
instead. Both counts travel with the samples (``Samples.contended_dropped`` / ``contended_kept``) into
the metric's statistics, and kept contended rounds make the metric ``noisy``.

Placement. After each window the hand-off probe (capplan.hardware.placement) says whether the host has
moved the vCPUs apart from the session's reference placement. Such a window is dropped, the harness
idles until the reference placement is back, and measures again, within PLACEMENT_EXTRA_TIME of
max_time_s more; at the end every window is judged again against the session's final reference. Too
few rounds in the reference placement: the others are kept, counted (``shifted_kept``) and make the
metric ``noisy``. ``$CAPPLAN_PLACEMENT_GATE=0`` measures whatever placement the host gives.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, Protocol

from capplan.hardware import placement
from capplan.hardware.telemetry import CONTENDED_OTHERS_PCT, OthersCpu
from capplan.harness.spec import Budget
from capplan.results.stats import Samples, rel_ci_halfwidth

# A round lasts at least this long: calls faster than that are batched so the clock read costs
# < 1% of a round (perf_counter_ns costs ~50-100 ns), and the per-call time is round time / calls.
MIN_ROUND_S = 100e-6
# Warm-up is over when the median of the last WARMUP_WINDOW calls moves less than
# WARMUP_STABLE_REL from the window before (caches, allocator pools and JIT have settled).
WARMUP_WINDOW = 3
WARMUP_STABLE_REL = 0.05
# The stopping rule (median CI) is re-evaluated every CHECK_FRACTION * n samples: O(n log n)
# each time, amortised O(log n) per sample.
CHECK_FRACTION = 0.1
# Host-load windows: the kernel's CPU accounting ticks at 100 Hz, so a 0.2 s window on 2 cores has
# 40 ticks (2.5 % resolution against the 20 % threshold).
CONTENTION_WINDOW_S = 0.2
# Dropped (contended) windows are re-measured for at most this fraction of max_time_s more.
CONTENDED_EXTRA_TIME = 0.5
# Windows taken with the vCPUs moved apart (capplan.hardware.placement) are re-measured, after waiting
# for the reference placement, within this fraction of max_time_s more.
PLACEMENT_EXTRA_TIME = 1.0


class Timer(Protocol):
    """Times one round: ``start()`` then ``stop()`` returns elapsed seconds after synchronising."""

    def start(self) -> None: ...

    def stop(self) -> float: ...


class PerfCounterTimer:
    """Wall clock via perf_counter_ns; ``sync`` (e.g. torch.cuda.synchronize) runs before each read."""

    def __init__(self, sync: Callable[[], Any] | None = None) -> None:
        self._sync = sync
        self._t0 = 0

    def start(self) -> None:
        if self._sync:
            self._sync()
        self._t0 = time.perf_counter_ns()

    def stop(self) -> float:
        if self._sync:
            self._sync()
        return (time.perf_counter_ns() - self._t0) * 1e-9


class CudaEventTimer:
    """GPU time between two CUDA events on the current stream of ``device``."""

    def __init__(self, device: str = "cuda") -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._start.record(self._torch.cuda.current_stream(self._device))

    def stop(self) -> float:
        self._end.record(self._torch.cuda.current_stream(self._device))
        self._end.synchronize()
        return self._start.elapsed_time(self._end) * 1e-3  # elapsed_time is in ms


def timer_for(device: str) -> Timer:
    """CUDA events on a CUDA device, perf_counter_ns on the CPU."""
    return CudaEventTimer(device) if device.startswith("cuda") else PerfCounterTimer()


def _time_round(fn: Callable[[], Any], timer: Timer, calls: int) -> float:
    timer.start()
    for _ in range(calls):
        fn()
    return timer.stop() / calls


def _warm_up(fn: Callable[[], Any], budget: Budget, timer: Timer) -> list[float]:
    """Run ``fn`` until timings stabilise (at least warmup_min_iters calls, at most warmup_max_s)."""
    times: list[float] = []
    deadline = time.perf_counter() + budget.warmup_max_s
    while True:
        times.append(_time_round(fn, timer, 1))
        if len(times) >= max(budget.warmup_min_iters, 2 * WARMUP_WINDOW):
            recent = statistics.median(times[-WARMUP_WINDOW:])
            before = statistics.median(times[-2 * WARMUP_WINDOW : -WARMUP_WINDOW])
            if abs(recent - before) <= WARMUP_STABLE_REL * before:
                break
        if time.perf_counter() >= deadline and len(times) >= budget.warmup_min_iters:
            break
    return times


def calls_per_round(per_call_s: float, min_round_s: float = MIN_ROUND_S) -> int:
    """How many calls make a round of at least ``min_round_s``."""
    return max(1, int(min_round_s / max(per_call_s, 1e-9)) + 1) if per_call_s < min_round_s else 1


def measure(
    fn: Callable[[], Any],
    *,
    budget: Budget,
    sync: Callable[[], Any] | None = None,
    per_iter_units: float | None = None,
    timer: Timer | None = None,
    per_call: bool = False,
    drop_contended: bool = True,
) -> Samples:
    """Seconds per call of ``fn`` (or per unit of work when ``per_iter_units`` is given).

    Warm-up runs until timings stabilise (bounded by the budget). Then calls are timed in rounds
    until at least min_iters samples and min_time_s have passed and the median's 95% CI half-width
    is below target_rel_ci, or max_iters samples / max_time_s are reached. Calls faster than
    MIN_ROUND_S are batched so a round lasts >= MIN_ROUND_S and a sample is the round's mean per call
    (a throughput figure); ``per_call`` times every call on its own, as latency percentiles need.
    Windows of rounds taken while other processes used the CPU, or while the host had moved the vCPUs
    apart, are dropped and re-measured (module docs; ``drop_contended=False`` keeps every round).
    ``sync`` is called before every clock read (e.g. ``torch.cuda.synchronize``); ``timer`` replaces the
    wall clock (e.g. ``CudaEventTimer``).
    """
    timer = timer or PerfCounterTimer(sync)
    warm = _warm_up(fn, budget, timer)
    calls = 1 if per_call else calls_per_round(statistics.median(warm[-WARMUP_WINDOW:]))
    clean: list[tuple[list[float], float | None]] = []  # uncontended windows with their placement probe
    window: list[float] = []
    contended: list[float] = []
    shifted: list[float] = []
    dropped_s = shifted_s = 0.0
    n_clean = 0
    load = OthersCpu()
    gate = drop_contended and not isinstance(timer, CudaEventTimer)  # GPU time: host placement is moot

    def close_window(judge_load: bool = True, wait: bool = True) -> None:
        nonlocal window, dropped_s, shifted_s, n_clean
        busy = judge_load and drop_contended and load.others_pct() > CONTENDED_OTHERS_PCT
        probe = placement.handoff_us() if gate else None
        placement.note(probe)
        if busy:
            contended.extend(window)
            dropped_s += load.elapsed_s()
        elif placement.is_shifted(probe):
            shifted.extend(window)
            shifted_s += load.elapsed_s()
            if wait:  # idle until the vCPUs are back in the reference placement, within the extra time left
                left_s = PLACEMENT_EXTRA_TIME * budget.max_time_s - shifted_s
                shifted_s += placement.settle(max(0.0, left_s))[0]
        else:
            clean.append((window, probe))
            n_clean += len(window)
        window = []
        load.reset()

    def clean_samples() -> list[float]:
        return [s for w, _ in clean for s in w]

    started = time.perf_counter()
    next_check = budget.min_iters
    while n_clean + len(window) < budget.max_iters:
        window.append(_time_round(fn, timer, calls))
        elapsed = time.perf_counter() - started
        if load.elapsed_s() >= CONTENTION_WINDOW_S:
            close_window()
        extra_s = (min(dropped_s, CONTENDED_EXTRA_TIME * budget.max_time_s)
                   + min(shifted_s, PLACEMENT_EXTRA_TIME * budget.max_time_s))
        if elapsed >= budget.max_time_s + extra_s:
            break
        if n_clean >= next_check and elapsed >= budget.min_time_s:
            if rel_ci_halfwidth(clean_samples()) <= budget.target_rel_ci:
                break
            next_check = n_clean + max(1, int(CHECK_FRACTION * n_clean))
    if window:  # a last window shorter than a quarter window is too coarse to judge for host load
        close_window(judge_load=load.elapsed_s() >= CONTENTION_WINDOW_S / 4, wait=False)
    # Judge every window against the session's final reference: one probed before a faster placement
    # was first seen may have been taken while the vCPUs were apart.
    samples: list[float] = []
    for w, probe in clean:
        (shifted if placement.is_shifted(probe) else samples).extend(w)
    kept_shifted = kept = 0
    if len(samples) < budget.min_iters and shifted:  # too few rounds in the reference placement
        kept_shifted = min(len(shifted), budget.max_iters)
        samples = (shifted + samples)[: budget.max_iters]
    if len(samples) < budget.min_iters and contended:  # too few clean rounds: keep the contended ones
        kept = min(len(contended), budget.max_iters)
        samples = (contended + samples)[: budget.max_iters]
    units = per_iter_units or 1.0
    return Samples(
        (s / units for s in samples),
        calls_per_sample=calls,
        contended_dropped=len(contended) - kept,
        contended_kept=kept,
        shifted_dropped=len(shifted) - kept_shifted,
        shifted_kept=kept_shifted,
    )
