"""Append a measured metric and its raw per-sample values to a kind's result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from capplan.harness.spec import KindResult
from capplan.results.schema import Metric
from capplan.results.stats import metric_from_samples, scaled


def add_metric(
    result: KindResult,
    name: str,
    samples: Sequence[float],
    unit: str,
    *,
    scale: float = 1.0,
    invert: bool = False,
    **metric_kwargs: Any,
) -> Metric:
    """Append ``metric_from_samples(...)`` to ``result`` and keep its per-sample values under ``name``.

    Raw values are stored under the metric's name so comparisons can test them (Mann-Whitney U).
    ``metric_kwargs`` are metric_from_samples' keywords (higher_is_better, headline, peak, peak_source).
    """
    values = scaled(samples, scale=scale, invert=invert)
    metric = metric_from_samples(name, values, unit, **metric_kwargs)
    result.metrics.append(metric)
    result.samples[name] = values
    return metric
