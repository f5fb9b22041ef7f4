"""Statistics over raw samples: pure functions, no timing and no I/O.

Records keep raw samples; these functions derive the summary late (pytest-benchmark/asv style).

Percentiles. A tail percentile is reported only when the sample count supports it: the q-quantile
needs n >= 1 / (1 - q) samples (p90: 10, p99: 100, p99.9: 1000), so that on average at least one
sample lies beyond it; with fewer, "p99" would be the sample maximum. Each reported percentile
carries a distribution-free 95 % confidence interval from order statistics; an interval's upper end
that lies beyond the largest sample is left out (the data cannot bound it). Tail percentiles are
reported only for per-call samples: a sample that averages several calls (a batched round) hides the
tail of single calls.

Noise. A metric is ``noisy`` when its headline's relative 95 % CI half-width (the median's, for a
median headline) exceeds the measurement budget's ``target_rel_ci``, or when contended rounds, or rounds
taken while the host had moved the vCPUs apart, had to be kept (see capplan.harness.timing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats as sps

from capplan.results.schema import Metric

CI_LEVEL = 0.95
# The default of a budget's target_rel_ci (capplan.harness.spec.Budget): 2 % of the median, the
# stopping rule of pytest-benchmark/asv-like harnesses for a figure people compare to 5-10 % effects.
DEFAULT_TARGET_REL_CI = 0.02
IQR_FENCE = 1.5  # Tukey's fences: outliers lie beyond Q1 - 1.5 IQR or Q3 + 1.5 IQR
# Tail percentiles reported when n supports them: stats key -> quantile.
TAILS: dict[str, float] = {"p90": 0.90, "p99": 0.99, "p999": 0.999}


class Samples(list[float]):
    """Raw values plus how they were taken: calls averaged per sample (1 = per-call timings) and the
    rounds dropped (re-measured) or kept because other processes used the CPU during them (contended)
    or the host had moved the vCPUs apart (shifted, capplan.hardware.placement)."""

    def __init__(self, values: Iterable[float] = (), *, calls_per_sample: int = 1, contended_dropped: int = 0,
                 contended_kept: int = 0, shifted_dropped: int = 0, shifted_kept: int = 0) -> None:
        super().__init__(values)
        self.calls_per_sample = calls_per_sample
        self.contended_dropped = contended_dropped
        self.contended_kept = contended_kept
        self.shifted_dropped = shifted_dropped
        self.shifted_kept = shifted_kept

    def like(self, values: Iterable[float]) -> Samples:
        """New values taken the same way (e.g. after a unit conversion)."""
        return Samples(values, calls_per_sample=self.calls_per_sample,
                       contended_dropped=self.contended_dropped, contended_kept=self.contended_kept,
                       shifted_dropped=self.shifted_dropped, shifted_kept=self.shifted_kept)

    def joined(self, more: Samples) -> Samples:
        """These values then ``more``'s, taken the same way, with the dropped/kept counts of both."""
        return Samples(self + more, calls_per_sample=self.calls_per_sample,
                       contended_dropped=self.contended_dropped + more.contended_dropped,
                       contended_kept=self.contended_kept + more.contended_kept,
                       shifted_dropped=self.shifted_dropped + more.shifted_dropped,
                       shifted_kept=self.shifted_kept + more.shifted_kept)


class NotEnoughSamples(ValueError):
    """A percentile was asked for that the sample count (or batched samples) cannot support."""

    def __init__(self, metric: str, message: str) -> None:
        super().__init__(message)
        self.metric = metric


def min_samples(q: float) -> int:
    """Fewest samples for which the q-quantile is reported: ceil(1 / (1 - q)) (p99: 100)."""
    return math.ceil(1.0 / (1.0 - q) - 1e-9)


def quantile_ci(sorted_x: np.ndarray, q: float, level: float = CI_LEVEL) -> tuple[float | None, float | None]:
    """Distribution-free confidence interval of the q-quantile from order statistics.

    The number of samples below the quantile is Binomial(n, q); the interval between the order
    statistics at that binomial's (1 - level)/2 and (1 + level)/2 quantiles covers it with probability
    >= ``level``. An end whose rank falls outside 1..n is None (the sample cannot bound it).
    """
    n = len(sorted_x)
    alpha = 1.0 - level
    lo = int(sps.binom.ppf(alpha / 2, n, q))  # 1-based rank of the lower bound
    hi = int(sps.binom.ppf(1 - alpha / 2, n, q)) + 1  # 1-based rank of the upper bound
    return (float(sorted_x[lo - 1]) if lo >= 1 else None, float(sorted_x[hi - 1]) if hi <= n else None)


def percentile_ci(values: Sequence[float], q: float, level: float = CI_LEVEL
                  ) -> tuple[float, float | None, float | None] | None:
    """(q-quantile of ``values``, CI low, CI high) for 0 < q < 1, a CI end None where the sample cannot
    bound it (quantile_ci); None when there are fewer than min_samples(q) values."""
    x = np.sort(np.asarray(values, dtype=float))
    if len(x) == 0 or len(x) < min_samples(q):
        return None
    lo, hi = quantile_ci(x, q, level)
    return float(np.percentile(x, 100 * q)), lo, hi


def median_ci(sorted_x: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Distribution-free confidence interval of the median; the whole sample range when too few
    samples exist for an interval at ``level`` (fewer than 6 at 95 %)."""
    lo, hi = quantile_ci(sorted_x, 0.5, level)
    return (float(sorted_x[0]) if lo is None else lo, float(sorted_x[-1]) if hi is None else hi)


def rel_ci_halfwidth(samples: Sequence[float], level: float = CI_LEVEL) -> float:
    """Half-width of the median's confidence interval divided by the median (inf when undefined:
    fewer samples than an interval at ``level`` needs, or a zero median)."""
    x = np.sort(np.asarray(samples, dtype=float))
    if len(x) < 2:
        return math.inf
    lo, hi = quantile_ci(x, 0.5, level)
    med = float(np.median(x))
    if lo is None or hi is None or med == 0:
        return math.inf
    return (hi - lo) / 2 / abs(med)


def summarize(samples: Sequence[float], *, per_call: bool | None = None) -> dict[str, float]:
    """Summary statistics of ``samples`` in their own unit.

    Keys: n, min, max, mean, median, p50, stdev (ddof=1), cv (stdev/mean), iqr, outliers (beyond
    Tukey's fences); ci95_rel (median CI half-width / median) and p50_ci_low/high when defined; p90,
    p99, p999 with their pXX_ci_low/high when n supports them (see the module docs) and the samples
    are per call (``per_call``; default: a ``Samples`` says, anything else counts as per call);
    calls_per_sample, contended_dropped/kept and shifted_dropped/kept for a ``Samples``.
    """
    x = np.sort(np.asarray(samples, dtype=float))
    if len(x) == 0:
        raise ValueError("summarize: no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("summarize: samples must be finite")
    calls = samples.calls_per_sample if isinstance(samples, Samples) else 1
    per_call = calls == 1 if per_call is None else per_call
    mean = float(x.mean())
    stdev = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    q1, p50, q3 = np.percentile(x, [25, 50, 75])
    iqr = float(q3 - q1)
    out: dict[str, float] = {
        "n": float(len(x)),
        "min": float(x[0]),
        "max": float(x[-1]),
        "mean": mean,
        "median": float(p50),
        "p50": float(p50),
        "stdev": stdev,
        "cv": stdev / abs(mean) if mean else 0.0,
        "iqr": iqr,
        "outliers": float(np.count_nonzero((x < q1 - IQR_FENCE * iqr) | (x > q3 + IQR_FENCE * iqr))),
    }
    ci = rel_ci_halfwidth(x)
    if math.isfinite(ci):
        out["ci95_rel"] = ci
    _put_ci(out, "p50", quantile_ci(x, 0.5))
    for key, q in TAILS.items():
        found = percentile_ci(x, q) if per_call else None
        if found is not None:
            out[key] = found[0]
            _put_ci(out, key, found[1:])
    if isinstance(samples, Samples):
        out.update(calls_per_sample=float(samples.calls_per_sample),
                   contended_dropped=float(samples.contended_dropped),
                   contended_kept=float(samples.contended_kept),
                   shifted_dropped=float(samples.shifted_dropped),
                   shifted_kept=float(samples.shifted_kept))
    return out


def _put_ci(out: dict[str, float], key: str, ci: tuple[float | None, float | None]) -> None:
    lo, hi = ci
    if lo is not None:
        out[f"{key}_ci_low"] = lo
    if hi is not None:
        out[f"{key}_ci_high"] = hi


def percentile_note(key: str, stats: dict[str, float]) -> str:
    """Why percentile ``key`` (p90, p99, p999) is missing from ``stats``, in one phrase."""
    n = int(stats.get("n", 0))
    calls = int(stats.get("calls_per_sample", 1))
    if calls > 1:
        return f"no {key}: each sample averages {calls} calls (batched for throughput, not per call)"
    return f"not enough samples for {key} (n={n}; needs n >= {min_samples(TAILS[key])})"


def headline_rel_ci(stats: dict[str, float], headline: str) -> float:
    """Relative 95 % CI half-width of the ``headline`` statistic (inf when the CI is unbounded or
    undefined). Statistics without an interval of their own (min, max, mean) use the median's."""
    key = "p50" if headline == "median" else headline
    if key == "p50" or key in TAILS:
        lo, hi, value = stats.get(f"{key}_ci_low"), stats.get(f"{key}_ci_high"), stats.get(key)
        if lo is None or hi is None or not value:
            return math.inf
        return (hi - lo) / 2 / abs(value)
    return stats.get("ci95_rel", math.inf)


def is_noisy(stats: dict[str, float], target_rel_ci: float = DEFAULT_TARGET_REL_CI) -> bool:
    """The noise rule (module docs): the headline's relative CI is wider than ``target_rel_ci``
    (``headline_ci95_rel`` absent means unbounded), or contended rounds, or rounds taken with the vCPUs
    moved apart (capplan.hardware.placement), were kept."""
    wide = not stats.get("headline_ci95_rel", math.inf) <= target_rel_ci
    return wide or stats.get("contended_kept", 0) > 0 or stats.get("shifted_kept", 0) > 0


def scaled(samples: Sequence[float], *, scale: float = 1.0, invert: bool = False) -> list[float]:
    """Per-sample values in a metric's unit: ``scale * s``, or ``scale / s`` with ``invert``.

    E.g. seconds per iteration -> ms (scale=1e3) or -> TFLOP/s (scale=flops/1e12, invert=True).
    A ``Samples`` stays one (with the same facts).
    """
    values = [scale / s for s in samples] if invert else [scale * s for s in samples]
    return samples.like(values) if isinstance(samples, Samples) else values


def metric_from_samples(
    name: str,
    samples: Sequence[float],
    unit: str,
    *,
    scale: float = 1.0,
    invert: bool = False,
    higher_is_better: bool = True,
    headline: str = "median",
    peak: float | None = None,
    peak_source: str | None = None,
    target_rel_ci: float = DEFAULT_TARGET_REL_CI,
) -> Metric:
    """A Metric whose value is the ``headline`` statistic (median by default) of the scaled samples.

    A tail percentile the samples cannot support raises NotEnoughSamples (its message says why).
    """
    st = summarize(scaled(samples, scale=scale, invert=invert))
    if headline not in st:
        if headline in TAILS:
            raise NotEnoughSamples(name, f"{name}: {percentile_note(headline, st)}")
        raise ValueError(f"headline: {headline!r} is not a statistic; allowed: {', '.join(st)}")
    rel = headline_rel_ci(st, headline)
    if math.isfinite(rel):
        st["headline_ci95_rel"] = rel
    return Metric(
        name=name,
        value=st[headline],
        unit=unit,
        higher_is_better=higher_is_better,
        stats=st,
        noisy=is_noisy(st, target_rel_ci),
        peak=peak,
        peak_source=peak_source if peak is not None else None,
    )
