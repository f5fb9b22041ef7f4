"""Compare two groups of runs metric by metric, judging significance by between-run variation.

Pure functions over records. A run's figure for a metric is its headline (the median of its raw
samples for a timing metric); a group's figure is the median of its runs' figures. Pooling raw
samples across runs would test within-run spread, which is far smaller than the run-to-run spread of
a shared machine and calls noise "different". So the test is Welch's t-test on the per-run figures,
with at least MIN_RUNS runs per side (`capplan bench run --repeat N`, interleaved); with fewer the
verdict is "inconclusive". A difference counts when the test is significant at ALPHA *and* the
medians differ by at least MIN_EFFECT. `benchmarks/selfcheck.py` measures this rule's false-positive
rate with A/A runs (the same benchmark, 5 runs against 5).
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import ttest_ind

from capplan.results.schema import RunRecord, Status

ALPHA = 0.05
MIN_EFFECT = 0.01  # 1 % relative change in the headline value
MIN_RUNS = 3  # per side, below which no test is attempted
TEST_NAME = "Welch t-test on per-run medians"

FASTER, SLOWER, SAME = "faster", "slower", "no significant difference"
INCONCLUSIVE = f"inconclusive: need >= {MIN_RUNS} runs per side"


@dataclass
class MetricComparison:
    """B relative to A for one metric of one benchmark."""

    benchmark: str
    metric: str
    unit: str
    higher_is_better: bool
    a_value: float  # median over A's runs of each run's headline
    b_value: float
    ratio: float | None  # b_value / a_value
    p_value: float | None
    n_a: int  # runs
    n_b: int
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Side:
    values: list[float]  # one headline per ok run
    unit: str
    higher_is_better: bool


def _collect(records: Iterable[RunRecord], by_benchmark: bool) -> dict[tuple[str, str], _Side]:
    sides: dict[tuple[str, str], _Side] = {}
    for rec in records:
        if rec.status != Status.ok:
            continue
        for m in rec.metrics:
            key = (rec.benchmark if by_benchmark else "*", m.name)
            sides.setdefault(key, _Side([], m.unit, m.higher_is_better)).values.append(m.value)
    return sides


def between_run_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test on per-run figures (0 or 1 when both sides are constant)."""
    if statistics.pvariance(a) == 0 and statistics.pvariance(b) == 0:
        return 1.0 if statistics.fmean(a) == statistics.fmean(b) else 0.0
    with warnings.catch_warnings():  # nearly identical values: scipy warns, the p-value is still usable
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return 1.0 if math.isnan(p) else p


def verdict(a: _Side, b: _Side, ratio: float | None) -> tuple[str, float | None]:
    """Verdict of B against A and the test's p-value."""
    if len(a.values) < MIN_RUNS or len(b.values) < MIN_RUNS:
        return INCONCLUSIVE, None
    p = between_run_p(a.values, b.values)
    if p >= ALPHA or ratio is None or abs(ratio - 1.0) < MIN_EFFECT:
        return SAME, p
    return (FASTER if (ratio > 1.0) == a.higher_is_better else SLOWER), p


def compare_runs(
    a: Iterable[RunRecord], b: Iterable[RunRecord], *, by_benchmark: bool = True
) -> list[MetricComparison]:
    """One comparison per (benchmark, metric) present with status ok in both groups.

    ``by_benchmark=False`` pairs metrics by name alone (benchmark "*"), e.g. two runs of differently
    named benchmarks.
    """
    sides_a, sides_b = _collect(a, by_benchmark), _collect(b, by_benchmark)
    rows = []
    for key in sorted(sides_a.keys() & sides_b.keys()):
        sa, sb = sides_a[key], sides_b[key]
        va, vb = statistics.median(sa.values), statistics.median(sb.values)
        ratio = vb / va if va else None
        word, p = verdict(sa, sb, ratio)
        rows.append(MetricComparison(key[0], key[1], sa.unit, sa.higher_is_better, va, vb, ratio, p,
                                     len(sa.values), len(sb.values), word))
    return rows
