"""Queueing sizing: textbook values, monotonicity, N+k, and a simpy simulation of the sized fleet."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from capplan.planner.availability import replica_availability, spares_for_availability
from capplan.planner.queueing import erlang_c, response_quantile_s, response_tail, servers_for_quantile
from capplan.planner.simulate import simulate_response_times_s


def test_erlang_c_textbook_values() -> None:
    # M/M/2 with a = 1 Erlang: C = (a^2/2! * 2/(2-1)) / (1 + a + a^2/2! * 2/(2-1)) = 1/3
    assert float(erlang_c(2, 1.0)) == pytest.approx(1 / 3)
    # M/M/1: P(wait) = rho
    assert float(erlang_c(1, 0.7)) == pytest.approx(0.7)
    assert float(erlang_c(3, 3.5)) == 1.0  # unstable: everyone waits
    assert float(erlang_c(3, 0.0)) == 0.0


def test_mm1_response_tail_is_exponential() -> None:
    # M/M/1 sojourn time ~ Exp(mu - lambda)
    lam, s = 6.0, 0.1
    for t in (0.05, 0.2, 1.0):
        assert float(response_tail(t, 1, lam, s, 1.0)) == pytest.approx(
            math.exp(-(1 / s - lam) * t), rel=1e-6
        )


def test_deterministic_service_without_queueing() -> None:
    # almost no load on many servers: response time = service time
    assert float(response_tail(0.099, 50, 0.01, 0.1, 0.0)) == pytest.approx(1.0)
    assert float(response_tail(0.101, 50, 0.01, 0.1, 0.0)) == pytest.approx(0.0, abs=1e-12)


def test_infeasible_and_idle() -> None:
    # exponential service with mean 50 ms: P(S > 200 ms) = e^-4 = 1.8 % > 1 %, so no fleet meets p99 = 200 ms
    assert int(servers_for_quantile(100, 0.05, 1.0, 0.2)) == -1
    assert int(servers_for_quantile(0.0, 0.05, 1.0, 0.25)) == 0


@settings(max_examples=40, deadline=None)
@given(
    lam=st.floats(0.5, 2000),
    k=st.floats(1.0, 3.0),
    s=st.floats(0.002, 0.1),
    cv=st.sampled_from([0.0, 0.3, 0.7, 1.0]),
    slack=st.floats(5.0, 10.0),
)
def test_more_traffic_never_needs_fewer_servers(
    lam: float, k: float, s: float, cv: float, slack: float
) -> None:
    c1, c2 = servers_for_quantile(np.array([lam, lam * k]), s, cv, s * slack)
    assert c1 >= 1 and c2 >= c1
    # and the answer is minimal: one server fewer misses the SLO
    if c1 > math.floor(lam * s) + 1:
        assert float(response_tail(s * slack, c1 - 1, lam, s, cv)) > 0.01


@pytest.mark.parametrize(
    ("lam", "s", "cv", "slo"),
    [
        (100.0, 0.05, 1.0, 0.25),  # M/M/c: exact tail
        (100.0, 0.05, 0.0, 0.06),  # M/D/c: Allen-Cunneen approximation, tight SLO
        (500.0, 0.02, 0.5, 0.06),  # M/G/c with gamma service
    ],
)
def test_simulated_fleet_meets_the_p99_it_was_sized_for(lam: float, s: float, cv: float, slo: float) -> None:
    c = int(servers_for_quantile(lam, s, cv, slo))
    times = simulate_response_times_s(c, lam, s, cv, requests=20_000, seed=1)
    p99 = float(np.quantile(times[2_000:], 0.99))  # first 10 % is warm-up from an empty system
    assert p99 <= slo * 1.05
    predicted = response_quantile_s(0.99, c, lam, s, cv)
    assert predicted <= slo
    assert p99 == pytest.approx(predicted, rel=0.10)  # the model tracks the simulation, not just the bound


def test_spares_for_availability_hand_computed() -> None:
    a = replica_availability(2, mtbf_h=1000.0, mttr_h=10.0)
    assert a == pytest.approx((1000 / 1010) ** 2)
    # one replica needed: P(at least 1 of 1+k up) = 1 - (1-a)^(1+k)
    expected = next(k for k in range(10) if 1 - (1 - a) ** (1 + k) >= 0.9999)
    assert spares_for_availability(np.array([1, 0]), a, 0.9999).tolist() == [expected, 0]
    needed = np.arange(1, 60)
    got = spares_for_availability(needed, a, 0.999)
    brute = [next(k for k in range(60) if binom.cdf(k, n + k, 1 - a) >= 0.999) for n in needed]
    assert got.tolist() == brute
    assert all(np.diff(needed + got) >= 0)  # more replicas needed never means fewer in total
