"""Demand forecast per workload and quarter, in requests/s (inference) or runs/quarter (training)."""

from __future__ import annotations

import numpy as np

from capplan.planner.plan import Plan, Workload

_PER_DAY_S = 86_400.0


def native_series(w: Workload, plan: Plan) -> np.ndarray:
    """Demand per quarter in the plan's own unit: explicit series, or now x (1 + growth)^q."""
    d = w.demand
    if d.series is not None:
        return np.asarray(d.series, dtype=float)
    growth = d.growth_pct_per_quarter / 100.0 * plan.assumptions.planning.growth_multiplier
    growth = max(growth, -0.99)
    return float(d.now or 0.0) * (1.0 + growth) ** np.arange(plan.horizon_quarters)


def demand_series(w: Workload, plan: Plan) -> np.ndarray:
    """Average requests/s per quarter for inference; runs per quarter for training."""
    native = native_series(w, plan)
    unit = w.demand.unit
    if unit == "requests_per_day":
        return native / _PER_DAY_S
    if unit == "tokens_per_s":
        return native / float(w.tokens_per_request or 1.0)
    if unit == "tokens_per_day":
        return native / _PER_DAY_S / float(w.tokens_per_request or 1.0)
    return native
