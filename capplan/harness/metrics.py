"""Append measured metrics and their raw per-sample values to a kind's result; apply the noise rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from capplan.harness.spec import KindResult
from capplan.results.schema import Metric
from capplan.results.stats import NotEnoughSamples, is_noisy, metric_from_samples, scaled

NOT_REPORTED = "not_reported"  # config key: metric name -> why it is missing (e.g. too few samples for p99)


def add_metric(
    result: KindResult,
    name: str,
    samples: Sequence[float],
    unit: str,
    *,
    scale: float = 1.0,
    invert: bool = False,
    **metric_kwargs: Any,
) -> Metric | None:
    """Append ``metric_from_samples(...)`` to ``result`` and keep its per-sample values under ``name``.

    Raw values are stored under the metric's name so comparisons can test them. ``metric_kwargs`` are
    metric_from_samples' keywords (higher_is_better, headline, peak, peak_source). A percentile headline
    the samples cannot support is not appended: ``config["not_reported"][name]`` says why (None returned).
    """
    values = scaled(samples, scale=scale, invert=invert)
    metric = append_metric(result, lambda: metric_from_samples(name, values, unit, **metric_kwargs))
    result.samples[name] = list(values)
    return metric


def append_metric(result: KindResult, make: Callable[[], Metric]) -> Metric | None:
    """Append ``make()``; when it raises NotEnoughSamples, record the reason under config["not_reported"]."""
    try:
        metric = make()
    except NotEnoughSamples as exc:
        result.config.setdefault(NOT_REPORTED, {})[exc.metric] = str(exc)
        return None
    result.metrics.append(metric)
    return metric


def record_placement(result: KindResult, reruns: int, placed: bool) -> None:
    """Record how a whole-run kind's run met the vCPU placement (capplan.hardware.placement.run_in_reference);
    one that ended apart counts every sample as kept from another placement, which flags it ``noisy``."""
    result.config.update(placement_reruns=reruns, placement_reference=placed)
    if not placed:
        for metric in result.metrics:
            if "n" in metric.stats:
                metric.stats["shifted_kept"] = metric.stats["n"]
                metric.noisy = True  # what flag_noise's rule says of kept rounds (capplan.results.stats)


def flag_noise(result: KindResult, target_rel_ci: float) -> None:
    """Apply the noise rule (capplan.results.stats.is_noisy) with the benchmark's own budget target to
    every metric derived from samples (those with ``n`` in their stats)."""
    for metric in result.metrics:
        if "n" in metric.stats:
            metric.noisy = is_noisy(metric.stats, target_rel_ci)
