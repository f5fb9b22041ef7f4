"""Statistics engine against known distributions (scipy.stats gives the reference quantiles)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from capplan.harness.metrics import add_metric, flag_noise
from capplan.harness.spec import KindResult
from capplan.results.stats import (
    NotEnoughSamples,
    Samples,
    is_noisy,
    median_ci,
    metric_from_samples,
    quantile_ci,
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


def test_noisy_means_the_headline_ci_is_wider_than_the_target() -> None:
    # 400 normal samples with sd 10 % of the mean: the median's CI half-width is ~ 1.96 * 1.2533 * sd /
    # sqrt(n) = 1.96 * 1.2533 * 10 / 20 = 1.2 % of the median, so a 2 % target is met and a 0.5 % one is not.
    x = sps.norm(loc=100, scale=10).rvs(size=400, random_state=RNG)
    m = metric_from_samples("x", x, "u")
    assert 0.008 < m.stats["headline_ci95_rel"] < 0.018 and not m.noisy
    assert metric_from_samples("x", x, "u", target_rel_ci=0.005).noisy
    # the same spread with a larger CV but more samples: CV alone (> 5 %) no longer decides
    assert m.stats["cv"] > 0.05
    result = KindResult(metrics=[m])
    flag_noise(result, 0.005)  # the child re-applies the rule with the benchmark's own budget target
    assert result.metrics[0].noisy
    # too few samples for a 95 % interval of the median (n < 6): the CI is unbounded, so noisy
    assert metric_from_samples("x", [1.0, 1.0, 1.0, 1.0, 1.0], "u").noisy
    assert not metric_from_samples("x", [1.0] * 6, "u").noisy
    # kept contended rounds are noise whatever the CI says
    assert is_noisy({"headline_ci95_rel": 0.001, "contended_kept": 3.0}, 0.02)
    assert not is_noisy({"headline_ci95_rel": 0.001, "contended_dropped": 3.0}, 0.02)


def test_percentiles_need_enough_samples() -> None:
    # q needs n >= 1/(1-q): p90 from 10, p99 from 100, p99.9 from 1000 samples
    for n, present in ((9, set()), (10, {"p90"}), (99, {"p90"}), (100, {"p90", "p99"}),
                       (999, {"p90", "p99"}), (1000, {"p90", "p99", "p999"})):
        s = summarize(list(range(1, n + 1)))
        assert {k for k in ("p90", "p99", "p999") if k in s} == present, n
    with pytest.raises(NotEnoughSamples, match=r"not enough samples for p99 \(n=99; needs n >= 100\)"):
        metric_from_samples("latency_p99_ms", list(range(1, 100)), "ms", headline="p99")


def test_batched_samples_report_no_tails() -> None:
    batched = Samples([1.0 + 0.01 * i for i in range(500)], calls_per_sample=12)
    s = summarize(batched)
    assert "p99" not in s and "p90" not in s and s["calls_per_sample"] == 12 and s["median"] > 0
    with pytest.raises(NotEnoughSamples, match="each sample averages 12 calls"):
        metric_from_samples("latency_p99_ms", batched, "ms", headline="p99")
    result = KindResult(metrics=[])
    assert add_metric(result, "lat_ms", batched, "ms", headline="p99") is None
    assert "each sample averages 12 calls" in result.config["not_reported"]["lat_ms"]
    assert result.samples["lat_ms"] == pytest.approx(list(batched))  # the raw values are kept anyway


def test_quantile_ci_by_hand_and_unbounded_upper_end() -> None:
    # n = 100, q = 0.99: failures F = 100 - B ~ Bin(100, 0.01): P(F = 0..3) = 0.366, 0.370, 0.185, 0.061,
    # so P(B <= 96) = P(F >= 4) = 0.018 < 0.025 <= P(B <= 97) = 0.079: the lower rank is 97.
    # P(B <= 99) = 1 - 0.99^100 = 0.634 < 0.975: the upper rank would be 101 > n, i.e. unbounded.
    x = np.arange(1.0, 101.0)
    assert quantile_ci(x, 0.99) == (97.0, None)
    s = summarize(x)
    assert s["p99_ci_low"] == 97.0 and "p99_ci_high" not in s
    m = metric_from_samples("lat", x, "ms", headline="p99")
    assert m.noisy and "headline_ci95_rel" not in m.stats  # an unbounded CI is as wide as it gets


def test_tail_ci_covers_the_true_p99_at_least_95_percent_of_the_time() -> None:
    dist = sps.expon()
    truth = dist.ppf(0.99)
    hits, trials = 0, 1000
    for _ in range(trials):
        lo, hi = quantile_ci(np.sort(dist.rvs(size=600, random_state=RNG)), 0.99)
        assert lo is not None and hi is not None  # n = 600 bounds both ends
        hits += lo <= truth <= hi
    assert 0.93 <= hits / trials <= 0.995


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
    assert math.isinf(rel_ci_halfwidth([1.0])) and math.isinf(rel_ci_halfwidth([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert "ci95_rel" not in summarize([1.0]) and summarize([1.0])["stdev"] == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False), min_size=1, max_size=60))
def test_summary_invariants(xs: list[float]) -> None:
    s = summarize(xs)
    ordered = [s[k] for k in ("min", "p50", "p90", "p99", "p999", "max") if k in s]
    assert ordered == sorted(ordered) and ("p90" in s) == (len(xs) >= 10) and ("p99" in s) == (len(xs) >= 100)
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
        "latency_ms", seconds * 20, "ms", scale=1e3, higher_is_better=False, headline="p99"
    )
    assert (
        latency.value == pytest.approx(np.percentile([10, 11, 9, 10, 12] * 20, 99))
        and not latency.higher_is_better
    )
    with pytest.raises(ValueError, match="headline"):
        metric_from_samples("x", seconds, "s", headline="mode")


def test_add_metric_keeps_values_in_the_metric_unit() -> None:
    result = KindResult(metrics=[])
    add_metric(result, "latency_us", [1e-6, 2e-6, 3e-6], "µs", scale=1e6, higher_is_better=False)
    assert result.samples["latency_us"] == pytest.approx([1.0, 2.0, 3.0])
    assert result.metrics[0].value == pytest.approx(2.0) and result.metrics[0].peak_source is None


def test_joined_samples_keep_both_takes_and_sum_their_dropped_and_kept_counts() -> None:
    a = Samples([1.0, 2.0], contended_dropped=1, contended_kept=0, shifted_dropped=3, shifted_kept=2)
    b = Samples([3.0], contended_dropped=0, contended_kept=4, shifted_dropped=1, shifted_kept=0)
    both = a.joined(b)
    assert list(both) == [1.0, 2.0, 3.0] and both.calls_per_sample == 1
    counts = (both.contended_dropped, both.contended_kept, both.shifted_dropped, both.shifted_kept)
    assert counts == (1, 4, 4, 2)
    assert is_noisy(summarize(both) | {"headline_ci95_rel": 0.0}, target_rel_ci=1.0)  # kept rounds: noisy
