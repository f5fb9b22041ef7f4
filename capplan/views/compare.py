"""Comparison tables of two runs or two groups of runs (e.g. two hosts), via capplan.results.compare."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from capplan.results.compare import compare_runs
from capplan.results.schema import RunRecord

COLUMNS = ("benchmark", "metric", "unit", "a_value", "b_value", "ratio", "p_value", "n_a", "n_b", "verdict")


def comparison_frame(
    a: Iterable[RunRecord], b: Iterable[RunRecord], *, by_benchmark: bool = True
) -> pd.DataFrame:
    """One row per metric both sides report: medians of per-run figures, B/A, the between-run test's
    p-value (capplan.results.compare), verdict.

    Two single runs of differently named benchmarks compare with ``by_benchmark=False``.
    """
    rows = [c.as_dict() for c in compare_runs(a, b, by_benchmark=by_benchmark)]
    return pd.DataFrame(rows, columns=list(COLUMNS))
