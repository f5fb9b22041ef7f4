"""Discrete-event simulation of one LLM replica under continuous batching (used by the LLM projection in
capplan.planner.llm and, for ``plan --verify``, by ``verify_llm_fleet``).

Poisson arrivals; every request has the same prompt and output length. Each iteration the scheduler first
admits every waiting request the batch has room for (the KV-cache limit), prefilling them one after another
(``prefill_s`` each; a request's first token comes at the end of its prefill; requests arriving meanwhile
are admitted too), then runs one decode step that gives every running sequence its next token and takes
``step_s[b - 1]`` seconds for b running sequences (prefill first, as vLLM's default scheduler). Since all
sequences advance together, they leave in admission order after ``output_tokens - 1`` steps.
TTFT = first token - arrival; TPOT = (last token - first token) / (output tokens - 1).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from capplan.results.serving import percentile_ci

SIM_REQUESTS = 6_000  # per simulated load point: 60 requests beyond the p99, a CI of a few percent
WARMUP_FRACTION = 0.1  # the first requests meet an empty replica; they are left out of the percentiles


@dataclass
class LlmSimulation:
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    mean_batch: float

    def p99_ms(self, *, upper: bool = False) -> tuple[float, float]:
        """(TTFT p99, TPOT p99) in ms, after the warm-up requests; with ``upper``, the upper bound of each
        p99's 95 % confidence interval (what sizing uses: another sample of the same load stays below it
        with 95 % confidence)."""
        skip = int(WARMUP_FRACTION * self.ttft_s.size)

        def p99(values: np.ndarray) -> float:
            found = percentile_ci(values[skip:], 99.0)
            if found is None:
                return float(values[skip:].max())
            return found[2] if upper else found[0]

        return 1e3 * p99(self.ttft_s), 1e3 * p99(self.tpot_s)


def unit_gaps(requests: int = SIM_REQUESTS, seed: int = 0) -> np.ndarray:
    """Exponential inter-arrival gaps of mean 1; divided by a rate they are that rate's Poisson gaps (the
    same draws at every rate keep a search over rates monotone)."""
    return np.random.default_rng(seed).exponential(1.0, requests)


def simulate_llm_replica(
    arrival_per_s: float,
    prefill_s: float,
    step_s: np.ndarray,
    output_tokens: int,
    max_batch: int,
    *,
    gaps: np.ndarray | None = None,
) -> LlmSimulation:
    """TTFT and TPOT of Poisson arrivals (``gaps`` of mean 1, scaled by the rate) on one replica."""
    if max_batch < 1 or output_tokens < 1 or arrival_per_s <= 0:
        raise ValueError("max_batch, output_tokens and arrival_per_s must be positive")
    gaps = unit_gaps() if gaps is None else gaps
    arrivals = np.cumsum(gaps) / arrival_per_s
    n = arrivals.size
    first = np.empty(n)
    last = np.empty(n)
    running: deque[tuple[int, int]] = deque()  # (request, the step count at which it has its last token)
    t, steps, nxt, busy_area = 0.0, 0, 0, 0.0
    waiting: deque[int] = deque()
    while nxt < n or waiting or running:
        while nxt < n and arrivals[nxt] <= t:
            waiting.append(nxt)
            nxt += 1
        if not waiting and not running:
            t = float(arrivals[nxt])
            continue
        if waiting and len(running) < max_batch:
            while waiting and len(running) < max_batch:
                i = waiting.popleft()
                t += prefill_s
                first[i] = t
                if output_tokens == 1:
                    last[i] = t
                else:
                    running.append((i, steps + output_tokens - 1))
            continue  # requests that arrived during the prefills are admitted before the next step
        dt = float(step_s[len(running) - 1])
        busy_area += dt * len(running)
        t += dt
        steps += 1
        while running and running[0][1] <= steps:
            last[running.popleft()[0]] = t
    tpot = (last - first) / max(output_tokens - 1, 1)
    return LlmSimulation(ttft_s=first - arrivals, tpot_s=tpot, mean_batch=busy_area / max(t, 1e-12))


def verify_llm_fleet(
    peak_per_s: float,
    replicas: int,
    prefill_s: float,
    step_s: np.ndarray,
    output_tokens: int,
    max_batch: int,
    *,
    seed: int = 0,
) -> tuple[float, float]:
    """(TTFT p99, TPOT p99) in ms of a fleet of ``replicas`` at ``peak_per_s``, load split evenly (each
    replica sees a Poisson stream of peak / replicas): the check ``plan --verify`` runs on an LLM fit."""
    if replicas < 1:
        raise ValueError("replicas must be >= 1")
    sim = simulate_llm_replica(
        peak_per_s / replicas, prefill_s, step_s, output_tokens, max_batch, gaps=unit_gaps(seed=seed)
    )
    return sim.p99_ms()
