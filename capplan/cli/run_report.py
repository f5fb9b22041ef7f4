"""The report printed after `capplan bench run` (one row per benchmark), local or under torchrun."""

from __future__ import annotations

from rich.table import Table

from capplan.cli.common import console
from capplan.results.schema import RunRecord, Status


def run_row(
    benchmark: str, record: RunRecord | None, status_if_none: str, error_if_none: str | None = None
) -> dict:
    """One line of a run report (JSON and table): status, run id, headline or error."""
    return {
        "benchmark": benchmark,
        "run_id": record.run_id if record else None,
        "status": record.status.value if record else status_if_none,
        "error": record.error if record else error_if_none,
        "headline": _headline(record) if record else None,
    }


def print_run_rows(title: str, rows: list[dict]) -> None:
    """A run report (rows from run_row) as a table."""
    t = Table(title=title)
    for col in ("benchmark", "status", "run id", "headline / error"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["benchmark"], r["status"], (r["run_id"] or "-")[:12], r["headline"] or (r["error"] or "")[:80]
        )
    console.print(t)


def _headline(record: RunRecord) -> str | None:
    if not record.metrics or record.status is not Status.ok:
        return None
    m = record.metrics[0]
    pct = f" ({m.pct_of_peak:.0f}% of peak)" if m.pct_of_peak is not None else ""
    return f"{m.name} = {m.value:.4g} {m.unit}{pct}" + (" noisy" if m.noisy else "")
