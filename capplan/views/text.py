"""Safe display of stored or uploaded text in Streamlit's Markdown-rendering elements."""

from __future__ import annotations

import re

from capplan.costs.format import usd

__all__ = ["md_escape", "usd"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|$~:])")


def md_escape(text: object) -> str:
    """``text`` with every Markdown/LaTeX control character escaped, so it shows literally (no links,
    images, HTML or math from user data)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
