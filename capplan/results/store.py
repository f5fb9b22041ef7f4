"""SQLAlchemy results store: SQLite file by default, any SQLAlchemy URL (PostgreSQL) for teams.

One record is written in one transaction. A store from a newer schema, or a file that is not a
capplan store, is refused with a clear error and never modified. The schema is created and upgraded
in place by the Alembic migrations in ``capplan/results/migrations``. Many processes and hosts may
write at once: SQLite serialises writers (WAL, ``BEGIN IMMEDIATE``, busy timeout, retry), PostgreSQL
runs each batch in its own transaction.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from platformdirs import user_data_dir
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)

from capplan.errors import UserError
from capplan.results import migrations
from capplan.results.schema import SCHEMA_VERSION, RunRecord
from capplan.results.summary import SUMMARY_FIELDS, record_summary

APP_ID = "capplan"
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_BUSY_TIMEOUT_S = 30.0  # concurrent writers wait this long for the write lock before failing
# After the busy timeout a locked SQLite write is retried this many times, backing off exponentially
# from SQLITE_RETRY_BASE_S: covers lock storms from many processes on a slow disk.
SQLITE_RETRIES = 5
SQLITE_RETRY_BASE_S = 0.05
# Key of the PostgreSQL advisory lock that serialises schema migrations across hosts ("capplan" in ASCII).
PG_MIGRATION_LOCK_KEY = 0x63617070_6C616E
_WRITE = {"capplan_write": True}  # execution option: SQLite begins write transactions IMMEDIATE
PAGE_READ_CHUNK = (
    500  # ids per IN (...) when reading a page of records: well under every backend's bind limit
)
T = TypeVar("T")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware on every backend. SQLite keeps no offset,
    so comparing and ordering stored text is only right if every value is in the same zone (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


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
    Column("started_utc", UtcDateTime, nullable=False, index=True),
    Column("ended_utc", UtcDateTime, nullable=False),
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
Index("ix_metrics_name", metrics_table.c.name)  # migration 0002
# migration 0003: the aggregates the dashboard shows (capplan.results.aggregates) read indexes, not rows
Index("ix_runs_suite_host_source_benchmark_started", runs_table.c.suite, runs_table.c.host_fingerprint,
      runs_table.c.source, runs_table.c.benchmark, runs_table.c.started_utc)
Index("ix_runs_source_started", runs_table.c.source, runs_table.c.started_utc)
Index("ix_runs_kind", runs_table.c.kind)


def default_store_url() -> str:
    """``$CAPPLAN_STORE`` if set, else a SQLite file under the user's data directory."""
    env = os.environ.get("CAPPLAN_STORE")
    if env:
        return env
    return f"sqlite:///{Path(user_data_dir('capplan')) / 'results.db'}"


def default_store_exists() -> bool:
    """Whether the default store is there to read (a server URL in ``$CAPPLAN_STORE`` counts as there)."""
    url = default_store_url()
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).expanduser().exists()


def _normalise_url(url: str) -> str:
    """Accept a bare file path as a SQLite store; pass SQLAlchemy URLs through."""
    if "://" not in url:
        try:
            path = Path(url).expanduser()
        except RuntimeError as exc:  # "~name/..." for a user that does not exist
            raise UserError(f"store: cannot expand {url!r}: no such user's home directory") from exc
        return f"sqlite:///{path.absolute()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def backend_name(url: str) -> str:
    """The database behind a store URL or path (``sqlite``, ``postgresql``), without connecting."""
    try:
        return make_url(_normalise_url(url)).get_backend_name()
    except (ArgumentError, ValueError) as exc:
        raise UserError(f"store: cannot parse URL {redact_url(url)!r}") from exc


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"//[^/@]*@", "//***@", url)  # unparseable: drop the whole user:password part


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
    """Selection of runs; every field is optional and fields combine with AND. ``since`` and ``until``
    bound the start time (both inclusive); ``offset`` skips that many runs of the newest-first order."""

    benchmark: str | None = None
    suite: str | None = None
    kind: str | None = None
    status: str | None = None
    host_fingerprint: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    offset: int | None = None


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
        except (ArgumentError, ValueError) as exc:
            raise UserError(
                f"store: cannot parse URL {self.display_url!r}; use a file path, sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB"
            ) from exc
        is_sqlite = self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database and parsed.database != ":memory:":
            database = parsed.database
            if parsed.query.get("uri") in ("true", "1") and database.startswith("file:"):
                database = database.removeprefix("file:")  # SQLite URI filename, e.g. file:PATH?mode=ro
            path = Path(database)
            if not create and not path.exists():
                raise UserError(f"store: {path} does not exist; `capplan bench run --suite quick` creates it")
            _check_sqlite_file(path)
        try:
            if is_sqlite:
                engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
                event.listen(engine, "connect", _sqlite_on_connect)
                event.listen(engine, "begin", _sqlite_on_begin)
            else:
                engine = create_engine(parsed, pool_pre_ping=True)
        except ValueError as exc:  # e.g. a non-numeric port
            raise UserError(f"store: bad URL {self.display_url}: {exc}") from exc
        except (NoSuchModuleError, ArgumentError, ImportError) as exc:
            raise UserError(
                f"store: unsupported URL scheme {parsed.drivername!r}; allowed: sqlite, postgresql+psycopg"
            ) from exc
        return engine

    def _ensure_schema(self, create: bool) -> None:
        """Check this is a capplan store we can read; create or upgrade its schema when needed."""
        try:
            with self.engine.connect() as conn:
                meta, revision = self._inspect(conn, create)
            if meta is not None and revision == migrations.HEAD:
                return  # the common case: one query, no Alembic start-up
            self._write(self._migrate)
        except (DBAPIError, SQLAlchemyError) as exc:
            raise UserError(f"store: cannot open {self.display_url}: {_first_line(exc)}") from exc

    def _inspect(self, conn: Connection, create: bool) -> tuple[dict[str, str] | None, str | None]:
        """(capplan_meta rows, Alembic revision), or (None, None) for an empty database. Refuses a
        foreign or newer store without writing anything."""
        tables = set(inspect(conn).get_table_names())
        if not tables:
            if not create:
                raise UserError(f"store: {self.display_url} is empty, not a capplan store")
            return None, None
        if meta_table.name not in tables:
            raise UserError(
                f"store: {self.display_url} holds other tables and is not a capplan store; refusing to touch "
                f"it"
            )
        meta = dict(conn.execute(select(meta_table.c.key, meta_table.c.value)).all())
        if meta.get("app") != APP_ID:
            raise UserError(f"store: {self.display_url} is not a capplan store; refusing to touch it")
        version = int(meta.get("schema_version", "0"))
        revision = migrations.current_revision(conn, tables)
        if version > SCHEMA_VERSION or (
            revision not in (None, migrations.HEAD) and revision not in migrations.known_revisions()
        ):
            raise UserError(
                f"store: {self.display_url} has schema version {version} (revision {revision}), newer than "
                f"this capplan ({SCHEMA_VERSION}, revision {migrations.HEAD}); upgrade capplan"
            )
        return meta, revision

    def _migrate(self, conn: Connection) -> None:
        """Create or upgrade the schema to head; a lock keeps other processes/hosts from racing us."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK_KEY})
        meta, revision = self._inspect(conn, create=True)  # again, now that we hold the lock
        migrations.upgrade(conn, stamp_baseline=meta is not None and revision is None)
        if meta is None:
            conn.execute(
                meta_table.insert(),
                [{"key": "app", "value": APP_ID}, {"key": "schema_version", "value": str(SCHEMA_VERSION)}],
            )

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction; on SQLite retry with backoff while the file is locked."""
        for attempt in range(SQLITE_RETRIES + 1):
            try:
                with self.engine.connect().execution_options(**_WRITE) as conn, conn.begin():
                    return fn(conn)
            except OperationalError as exc:
                if not (self.is_sqlite and _is_sqlite_busy(exc)) or attempt == SQLITE_RETRIES:
                    raise
                time.sleep(SQLITE_RETRY_BASE_S * 2**attempt)
        raise AssertionError("unreachable")

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

        def insert(conn: Connection) -> int:
            todo = records
            if skip_existing:
                ids = [r.run_id for r in todo]
                present = set(conn.scalars(select(runs_table.c.run_id).where(runs_table.c.run_id.in_(ids))))
                todo = list({r.run_id: r for r in todo if r.run_id not in present}.values())
            if todo:
                conn.execute(runs_table.insert(), [_run_row(r) for r in todo])
                metric_rows = [row for r in todo for row in _metric_rows(r)]
                if metric_rows:
                    conn.execute(metrics_table.insert(), metric_rows)
            return len(todo)

        try:
            return self._write(insert)
        except IntegrityError as exc:
            raise UserError(f"store: duplicate run id; nothing was written ({_first_line(exc)})") from exc
        except (DBAPIError, SQLAlchemyError) as exc:
            raise UserError(
                f"store: write to {self.display_url} failed, nothing was written: {_first_line(exc)}"
            ) from exc

    # -- reads ------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        """The record with ``run_id`` (a unique prefix is accepted)."""
        doc = runs_table.c.record_json
        with self.engine.connect() as conn:
            # A whole id is a primary-key lookup; a prefix (LIKE) scans the table on SQLite, so it comes
            # second.
            rows = conn.execute(select(doc).where(runs_table.c.run_id == run_id)).all() or conn.execute(
                select(doc).where(runs_table.c.run_id.startswith(run_id, autoescape=True)).limit(2)
            ).all()
        if not rows:
            raise UserError(f"run_id: no run {run_id!r} in {self.display_url}")
        if len(rows) > 1:
            raise UserError(f"run_id: prefix {run_id!r} matches several runs; give more characters")
        return RunRecord.model_validate_json(rows[0][0])

    def query(self, flt: RunFilter | None = None) -> list[RunRecord]:
        """Records matching ``flt``, newest first."""
        flt = flt or RunFilter()
        if flt.limit is None:
            return list(self.iter_records(flt))
        # A page: order and cut the ids first, then read only those records. Ordering whole rows would
        # carry every matching record's JSON through the sort (and the OFFSET) just to drop most of it.
        with self.engine.connect() as conn:
            ids = list(conn.scalars(filtered(select(runs_table.c.run_id), flt)))
            docs: dict[str, str] = {}
            for lo in range(0, len(ids), PAGE_READ_CHUNK):
                chunk = ids[lo : lo + PAGE_READ_CHUNK]
                stmt = select(runs_table.c.run_id, runs_table.c.record_json).where(
                    runs_table.c.run_id.in_(chunk)
                )
                docs.update((run_id, doc) for run_id, doc in conn.execute(stmt))
        return [RunRecord.model_validate_json(docs[i]) for i in ids]

    def iter_records(self, flt: RunFilter | None = None) -> Iterator[RunRecord]:
        stmt = filtered(select(runs_table.c.record_json), flt or RunFilter())
        with self.engine.connect() as conn:
            for (doc,) in conn.execute(stmt):
                yield RunRecord.model_validate_json(doc)

    def summaries(self, flt: RunFilter | None = None) -> list[dict[str, Any]]:
        """Light rows (``SUMMARY_FIELDS``: no config, metrics or raw samples) for listings and dashboards."""
        stmt = filtered(select(*(runs_table.c[name] for name in SUMMARY_FIELDS)), flt or RunFilter())
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def metric_rows(self, flt: RunFilter | None = None) -> list[dict[str, Any]]:
        """One row per (run, metric) joined with run columns, for tables and charts."""
        run_cols = [runs_table.c[name] for name in SUMMARY_FIELDS]
        stmt = select(*run_cols, metrics_table.c.name, metrics_table.c.value, metrics_table.c.unit).join(
            metrics_table, metrics_table.c.run_id == runs_table.c.run_id
        )
        stmt = filtered(stmt, flt or RunFilter())
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def count(self, flt: RunFilter | None = None) -> int:
        stmt = filtered(select(func.count()).select_from(runs_table), flt or RunFilter(), order=False)
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
    dbapi_conn.isolation_level = None  # the driver must not BEGIN on its own; _sqlite_on_begin does
    cur = dbapi_conn.cursor()
    # journal_mode=WAL is set once the file is known to be a capplan store (_enable_wal): the pragma
    # rewrites the file header, and a foreign SQLite file must stay byte-identical.
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cur.close()


def _enable_wal(engine: Engine) -> None:
    """WAL: readers never block the writer, and a kill -9 mid-write leaves the last commit intact."""
    raw = engine.raw_connection()  # outside any transaction: the pragma is refused inside one
    try:
        raw.driver_connection.execute("PRAGMA journal_mode=WAL")
    finally:
        raw.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock up front (IMMEDIATE), so the busy timeout applies; a deferred
    # transaction that upgrades from read to write can fail at once with "database is locked".
    immediate = conn.get_execution_options().get("capplan_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _is_sqlite_busy(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message


def filtered(stmt: Any, flt: RunFilter, *, order: bool = True) -> Any:
    """``stmt`` restricted to the runs ``flt`` selects, newest first unless ``order`` is False."""
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
    if flt.until is not None:
        stmt = stmt.where(c.started_utc <= flt.until)
    if order:
        stmt = stmt.order_by(c.started_utc.desc(), c.run_id)
    if flt.limit is not None:
        stmt = stmt.limit(flt.limit)
    if flt.offset:
        stmt = stmt.offset(flt.offset)
    return stmt


def _run_row(r: RunRecord) -> dict[str, Any]:
    return {**record_summary(r), "record_json": r.model_dump_json()}


def _metric_rows(r: RunRecord) -> list[dict[str, Any]]:
    return [{"run_id": r.run_id, "name": m.name, "value": m.value, "unit": m.unit} for m in r.metrics]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def dumps_records(records: Iterable[RunRecord]) -> str:
    """capplan's own JSON export format."""
    return json.dumps(
        {
            "format": "capplan-results",
            "schema_version": SCHEMA_VERSION,
            "records": [r.model_dump(mode="json") for r in records],
        },
        indent=1,
    )
