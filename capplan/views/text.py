"""Safe display of stored or uploaded text in Streamlit's Markdown-rendering elements."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|$~:])")


def md_escape(text: object) -> str:
    """``text`` with every Markdown/LaTeX control character escaped, so it shows literally (no links,
    images, HTML or math from user data)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def usd(value: float, decimals: int = 0) -> str:
    """US dollars with thousands separators and the sign before the symbol: -$1,234."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{decimals}f}"
