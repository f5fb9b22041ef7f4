"""Statistics over raw samples: pure functions, no timing and no I/O.

Records keep raw samples; these functions derive the summary late (pytest-benchmark/asv style).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from capplan.results.schema import Metric

# A coefficient of variation above 5% means run-to-run noise is as large as the effects people
# usually look for (pytest-benchmark and asv flag comparable spreads); repeat before trusting.
NOISY_CV = 0.05
CI_LEVEL = 0.95
IQR_FENCE = 1.5  # Tukey's fences: outliers lie beyond Q1 - 1.5 IQR or Q3 + 1.5 IQR


def median_ci(sorted_x: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics.

    The number of samples below the median is Binomial(n, 1/2), so the interval between the
    order statistics at the binomial quantiles covers the median with probability >= ``level``.
    With fewer samples than that needs, the interval is the whole sample range.
    """
    n = len(sorted_x)
    lo = int(sps.binom.ppf((1 - level) / 2, n, 0.5))  # 1-based rank of the lower bound
    hi = n - lo + 1
    if lo < 1:
        return float(sorted_x[0]), float(sorted_x[-1])
    return float(sorted_x[lo - 1]), float(sorted_x[hi - 1])


def rel_ci_halfwidth(samples: Sequence[float], level: float = CI_LEVEL) -> float:
    """Half-width of the median's confidence interval divided by the median (inf when undefined)."""
    x = np.sort(np.asarray(samples, dtype=float))
    if len(x) < 2:
        return math.inf
    med = float(np.median(x))
    lo, hi = median_ci(x, level)
    return math.inf if med == 0 else (hi - lo) / 2 / abs(med)


def summarize(samples: Sequence[float], noisy_cv: float = NOISY_CV) -> dict[str, float]:
    """Summary statistics of ``samples`` in their own unit.

    Keys: n, min, max, mean, median, stdev (sample, ddof=1), cv (stdev/mean), p50, p90, p99, p999,
    iqr, outliers (count beyond Tukey's 1.5 IQR fences), noisy (1.0 when cv > ``noisy_cv``) and,
    from two samples on, ci95_rel (median CI half-width / median).
    """
    x = np.sort(np.asarray(samples, dtype=float))
    if len(x) == 0:
        raise ValueError("summarize: no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("summarize: samples must be finite")
    mean = float(x.mean())
    stdev = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    q1, p50, q3, p90, p99, p999 = np.percentile(x, [25, 50, 75, 90, 99, 99.9])
    iqr = float(q3 - q1)
    outliers = int(np.count_nonzero((x < q1 - IQR_FENCE * iqr) | (x > q3 + IQR_FENCE * iqr)))
    cv = stdev / abs(mean) if mean else 0.0
    ci = rel_ci_halfwidth(x)
    return {
        "n": float(len(x)),
        "min": float(x[0]),
        "max": float(x[-1]),
        "mean": mean,
        "median": float(p50),
        "stdev": stdev,
        "cv": cv,
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "p999": float(p999),
        "iqr": iqr,
        "outliers": float(outliers),
        "noisy": float(is_noisy(cv, noisy_cv)),
    } | ({"ci95_rel": ci} if math.isfinite(ci) else {})


def is_noisy(cv: float, threshold: float = NOISY_CV) -> bool:
    """True when the coefficient of variation exceeds ``threshold``."""
    return cv > threshold


def scaled(samples: Sequence[float], *, scale: float = 1.0, invert: bool = False) -> list[float]:
    """Per-sample values in a metric's unit: ``scale * s``, or ``scale / s`` with ``invert``.

    E.g. seconds per iteration -> ms (scale=1e3) or -> TFLOP/s (scale=flops/1e12, invert=True).
    """
    if invert:
        return [scale / s for s in samples]
    return [scale * s for s in samples]


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
) -> Metric:
    """A Metric whose value is the ``headline`` statistic (median by default) of the scaled samples."""
    st = summarize(scaled(samples, scale=scale, invert=invert))
    if headline not in st:
        raise ValueError(f"headline: {headline!r} is not a statistic; allowed: {', '.join(st)}")
    return Metric(
        name=name,
        value=st[headline],
        unit=unit,
        higher_is_better=higher_is_better,
        stats=st,
        noisy=bool(st["noisy"]),
        peak=peak,
        peak_source=peak_source if peak is not None else None,
    )
