"""Arrival schedules: send offsets (s) for open-loop load at a request rate.

- constant: every 1/rate seconds;
- poisson: exponential gaps with mean 1/rate;
- gamma: gamma gaps with shape ``burstiness`` and mean 1/rate (vLLM's ``--burstiness``: 1 is Poisson,
  below 1 burstier, above 1 more regular).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Arrival = Literal["constant", "poisson", "gamma"]
ARRIVALS: tuple[str, ...] = ("constant", "poisson", "gamma")


def arrival_offsets_s(
    n: int, rate_rps: float, arrival: Arrival = "poisson", *, burstiness: float = 1.0, seed: int = 0
) -> list[float]:
    """Offsets from the run's start at which each of ``n`` requests is due; the first is due at 0."""
    if rate_rps <= 0 or not np.isfinite(rate_rps):
        raise ValueError(f"rate must be a positive number of requests/s, got {rate_rps!r}")
    if n <= 0:
        return []
    mean_gap = 1.0 / rate_rps
    rng = np.random.default_rng(seed)
    if arrival == "constant":
        gaps = np.full(n - 1, mean_gap)
    elif arrival == "poisson":
        gaps = rng.exponential(mean_gap, n - 1)
    else:
        gaps = rng.gamma(burstiness, mean_gap / burstiness, n - 1)
    return [0.0, *np.cumsum(gaps).tolist()]
