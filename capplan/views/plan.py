"""Capacity plans for the dashboard: example and uploaded plan files, result tables (report files come
from capplan.reports)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd

from capplan.catalog import Catalog
from capplan.planner import Plan, PlanResult, load_plan, run_plan
from capplan.planner.result import table_columns
from capplan.results.store import Store
from capplan.views.text import md_escape

__all__ = [
    "PlanResult",
    "example_plans",
    "parse_plan",
    "plan_result",
    "residency_markdown",
    "table",
    "unserved_workload_quarters",
]

# The example plans of a source checkout, else those installed with the wheel (capplan/examples/).
EXAMPLES_DIR = next((d for d in (Path(__file__).resolve().parents[2] / "examples",
                                 Path(__file__).resolve().parents[1] / "examples") if d.is_dir()),
                    Path(__file__).resolve().parents[1] / "examples")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def example_plans(directory: Path = EXAMPLES_DIR) -> dict[str, Path]:
    """Example plan files by file name (empty when the directory is missing)."""
    return {p.name: p for p in sorted(directory.glob("*.y*ml"))} if directory.is_dir() else {}


def parse_plan(text: str, file_name: str) -> Plan:
    """Validate plan YAML text through ``load_plan`` so errors name the file, the field and what is
    allowed."""
    safe = _SAFE_NAME.sub("_", Path(file_name).name).strip(".") or "plan.yaml"  # "..": no directory names
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / safe
        path.write_text(text, encoding="utf-8")
        plan = load_plan(path)
    return plan


def table(result: PlanResult, name: str) -> pd.DataFrame:
    """One of the result's tables (``capplan.planner.result.TABLES``) as a DataFrame with its columns."""
    return pd.DataFrame(result.tables()[name], columns=table_columns(name))


def residency_markdown(result: PlanResult) -> list[str]:
    """One Markdown block per sensitive workload: its residency rules, where the plan put it and the rule
    that allowed it, and each excluded venue with the rule that excluded it (plan text escaped)."""
    return [
        f"**{md_escape(c.workload)}**: {md_escape(c.rules)}  \n"
        f"Placed: {md_escape(c.placed)}  \n"
        f"Excluded: {md_escape(c.excluded)}"
        for c in result.constraints
    ]


def unserved_workload_quarters(result: PlanResult, alternative: str = "recommended") -> int:
    """Workload-quarters the given alternative leaves without capacity (0 when all demand is served)."""
    return sum(a.unserved_workload_quarters for a in result.alternatives if a.alternative == alternative)


def plan_result(text: str, file_name: str, catalog: Catalog, store: Store) -> PlanResult:
    """Parse plan YAML text (errors name the file and field) and run it against the catalog and store."""
    return run_plan(parse_plan(text, file_name), catalog, store)
