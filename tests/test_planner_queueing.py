"""Queueing sizing: textbook values, monotonicity, N+k, and a simpy simulation of the sized fleet."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from capplan.planner.availability import replica_availability, spares_for_availability
from capplan.planner.queueing import (
    erlang_c,
    response_quantile_s,
    response_tail,
    servers_for_quantile,
    service_samples_s,
)
from capplan.planner.simulate import requests_for, simulate_response_times_s
from capplan.planner.verify import simulate_p99, verified_servers


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
        (500.0, 0.02, 0.5, 0.06),  # M/G/c with gamma service (M/D/c: the next test)
    ],
)
def test_verified_fleet_meets_the_p99_on_fresh_seeds(lam: float, s: float, cv: float, slo: float) -> None:
    """The formula sizes, the simulation adds servers until the p99's upper bound over five seeds meets the
    SLO; five other seeds (never used for sizing) then must meet it too: simulated p99 <= SLO, no
    tolerance."""
    analytic = int(servers_for_quantile(lam, s, cv, slo))
    c, at_analytic, verified = verified_servers(lam, s, cv, slo, analytic)
    assert c >= analytic and verified.p99_s <= verified.upper_s <= slo
    assert simulate_p99(c, lam, s, cv, seeds=(10, 11, 12, 13, 14)).p99_s <= slo
    predicted = response_quantile_s(0.99, analytic, lam, s, cv)
    assert predicted <= slo
    # the formula tracks the simulation at its own fleet, not just the bound
    assert at_analytic.p99_s == pytest.approx(predicted, rel=0.10)


def _simpy_response_times_s(servers: int, lam: float, s: float, cv: float, requests: int,
                            seed: int) -> np.ndarray:
    """The same FIFO c-server queue as a simpy process model (the reference for the fast recursion)."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / lam, size=requests)
    service = service_samples_s(rng, requests, s, cv)
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=servers)
    out = np.empty(requests)

    def request(i: int):  # type: ignore[no-untyped-def]
        arrived = env.now
        with pool.request() as slot:
            yield slot
            yield env.timeout(service[i])
        out[i] = env.now - arrived

    def source():  # type: ignore[no-untyped-def]
        for i in range(requests):
            yield env.timeout(gaps[i])
            env.process(request(i))

    env.process(source())
    env.run()
    return out


@pytest.mark.parametrize(("servers", "lam", "s", "cv"), [(3, 50.0, 0.05, 0.0), (4, 70.0, 0.05, 0.7)])
def test_fifo_recursion_reproduces_the_simpy_model(servers: int, lam: float, s: float, cv: float) -> None:
    fast = simulate_response_times_s(servers, lam, s, cv, requests=3000, seed=5)
    reference = _simpy_response_times_s(servers, lam, s, cv, 3000, 5)
    assert np.allclose(fast, reference, rtol=1e-9, atol=1e-12)


def test_runs_near_full_utilisation_are_long_enough_to_reach_steady_state() -> None:
    # 139 slots at 99.5 % utilisation (the CRM example's A10 fleet): beta = (139 - 138.3) / sqrt(138.3)
    # = 0.06, relaxation ~ 15.8 ms x 1.09 / 2 / 0.0036 = 2.4 s, so runs are capped at 2 million requests;
    # a light fleet keeps the 20 000 minimum
    assert requests_for(139, 8769.0, 0.01577, 0.3) == 2_000_000
    assert requests_for(20, 100.0, 0.05, 0.0) == 20_000
    # and the short run's p99 (empty start) reads far below the long run's
    short = np.quantile(simulate_response_times_s(139, 8769.0, 0.01577, 0.3, requests=20_000)[2_000:], 0.99)
    long = np.quantile(simulate_response_times_s(139, 8769.0, 0.01577, 0.3, requests=400_000)[40_000:], 0.99)
    assert short < 0.9 * long


def test_the_md_c_tail_formula_is_optimistic_and_verification_fixes_it() -> None:
    """M/D/c, 100 req/s, 50 ms service, 60 ms p99 SLO: the formula sizes 10 servers and puts the p99 at
    56.4 ms; simulated, that fleet's p99 is ~60 ms (seed 0 alone: 60.9 ms, the issue's finding), so
    verification adds an 11th server."""
    assert int(servers_for_quantile(100.0, 0.05, 0.0, 0.06)) == 10
    c, at_analytic, verified = verified_servers(100.0, 0.05, 0.0, 0.06, 10)
    assert at_analytic.per_seed_s[0] > 0.06 and at_analytic.upper_s > 0.06
    assert c == 11 and verified.upper_s <= 0.06
    assert simulate_p99(c, 100.0, 0.05, 0.0, seeds=(10, 11, 12, 13, 14)).p99_s <= 0.06  # fresh seeds


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
