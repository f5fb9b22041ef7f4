"""Shared fixtures. Store tests take ``store_url`` and so run against every available backend."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """URL of a fresh, empty results store (SQLite file in a temp dir)."""
    return f"sqlite:///{tmp_path / 'results.db'}"
