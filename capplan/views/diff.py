"""What differs between two runs: config, software, host and tags, differences only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from capplan.results.schema import RunRecord


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> ``{"a.b.c": value}``; lists are kept as values."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _facts(r: RunRecord) -> dict[str, Any]:
    return flatten({
        "benchmark": r.benchmark,
        "kind": r.kind,
        "suite": r.suite,
        "host_fingerprint": r.host_fingerprint,
        "status": r.status.value,
        "config": r.config,
        "software": r.software,
        "tags": r.tags,
        "cpu": r.inventory.get("cpu", {}),
        "gpus": {"names": [g.get("name") for g in r.inventory.get("gpus", [])]},
    })


def config_diff(a: RunRecord, b: RunRecord) -> pd.DataFrame:
    """Rows only for the facts whose values differ between ``a`` and ``b``."""
    fa, fb = _facts(a), _facts(b)
    keys = sorted(set(fa) | set(fb))
    rows = [
        {"field": k, "run A": _text(fa, k), "run B": _text(fb, k)}
        for k in keys
        if fa.get(k, fa) != fb.get(k, fb)
    ]
    return pd.DataFrame(rows, columns=["field", "run A", "run B"])


def _text(facts: dict[str, Any], key: str) -> str:
    """Uniform text for a table cell (Arrow needs one type per column)."""
    return str(facts[key]) if key in facts else "(not set)"
