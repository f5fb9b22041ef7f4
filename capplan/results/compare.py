"""Compare two groups of runs metric by metric: ratio of headline values and a Mann-Whitney U test.

Pure functions over records. Raw samples of all runs in a group are pooled per (benchmark,
metric); a difference counts when the test is significant at ALPHA *and* the medians differ by at
least MIN_EFFECT (with thousands of samples the test alone flags differences nobody cares about).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import mannwhitneyu

from capplan.results.schema import RunRecord, Status

ALPHA = 0.05
MIN_EFFECT = 0.01  # 1 % relative change in the headline value
MIN_SAMPLES = 3  # per side, below which no test is attempted

FASTER, SLOWER, SAME, UNTESTED = (
    "faster",
    "slower",
    "no significant difference",
    "not tested (too few raw samples)",
)


@dataclass
class MetricComparison:
    """B relative to A for one metric of one benchmark."""

    benchmark: str
    metric: str
    unit: str
    higher_is_better: bool
    a_value: float
    b_value: float
    ratio: float | None  # b_value / a_value
    p_value: float | None
    n_a: int
    n_b: int
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Side:
    values: list[float]
    samples: list[float]
    unit: str
    higher_is_better: bool


def _collect(records: Iterable[RunRecord], by_benchmark: bool) -> dict[tuple[str, str], _Side]:
    sides: dict[tuple[str, str], _Side] = {}
    for rec in records:
        if rec.status != Status.ok:
            continue
        for m in rec.metrics:
            key = (rec.benchmark if by_benchmark else "*", m.name)
            side = sides.setdefault(key, _Side([], [], m.unit, m.higher_is_better))
            side.values.append(m.value)
            side.samples.extend(rec.samples.get(m.name, []))
    return sides


def verdict(a: _Side, b: _Side, ratio: float | None) -> tuple[str, float | None]:
    """Verdict of B against A and the test's p-value."""
    if len(a.samples) < MIN_SAMPLES or len(b.samples) < MIN_SAMPLES:
        return UNTESTED, None
    p = float(mannwhitneyu(a.samples, b.samples, alternative="two-sided").pvalue)
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
                                     len(sa.samples), len(sb.samples), word))
    return rows
