"""Aggregates over stored runs, computed by the database (GROUP BY, DISTINCT, MIN/MAX): a page that
shows counts and filter choices reads index entries, never every record. Plain SQLAlchemy Core, so
the same queries run on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select

from capplan.results.store import RunFilter, Store, filtered, runs_table
from capplan.results.summary import SUMMARY_FIELDS

# Summary fields with few distinct values, the ones listings group and filter by.
GROUP_FIELDS = ("benchmark", "kind", "suite", "status", "source", "host_fingerprint")


def _column(field: str) -> ColumnElement[Any]:
    if field not in GROUP_FIELDS:
        raise ValueError(f"field {field!r} cannot be grouped; allowed: {', '.join(GROUP_FIELDS)}")
    return runs_table.c[field]


def _where(stmt: Any, flt: RunFilter | None) -> Any:
    """``stmt`` restricted to the runs ``flt`` selects; its limit and offset do not apply to aggregates."""
    return filtered(stmt, replace(flt or RunFilter(), limit=None, offset=None), order=False)


def counts_by(store: Store, field: str, flt: RunFilter | None = None) -> dict[str | None, int]:
    """Number of runs matching ``flt`` per value of ``field`` (None: runs without a value)."""
    col = _column(field)
    stmt = _where(select(col, func.count()).select_from(runs_table), flt).group_by(col)
    with store.engine.connect() as conn:
        return {value: int(n) for value, n in conn.execute(stmt)}


def distinct_values(store: Store, field: str, flt: RunFilter | None = None) -> list[str]:
    """The values ``field`` takes among runs matching ``flt``, sorted; runs without a value are left out."""
    col = _column(field)
    stmt = _where(select(col).distinct(), flt).where(col.is_not(None)).order_by(col)
    with store.engine.connect() as conn:
        return list(conn.scalars(stmt))


def count_distinct(store: Store, field: str, flt: RunFilter | None = None) -> int:
    """How many different values ``field`` takes among runs matching ``flt`` (None is not a value)."""
    stmt = _where(select(func.count(_column(field).distinct())), flt)
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def started_range(store: Store, flt: RunFilter | None = None) -> tuple[datetime | None, datetime | None]:
    """Start times of the oldest and the newest run matching ``flt``; (None, None) when none matches."""
    c = runs_table.c.started_utc
    stmt = _where(select(func.min(c), func.max(c)), flt)
    with store.engine.connect() as conn:
        first, last = conn.execute(stmt).one()
    return first, last


def newest_with_suite(store: Store, flt: RunFilter | None = None) -> dict[str, Any] | None:
    """Summary row of the newest run that belongs to a suite and matches ``flt``; None when there is none."""
    cols = [runs_table.c[name] for name in SUMMARY_FIELDS]
    stmt = filtered(select(*cols), replace(flt or RunFilter(), limit=1, offset=None))
    stmt = stmt.where(runs_table.c.suite.is_not(None))
    with store.engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def newest_per_benchmark(store: Store, flt: RunFilter | None = None) -> list[dict[str, Any]]:
    """Summary row of the newest run of each benchmark among runs matching ``flt``, by benchmark name.

    Two queries: the newest start time per benchmark (GROUP BY over an index), then those rows; of
    runs that started at the same instant the smallest run id wins, as in the store's order.
    """
    c = runs_table.c
    newest = _where(select(c.benchmark, func.max(c.started_utc).label("last")), flt)
    newest = newest.group_by(c.benchmark).subquery()
    cols = [c[name] for name in SUMMARY_FIELDS]
    stmt = _where(select(*cols), flt).join(
        newest, and_(c.benchmark == newest.c.benchmark, c.started_utc == newest.c.last)
    ).order_by(c.benchmark, c.run_id)
    rows: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(stmt):
            rows.setdefault(row.benchmark, dict(row._mapping))
    return list(rows.values())
