"""Statistics engine against known distributions (scipy.stats gives the reference quantiles)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from capplan.harness.metrics import add_metric
from capplan.harness.spec import KindResult
from capplan.results.stats import (
    NOISY_CV,
    median_ci,
    metric_from_samples,
    rel_ci_halfwidth,
    summarize,
)

N = 200_000
RNG = np.random.default_rng(12345)


@pytest.mark.parametrize(
    "dist",
    [sps.norm(loc=10.0, scale=0.5), sps.lognorm(s=0.4, scale=2.0), sps.uniform(loc=1.0, scale=3.0)],
    ids=["normal", "lognormal", "uniform"],
)
def test_quantiles_and_moments_match_the_distribution(dist) -> None:  # type: ignore[no-untyped-def]
    x = dist.rvs(size=N, random_state=RNG)
    s = summarize(x)
    # sampling error of a quantile is ~ sqrt(p(1-p)/n)/pdf; 1% relative tolerance is many of those
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        assert s[key] == pytest.approx(dist.ppf(q), rel=0.01), key
    assert s["p999"] == pytest.approx(dist.ppf(0.999), rel=0.03)
    assert s["mean"] == pytest.approx(dist.mean(), rel=0.01)
    assert s["stdev"] == pytest.approx(dist.std(), rel=0.02)
    assert s["cv"] == pytest.approx(dist.std() / dist.mean(), rel=0.02)
    assert s["iqr"] == pytest.approx(dist.ppf(0.75) - dist.ppf(0.25), rel=0.02)
    assert s["median"] == s["p50"] and s["min"] <= s["p50"] <= s["max"] and s["n"] == N


def test_outlier_count_follows_tukeys_fences() -> None:
    # the normal's mass beyond Q1 - 1.5 IQR or Q3 + 1.5 IQR is 2 * Phi(-2.698) = 0.70 %
    x = sps.norm.rvs(size=N, random_state=RNG)
    expected = 2 * sps.norm.cdf(-(sps.norm.ppf(0.75) + 1.5 * 2 * sps.norm.ppf(0.75)))
    assert summarize(x)["outliers"] / N == pytest.approx(expected, rel=0.1)
    assert summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000])["outliers"] == 1


def test_noisy_flag_uses_the_cv_threshold() -> None:
    quiet = sps.norm(loc=100, scale=100 * NOISY_CV / 2).rvs(size=5000, random_state=RNG)
    loud = sps.norm(loc=100, scale=100 * NOISY_CV * 2).rvs(size=5000, random_state=RNG)
    assert summarize(quiet)["noisy"] == 0.0
    assert summarize(loud)["noisy"] == 1.0


def test_median_ci_covers_the_true_median_about_95_percent_of_the_time() -> None:
    dist = sps.lognorm(s=0.5)
    true_median = dist.median()
    trials = 2000
    hits = 0
    for _ in range(trials):
        x = np.sort(dist.rvs(size=31, random_state=RNG))
        lo, hi = median_ci(x)
        hits += lo <= true_median <= hi
    # order-statistic intervals are conservative: coverage >= 95 %, and not absurdly wide
    assert 0.93 <= hits / trials <= 0.995


def test_ci_shrinks_with_more_samples_and_is_undefined_for_one() -> None:
    dist = sps.norm(loc=50, scale=5)
    small, large = (
        rel_ci_halfwidth(dist.rvs(size=20, random_state=RNG)),
        rel_ci_halfwidth(dist.rvs(size=2000, random_state=RNG)),
    )
    assert large < small
    assert math.isinf(rel_ci_halfwidth([1.0]))
    assert "ci95_rel" not in summarize([1.0]) and summarize([1.0])["stdev"] == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False), min_size=1, max_size=60))
def test_summary_invariants(xs: list[float]) -> None:
    s = summarize(xs)
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["p999"] <= s["max"]
    assert s["stdev"] >= 0 and s["iqr"] >= 0 and 0 <= s["outliers"] < len(xs)


def test_bad_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarize([])
    with pytest.raises(ValueError, match="finite"):
        summarize([1.0, float("nan")])


def test_metric_from_time_samples_converts_units_and_direction() -> None:
    seconds = [0.010, 0.011, 0.009, 0.010, 0.012]
    flops = 2e9
    m = metric_from_samples(
        "tflops", seconds, "TFLOP/s", scale=flops / 1e12, invert=True, peak=1.0, peak_source="test"
    )
    assert m.value == pytest.approx(flops / 0.010 / 1e12)  # median of the rates = rate at the median time
    assert m.stats["max"] == pytest.approx(flops / 0.009 / 1e12) and m.pct_of_peak == pytest.approx(20.0)
    latency = metric_from_samples(
        "latency_ms", seconds, "ms", scale=1e3, higher_is_better=False, headline="p99"
    )
    assert (
        latency.value == pytest.approx(np.percentile([10, 11, 9, 10, 12], 99))
        and not latency.higher_is_better
    )
    with pytest.raises(ValueError, match="headline"):
        metric_from_samples("x", seconds, "s", headline="mode")


def test_add_metric_keeps_values_in_the_metric_unit() -> None:
    result = KindResult(metrics=[])
    add_metric(result, "latency_us", [1e-6, 2e-6, 3e-6], "µs", scale=1e6, higher_is_better=False)
    assert result.samples["latency_us"] == pytest.approx([1.0, 2.0, 3.0])
    assert result.metrics[0].value == pytest.approx(2.0) and result.metrics[0].peak_source is None
