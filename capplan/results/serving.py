"""LLM-serving metrics over per-request timings, with vLLM ``bench serve``'s definitions.

Per successful request (times from the moment the request was sent):
- TTFT: until the first chunk that carries content or reasoning tokens (a role-only chunk does not count);
- e2e: until the stream ended;
- TPOT: (e2e - TTFT) / (output tokens - 1); 0 for a one-token answer (as vLLM);
- ITL: the gaps between successive token-bearing chunks (one gap per chunk, whatever it carries).
Per run: request throughput = completed / duration, output tokens/s, total (input + output) tokens/s;
with SLOs, a request is *good* when it succeeded and meets every SLO (errors are misses), SLO attainment
= good / (completed + failed) and goodput = good / duration. Duration runs from the first send to the
last response.

Percentiles come with distribution-free 95% confidence intervals from order statistics; a percentile is
reported only when the sample can bound it on both sides (p50 needs 6 values, p90 36, p99 368).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from capplan.results.schema import Metric, RunRecord

CI_LEVEL = 0.95
PERCENTILES = (50.0, 90.0, 99.0)
# A run whose p99 dispatch lag exceeds this could not keep its arrival schedule (the client was
# saturated, or a concurrency cap held requests back): latency from actual send then understates
# what a user arriving on schedule would have seen, so the record says so.
SCHEDULE_LAG_TOLERANCE_MS = 10.0


def percentile_ci(
    values: Sequence[float], q: float, level: float = CI_LEVEL
) -> tuple[float, float, float] | None:
    """(q-th percentile, CI low, CI high), or None when ``values`` cannot bound it on both sides.

    The number of values below the q-quantile is Binomial(n, q/100); the order statistics at that
    binomial's (1 - level)/2 and (1 + level)/2 quantiles bracket the quantile with probability >= level.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n, p = len(x), q / 100.0
    if n == 0:
        return None
    lo = int(sps.binom.ppf((1 - level) / 2, n, p))  # values strictly below the lower bound's rank
    hi = int(sps.binom.ppf((1 + level) / 2, n, p)) + 1
    if lo < 1 or hi > n:
        return None
    return float(np.percentile(x, q)), float(x[lo - 1]), float(x[hi - 1])


def min_n_for_percentile(q: float, level: float = CI_LEVEL) -> int:
    """Smallest sample for which percentile_ci reports the q-th percentile."""
    n = 1
    while percentile_ci(range(n), q, level) is None:
        n += 1
    return n


def distribution_metric(
    name: str, values: Sequence[float], unit: str, *, higher_is_better: bool = False
) -> Metric:
    """A metric whose value is the median and whose stats hold n, mean, min, max, stdev and each of
    p50/p90/p99 with ``pXX_ci_low``/``pXX_ci_high`` where n supports it."""
    x = np.asarray(values, dtype=float)
    st: dict[str, float] = {
        "n": float(x.size),
        "mean": float(x.mean()),
        "min": float(x.min()),
        "max": float(x.max()),
        "median": float(np.median(x)),
        "stdev": float(x.std(ddof=1)) if x.size > 1 else 0.0,
    }
    for q in PERCENTILES:
        found = percentile_ci(x, q)
        if found is not None:
            key = f"p{q:g}"
            st[key], st[f"{key}_ci_low"], st[f"{key}_ci_high"] = found
    return Metric(name=name, value=st["median"], unit=unit, higher_is_better=higher_is_better, stats=st)


@dataclass(frozen=True)
class ServeSLO:
    """Per-request SLOs in ms (None = not constrained) and the share of requests that must meet them."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None
    attainment_pct: float = 99.0

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.ttft_ms, self.tpot_ms, self.e2e_ms))

    def describe(self) -> str:
        parts = [
            f"{k} <= {v:g} ms"
            for k, v in (("TTFT", self.ttft_ms), ("TPOT", self.tpot_ms), ("e2e", self.e2e_ms))
            if v is not None
        ]
        return " and ".join(parts) + f" for {self.attainment_pct:g} % of requests"

    def as_config(self) -> dict[str, float]:
        return {
            k: v
            for k, v in (
                ("ttft_ms", self.ttft_ms),
                ("tpot_ms", self.tpot_ms),
                ("e2e_ms", self.e2e_ms),
                ("attainment_pct", self.attainment_pct),
            )
            if v is not None
        }


@dataclass
class RequestTimes:
    """What the client saw of one successful request, in seconds from the run's start."""

    sent_s: float
    first_token_s: float
    end_s: float
    chunk_s: list[float]  # arrival of every token-bearing chunk, the first included
    input_tokens: int
    output_tokens: int

    @property
    def ttft_ms(self) -> float:
        return 1e3 * (self.first_token_s - self.sent_s)

    @property
    def e2e_ms(self) -> float:
        return 1e3 * (self.end_s - self.sent_s)

    @property
    def tpot_ms(self) -> float:
        return (self.e2e_ms - self.ttft_ms) / (self.output_tokens - 1) if self.output_tokens > 1 else 0.0

    @property
    def itl_ms(self) -> list[float]:
        return [1e3 * (b - a) for a, b in zip(self.chunk_s, self.chunk_s[1:], strict=False)]


def good_mask(ttft_ms: np.ndarray, tpot_ms: np.ndarray, e2e_ms: np.ndarray, slo: ServeSLO) -> np.ndarray:
    """True for each successful request that meets every given SLO."""
    ok = np.ones(ttft_ms.shape, dtype=bool)
    for values, limit in ((ttft_ms, slo.ttft_ms), (tpot_ms, slo.tpot_ms), (e2e_ms, slo.e2e_ms)):
        if limit is not None:
            ok &= values <= limit
    return ok


def attainment_ci(good: int, total: int, level: float = CI_LEVEL) -> tuple[float, float]:
    """Clopper-Pearson interval of the share of good requests, in %."""
    ci = sps.binomtest(good, total).proportion_ci(confidence_level=level, method="exact")
    return 100.0 * ci.low, 100.0 * ci.high


def serving_metrics(
    requests: Sequence[RequestTimes], failed: int, duration_s: float, slo: ServeSLO | None = None
) -> tuple[list[Metric], dict[str, list[float]]]:
    """Metrics and raw samples of one load point (``failed`` requests errored; ``duration_s`` > 0).

    Samples ``ttft_ms``, ``tpot_ms``, ``e2e_ms``, ``input_tokens`` and ``output_tokens`` are aligned (one
    value per successful request, in completion order) so SLOs can be re-evaluated later; ``itl_ms`` has one
    value per gap.
    """
    done = len(requests)
    metrics: list[Metric] = []
    samples: dict[str, list[float]] = {}
    total = done + failed
    if done:
        columns = {
            "ttft_ms": [r.ttft_ms for r in requests],
            "tpot_ms": [r.tpot_ms for r in requests],
            "e2e_ms": [r.e2e_ms for r in requests],
            "input_tokens": [float(r.input_tokens) for r in requests],
            "output_tokens": [float(r.output_tokens) for r in requests],
        }
        itl = [gap for r in requests for gap in r.itl_ms]
        samples.update(columns)
        for name in ("ttft_ms", "tpot_ms", "e2e_ms"):
            metrics.append(distribution_metric(name, columns[name], "ms"))
        if itl:
            samples["itl_ms"] = itl
            metrics.append(distribution_metric("itl_ms", itl, "ms"))
        out_tokens, in_tokens = sum(columns["output_tokens"]), sum(columns["input_tokens"])
        metrics += [
            Metric(name="request_throughput_rps", value=done / duration_s, unit="requests/s"),
            Metric(name="output_tokens_per_s", value=out_tokens / duration_s, unit="tokens/s"),
            Metric(name="total_tokens_per_s", value=(in_tokens + out_tokens) / duration_s, unit="tokens/s"),
        ]
    if total:
        metrics.append(error_rate_metric(failed, total))
    if slo is not None and slo.given and total:
        arrays = [np.asarray(samples.get(k, []), dtype=float) for k in ("ttft_ms", "tpot_ms", "e2e_ms")]
        good = int(good_mask(*arrays, slo).sum())
        low, high = attainment_ci(good, total)
        metrics += [
            Metric(
                name="slo_attainment_pct",
                value=100.0 * good / total,
                unit="%",
                stats={"good": float(good), "requests": float(total), "ci95_low": low, "ci95_high": high},
            ),
            Metric(name="goodput_rps", value=good / duration_s, unit="requests/s"),
        ]
    return metrics, samples


def error_rate_metric(failed: int, total: int) -> Metric:
    """Share of requests that errored, in % (``total`` > 0)."""
    return Metric(name="error_rate_pct", value=100.0 * failed / total, unit="%", higher_is_better=False,
                  stats={"failed": float(failed), "requests": float(total)})


def lag_metric(lags_ms: Sequence[float]) -> tuple[Metric, bool]:
    """Dispatch lag (actual minus scheduled send) and whether the schedule was kept (p99, else max, of
    the lag within SCHEDULE_LAG_TOLERANCE_MS)."""
    metric = distribution_metric("dispatch_lag_ms", lags_ms, "ms")
    worst = metric.stats.get("p99", metric.stats["max"])
    return metric, worst <= SCHEDULE_LAG_TOLERANCE_MS


# -- reading stored serve records (measured here or imported) -------------------------------------------
def record_slo_attainment(record: RunRecord, slo: ServeSLO) -> tuple[float, float] | None:
    """(SLO attainment %, goodput requests/s) of a stored load point under ``slo``, re-evaluated from its
    aligned per-request samples; None when the record has no per-request samples (e.g. an import that
    kept only percentiles)."""
    s = record.samples
    if "ttft_ms" not in s or "e2e_ms" not in s:
        return None
    ttft = np.asarray(s["ttft_ms"], dtype=float)
    tpot = np.asarray(s.get("tpot_ms", [0.0] * ttft.size), dtype=float)
    e2e = np.asarray(s["e2e_ms"], dtype=float)
    failed = int(record.config.get("facts", {}).get("failed_requests", 0))
    duration = float(record.config.get("facts", {}).get("duration_s") or 0)
    total = ttft.size + failed
    if total == 0 or duration <= 0:
        return None
    good = int(good_mask(ttft, tpot, e2e, slo).sum())
    return 100.0 * good / total, good / duration


def point_goodput(record: RunRecord, slo: ServeSLO) -> tuple[bool, float, str] | None:
    """(meets the SLOs, goodput requests/s, how it was judged) of one stored load point under ``slo``:
    from its per-request samples (errors are misses; ``slo.attainment_pct`` of requests must be good),
    else from its reported p99s (an import without samples: all must be within the SLOs, goodput =
    completed requests/s); None when neither is possible."""
    found = record_slo_attainment(record, slo)
    if found is not None:
        attainment, goodput = found
        return attainment >= slo.attainment_pct, goodput, f"{attainment:.1f} % of requests met the SLOs"
    limits = {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms, "e2e_ms": slo.e2e_ms}
    p99 = {k: (m.stats.get("p99") if (m := record.metric(k)) else None) for k in limits}
    rate = record.metric("request_throughput_rps")
    if rate is None or any(limits[k] is not None and p99[k] is None for k in limits):
        return None
    ok = all(limit is None or p99[k] <= limit for k, limit in limits.items())  # type: ignore[operator]
    errors = record.metric("error_rate_pct")
    goodput = rate.value * (1 - (errors.value if errors else 0.0) / 100) if ok else 0.0
    return ok, goodput, "its reported p99s (no per-request samples)"
