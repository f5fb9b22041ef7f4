"""Discrete-event check of a sized fleet with simpy: Poisson arrivals into c FIFO servers."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from capplan.planner.queueing import service_samples_s


def simulate_response_times_s(
    servers: int,
    arrival_per_s: float,
    mean_service_s: float,
    cv: float,
    *,
    requests: int = 20_000,
    seed: int = 0,
) -> np.ndarray:
    """Response times (s) of ``requests`` Poisson arrivals served FIFO by ``servers`` identical servers."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / arrival_per_s, size=requests)
    service = service_samples_s(rng, requests, mean_service_s, cv)
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=servers)
    out = np.empty(requests)

    def request(i: int) -> Generator[Any, Any, None]:
        arrived = env.now
        with pool.request() as slot:
            yield slot
            yield env.timeout(service[i])
        out[i] = env.now - arrived

    def source() -> Generator[Any, Any, None]:
        for i in range(requests):
            yield env.timeout(gaps[i])
            env.process(request(i))

    env.process(source())
    env.run()
    return out
