"""Money over time: hours per period, NPV, capital recovery, cumulative series and break-even."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HOURS_PER_YEAR = 365.25 * 24.0  # Julian year, so leap years average out over a multi-year horizon
HOURS_PER_QUARTER = HOURS_PER_YEAR / 4.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0


def npv_usd(cashflows: Sequence[float], rate_per_year: float, periods_per_year: int) -> float:
    """Net present value of end-of-period cash flows (period 0 is discounted by one period)."""
    flows = np.asarray(cashflows, dtype=float)
    per_period = (1.0 + rate_per_year) ** (1.0 / periods_per_year) - 1.0
    factors = (1.0 + per_period) ** -np.arange(1, flows.size + 1)
    return float(flows @ factors)


def capital_recovery_factor(rate_per_year: float, years: float) -> float:
    """Annual payment per dollar of capital repaid over ``years`` at ``rate_per_year`` (1/years at 0 %)."""
    if rate_per_year == 0:
        return 1.0 / years
    return rate_per_year / (1.0 - (1.0 + rate_per_year) ** -years)


def break_even_period(cum_a: Sequence[float], cum_b: Sequence[float]) -> int | None:
    """First period (1-based) from which cumulative cost A stays at or below B; None if never."""
    diff = np.asarray(cum_a, dtype=float) - np.asarray(cum_b, dtype=float)
    if diff.size == 0 or diff[-1] > 1e-9:
        return None
    above = np.nonzero(diff > 1e-9)[0]
    return 1 if above.size == 0 else int(above[-1]) + 2


def quarters_to_months(per_quarter: Sequence[float], upfront: Sequence[float] | None = None) -> np.ndarray:
    """Monthly cash: each quarter's running cost split evenly over its 3 months, ``upfront`` in month 1."""
    running = np.repeat(np.asarray(per_quarter, dtype=float) / 3.0, 3)
    if upfront is not None:
        running[::3] += np.asarray(upfront, dtype=float)
    return running
