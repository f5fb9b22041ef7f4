"""SQLAlchemy results store: SQLite file by default, any SQLAlchemy URL (PostgreSQL) for teams.

One record is written in one transaction. A store from a newer schema, or a file that is not a
capplan store, is refused with a clear error and never modified.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from capplan.errors import UserError
from capplan.results.schema import SCHEMA_VERSION, RunRecord

APP_ID = "capplan"
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_BUSY_TIMEOUT_S = 30.0  # concurrent writers wait this long for the write lock before failing

metadata = MetaData()
meta_table = Table(
    "capplan_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)
runs_table = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("benchmark", String(256), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("suite", String(256)),
    Column("status", String(16), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("host_fingerprint", String(64), nullable=False, index=True),
    Column("config_hash", String(64), nullable=False),
    Column("started_utc", DateTime(timezone=True), nullable=False, index=True),
    Column("ended_utc", DateTime(timezone=True), nullable=False),
    Column("record_json", Text, nullable=False),
)
metrics_table = Table(
    "metrics",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Float, nullable=False),
    Column("unit", String(32), nullable=False),
)
Index("ix_runs_resume", runs_table.c.config_hash, runs_table.c.host_fingerprint, runs_table.c.status)


def default_store_url() -> str:
    """``$CAPPLAN_STORE`` if set, else a SQLite file under the user's data directory."""
    env = os.environ.get("CAPPLAN_STORE")
    if env:
        return env
    return f"sqlite:///{Path(user_data_dir('capplan')) / 'results.db'}"


def _normalise_url(url: str) -> str:
    """Accept a bare file path as a SQLite store; pass SQLAlchemy URLs through."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().absolute()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


def _check_sqlite_file(path: Path) -> None:
    """Refuse a file that exists but is not SQLite; create parent directories for a new store."""
    if path.exists():
        if path.is_dir():
            raise UserError(f"store: {path} is a directory; give a SQLite file path or a database URL")
        with path.open("rb") as fh:
            head = fh.read(16)
        if head and head != SQLITE_MAGIC:
            raise UserError(f"store: {path} is not a SQLite database; refusing to touch it")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"store: cannot create directory {path.parent}: {exc.strerror}") from exc


@dataclass(frozen=True)
class RunFilter:
    """Selection of runs; every field is optional and fields combine with AND."""

    benchmark: str | None = None
    suite: str | None = None
    kind: str | None = None
    status: str | None = None
    host_fingerprint: str | None = None
    source: str | None = None
    since: datetime | None = None
    limit: int | None = None


class Store:
    """A capplan results store at a SQLAlchemy URL."""

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = _normalise_url(url or default_store_url())
        self.display_url = redact_url(self.url)
        self.engine = self._make_engine(create)
        self._ensure_schema(create)
        if self.engine.dialect.name == "sqlite":
            _enable_wal(self.engine)

    # -- connection -------------------------------------------------------------------------
    def _make_engine(self, create: bool) -> Engine:
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise UserError(
                f"store: cannot parse URL {self.url!r}; use a file path, sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB"
            ) from exc
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            if not create and not path.exists():
                raise UserError(f"store: {path} does not exist")
            _check_sqlite_file(path)
        try:
            if is_sqlite:
                engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
                event.listen(engine, "connect", _sqlite_on_connect)
            else:
                engine = create_engine(parsed, pool_pre_ping=True)
        except (NoSuchModuleError, ArgumentError, ImportError) as exc:
            raise UserError(
                f"store: unsupported URL scheme {parsed.drivername!r}; allowed: sqlite, postgresql+psycopg"
            ) from exc
        return engine

    def _ensure_schema(self, create: bool) -> None:
        try:
            tables = set(inspect(self.engine).get_table_names())
            if not tables:
                if not create:
                    raise UserError(f"store: {self.display_url} is empty, not a capplan store")
                with self.engine.begin() as conn:
                    metadata.create_all(conn)
                    conn.execute(
                        meta_table.insert(),
                        [{"key": "app", "value": APP_ID}, {"key": "schema_version", "value": str(SCHEMA_VERSION)}],
                    )
                return
            if meta_table.name not in tables:
                raise UserError(
                    f"store: {self.display_url} holds other tables and is not a capplan store; refusing to touch it"
                )
            with self.engine.connect() as conn:
                meta = dict(conn.execute(select(meta_table.c.key, meta_table.c.value)).all())
        except (DBAPIError, SQLAlchemyError) as exc:
            raise UserError(f"store: cannot open {self.display_url}: {_first_line(exc)}") from exc
        if meta.get("app") != APP_ID:
            raise UserError(f"store: {self.display_url} is not a capplan store; refusing to touch it")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise UserError(
                f"store: {self.display_url} has schema version {version}, newer than this capplan "
                f"({SCHEMA_VERSION}); upgrade capplan"
            )

    # -- writes -----------------------------------------------------------------------------
    def add(self, record: RunRecord) -> None:
        """Insert one record (run row + metric rows) in a single transaction."""
        self.add_many([record])

    def add_many(self, records: Iterable[RunRecord], *, skip_existing: bool = False) -> int:
        """Insert records in one transaction; returns how many were inserted.

        With ``skip_existing`` records whose run_id is already stored are skipped (idempotent import).
        """
        records = list(records)
        if not records:
            return 0
        try:
            with self.engine.begin() as conn:
                if skip_existing:
                    ids = [r.run_id for r in records]
                    present = set(conn.scalars(select(runs_table.c.run_id).where(runs_table.c.run_id.in_(ids))))
                    records = [r for r in records if r.run_id not in present]
                    records = list({r.run_id: r for r in records}.values())
                if not records:
                    return 0
                conn.execute(runs_table.insert(), [_run_row(r) for r in records])
                metric_rows = [row for r in records for row in _metric_rows(r)]
                if metric_rows:
                    conn.execute(metrics_table.insert(), metric_rows)
        except IntegrityError as exc:
            raise UserError(f"store: duplicate run id; nothing was written ({_first_line(exc)})") from exc
        except (DBAPIError, SQLAlchemyError) as exc:
            raise UserError(f"store: write to {self.display_url} failed, nothing was written: {_first_line(exc)}") from exc
        return len(records)

    # -- reads ------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        """The record with ``run_id`` (a unique prefix is accepted)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(runs_table.c.record_json).where(runs_table.c.run_id.startswith(run_id, autoescape=True)).limit(2)
            ).all()
        if not rows:
            raise UserError(f"run_id: no run {run_id!r} in {self.display_url}")
        if len(rows) > 1:
            raise UserError(f"run_id: prefix {run_id!r} matches several runs; give more characters")
        return RunRecord.model_validate_json(rows[0][0])

    def query(self, flt: RunFilter | None = None) -> list[RunRecord]:
        """Records matching ``flt``, newest first."""
        return list(self.iter_records(flt))

    def iter_records(self, flt: RunFilter | None = None) -> Iterator[RunRecord]:
        stmt = _filtered(select(runs_table.c.record_json), flt or RunFilter())
        with self.engine.connect() as conn:
            for (doc,) in conn.execute(stmt):
                yield RunRecord.model_validate_json(doc)

    def summaries(self, flt: RunFilter | None = None) -> list[dict[str, Any]]:
        """Light rows (no raw samples) for listings and dashboards."""
        cols = [c for c in runs_table.c if c.name != "record_json"]
        stmt = _filtered(select(*cols), flt or RunFilter())
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def metric_rows(self, flt: RunFilter | None = None) -> list[dict[str, Any]]:
        """One row per (run, metric) joined with run columns, for tables and charts."""
        run_cols = [c for c in runs_table.c if c.name != "record_json"]
        stmt = select(*run_cols, metrics_table.c.name, metrics_table.c.value, metrics_table.c.unit).join(
            metrics_table, metrics_table.c.run_id == runs_table.c.run_id
        )
        stmt = _filtered(stmt, flt or RunFilter())
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def count(self, flt: RunFilter | None = None) -> int:
        stmt = _filtered(select(func.count()).select_from(runs_table), flt or RunFilter(), order=False)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def has_ok(self, config_hash_: str, host_fingerprint: str) -> bool:
        """True when an ``ok`` run with this config hash exists for this host (used by --resume)."""
        stmt = (
            select(runs_table.c.run_id)
            .where(runs_table.c.config_hash == config_hash_)
            .where(runs_table.c.host_fingerprint == host_fingerprint)
            .where(runs_table.c.status == "ok")
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # journal_mode=WAL is set once the file is known to be a capplan store (_enable_wal): the pragma
    # rewrites the file header, and a foreign SQLite file must stay byte-identical.
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cur.close()


def _enable_wal(engine: Engine) -> None:
    """WAL: readers never block the writer, and a kill -9 mid-write leaves the last commit intact."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")


def _filtered(stmt: Any, flt: RunFilter, *, order: bool = True) -> Any:
    c = runs_table.c
    for col, value in (
        (c.benchmark, flt.benchmark),
        (c.suite, flt.suite),
        (c.kind, flt.kind),
        (c.status, flt.status),
        (c.host_fingerprint, flt.host_fingerprint),
        (c.source, flt.source),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if flt.since is not None:
        stmt = stmt.where(c.started_utc >= flt.since)
    if order:
        stmt = stmt.order_by(c.started_utc.desc(), c.run_id)
    if flt.limit is not None:
        stmt = stmt.limit(flt.limit)
    return stmt


def _run_row(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "benchmark": r.benchmark,
        "kind": r.kind,
        "suite": r.suite,
        "status": r.status.value,
        "source": r.source.value,
        "host_fingerprint": r.host_fingerprint,
        "config_hash": r.config_hash,
        "started_utc": r.started_utc,
        "ended_utc": r.ended_utc,
        "record_json": r.model_dump_json(),
    }


def _metric_rows(r: RunRecord) -> list[dict[str, Any]]:
    return [{"run_id": r.run_id, "name": m.name, "value": m.value, "unit": m.unit} for m in r.metrics]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def dumps_records(records: Iterable[RunRecord]) -> str:
    """capplan's own JSON export format."""
    return json.dumps(
        {"format": "capplan-results", "schema_version": SCHEMA_VERSION, "records": [r.model_dump(mode="json") for r in records]},
        indent=1,
    )
