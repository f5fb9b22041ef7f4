"""Calendar used by every cost and sizing figure: hours per year, quarter and month."""

from __future__ import annotations

HOURS_PER_YEAR = 365.25 * 24.0  # Julian year, so leap years average out over a multi-year horizon
HOURS_PER_QUARTER = HOURS_PER_YEAR / 4.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0
