"""The one money formatter: US dollars with thousands separators, the sign before the symbol."""

from __future__ import annotations


def usd(value: float, decimals: int = 0) -> str:
    """US dollars with thousands separators and the sign before the symbol: -$1,234."""
    sign = "-" if value < -0.5 * 10**-decimals else ""
    return f"{sign}${abs(value):,.{decimals}f}"
