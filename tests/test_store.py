"""The results store on every backend (``store_url``: SQLite and a real PostgreSQL server)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from capplan.errors import UserError
from capplan.results.schema import SCHEMA_VERSION, Metric, RunRecord, Source, Status
from capplan.results.store import RunFilter, Store, redact_url

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def full_record(i: int = 0, **over: object) -> RunRecord:
    """A record with every field set, nested structures and a non-UTC offset included."""
    ist = timezone(timedelta(hours=5, minutes=30))
    fields: dict[str, object] = dict(
        run_id=f"run{i:04d}" + "a" * 20,
        benchmark=f"gemm-{i % 2}",
        kind="gemm" if i % 3 else "allreduce",
        suite="quick" if i % 2 else "standard",
        config={"m": 1024, "dtype": "bf16", "nested": {"list": [1, 2.5, "x", None], "flag": True}, "i": i},
        host_fingerprint="hostA" if i < 5 else "hostB",
        inventory={
            "cpu": {"model": "Zen4", "flags": ["avx512f"]},
            "gpus": [{"name": None, "memory_gib": 80.0}],
        },
        software={"torch": "2.13.0", "python": "3.11"},
        started_utc=(T0 + timedelta(minutes=i)).astimezone(ist),
        ended_utc=(T0 + timedelta(minutes=i, seconds=2.25)).astimezone(ist),
        status=Status.ok if i % 4 else Status.failed,
        error=None if i % 4 else "RuntimeError: boom\nsecond line",
        metrics=[
            Metric(
                name="tflops",
                value=0.5 + i,
                unit="TFLOP/s",
                stats={"p50": 0.5, "p90": 0.6, "p99": 0.7, "cv": 0.02, "iqr": 0.01, "n": 40.0},
                noisy=bool(i % 2),
                peak=3.2,
                peak_source="catalog: test row 2026-01-01",
            ),
            Metric(name="latency_p99_ms", value=1.25, unit="ms", higher_is_better=False),
        ],
        samples={"latency_ms": [1.0, 1.1, 0.9, 1.25e-3, 123456.789]},
        telemetry={"cpu_util_pct": 97.5, "energy_j": None},
        tags={"team": "infra", "ünïcode": "✓"},
        source=Source.local if i % 5 else Source.imported,
        origin=None if i % 5 else "mlperf/submission.json",
        seed=i,
    )
    fields.update(over)
    return RunRecord(**fields)


@pytest.fixture
def store(store_url: str) -> Store:
    st = Store(store_url)
    yield st
    st.close()


@pytest.fixture
def filled(store: Store) -> tuple[Store, list[RunRecord]]:
    records = [full_record(i) for i in range(10)]
    assert store.add_many(records) == 10
    return store, records


def test_round_trip_keeps_every_field(store: Store) -> None:
    rec = full_record(7)
    store.add(rec)
    got = Store(store.url).get(rec.run_id)  # a second connection, not a cache
    assert got.model_dump() == rec.model_dump()
    assert got.started_utc == rec.started_utc and got.started_utc.utcoffset() is not None
    assert got.metric("tflops").stats == rec.metric("tflops").stats
    assert got.samples["latency_ms"] == [1.0, 1.1, 0.9, 1.25e-3, 123456.789]


def test_filters_select_and_order(filled: tuple[Store, list[RunRecord]]) -> None:
    store, records = filled
    newest_first = sorted(records, key=lambda r: r.started_utc, reverse=True)
    assert [r.run_id for r in store.query()] == [r.run_id for r in newest_first]
    cases = {
        "benchmark": "gemm-1", "suite": "quick", "kind": "allreduce", "status": "failed",
        "host_fingerprint": "hostB", "source": "imported",
    }
    for field, value in cases.items():
        got = store.query(RunFilter(**{field: value}))
        expected = {r.run_id for r in records if str(getattr(r, field)) == value}
        assert expected and {r.run_id for r in got} == expected, field
        assert store.count(RunFilter(**{field: value})) == len(expected)
    since = T0 + timedelta(minutes=6)
    assert {r.run_id for r in store.query(RunFilter(since=since))} == {
        r.run_id for r in records if r.started_utc >= since
    }
    assert [r.run_id for r in store.query(RunFilter(limit=3))] == [r.run_id for r in newest_first[:3]]
    both = RunFilter(suite="quick", host_fingerprint="hostA")
    assert store.count(both) == sum(
        1 for r in records if r.suite == "quick" and r.host_fingerprint == "hostA"
    )
    assert store.count(RunFilter(benchmark="nope")) == 0


def test_summaries_and_metric_rows(filled: tuple[Store, list[RunRecord]]) -> None:
    store, records = filled
    rows = store.summaries(RunFilter(status="ok"))
    ok = [r for r in records if r.status is Status.ok]
    assert len(rows) == len(ok)
    assert all("record_json" not in row for row in rows)
    by_id = {r.run_id: r for r in records}
    for row in rows:
        rec = by_id[row["run_id"]]
        assert (row["benchmark"], row["config_hash"], row["status"]) == (rec.benchmark, rec.config_hash, "ok")
    metric_rows = store.metric_rows(RunFilter(host_fingerprint="hostA"))
    host_a = [r for r in records if r.host_fingerprint == "hostA"]
    assert len(metric_rows) == sum(len(r.metrics) for r in host_a)
    for row in metric_rows:
        m = by_id[row["run_id"]].metric(row["name"])
        assert (row["value"], row["unit"], row["host_fingerprint"]) == (m.value, m.unit, "hostA")


def test_has_ok_needs_ok_status_on_the_same_host(store: Store) -> None:
    failed = full_record(0)  # i % 4 == 0: failed
    store.add(failed)
    assert not store.has_ok(failed.config_hash, failed.host_fingerprint)
    ok = full_record(1, config=failed.config)
    store.add(ok)
    assert ok.config_hash == failed.config_hash
    assert store.has_ok(ok.config_hash, "hostA")
    assert not store.has_ok(ok.config_hash, "hostB")
    assert not store.has_ok("0" * 16, "hostA")


def test_get_by_prefix_and_errors(store: Store) -> None:
    store.add_many(
        [full_record(1, run_id="abc123"), full_record(2, run_id="abd456"), full_record(3, run_id="x_%")]
    )
    assert store.get("abc").run_id == "abc123"
    assert store.get("abd456").run_id == "abd456"
    with pytest.raises(UserError, match="matches several runs"):
        store.get("ab")
    with pytest.raises(UserError, match="no run"):
        store.get("zzz")
    with pytest.raises(UserError, match="no run"):
        store.get("x%%")  # LIKE wildcards in the prefix are literal
    assert store.get("x_%").run_id == "x_%"


def test_duplicate_run_id_rejected_and_nothing_written(store: Store) -> None:
    first = full_record(1)
    store.add(first)
    batch = [full_record(2), full_record(3, run_id=first.run_id)]
    with pytest.raises(UserError, match="duplicate run id"):
        store.add_many(batch)
    assert store.count() == 1
    assert store.get(first.run_id).model_dump() == first.model_dump()
    with pytest.raises(UserError, match="no run"):
        store.get(batch[0].run_id)
    assert len(store.metric_rows()) == len(first.metrics)


def test_add_many_is_atomic_and_skip_existing_is_idempotent(store: Store) -> None:
    records = [full_record(i) for i in range(4)]
    with pytest.raises(UserError):
        store.add_many([*records, records[0]])  # duplicate inside one batch
    assert store.count() == 0 and store.metric_rows() == []
    assert store.add_many(records[:2]) == 2
    assert store.add_many([*records, records[3]], skip_existing=True) == 2
    assert store.add_many(records, skip_existing=True) == 0
    assert store.count() == 4
    assert store.add_many([]) == 0


def test_store_from_newer_schema_version_is_refused_untouched(store_url: str) -> None:
    Store(store_url).add(full_record(1))
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE capplan_meta SET value = :v WHERE key = 'schema_version'"),
            {"v": str(SCHEMA_VERSION + 1)},
        )
    with pytest.raises(UserError, match="newer than this capplan"):
        Store(store_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE capplan_meta SET value = :v WHERE key = 'schema_version'"),
            {"v": str(SCHEMA_VERSION)},
        )
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UserError, match="revision 9999"):
        Store(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 1
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "9999"
    engine.dispose()


def test_foreign_sqlite_file_left_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    before = path.read_bytes()
    for create in (True, False):
        with pytest.raises(UserError, match="not a capplan store"):
            Store(str(path), create=create)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_foreign_postgres_database_refused_untouched(pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
    with pytest.raises(UserError, match="not a capplan store"):
        Store(pg_url)
    with engine.connect() as conn:
        tables = (
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        )
    assert tables == ["notes"]
    engine.dispose()


def test_non_sqlite_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    path.write_text("just text, not a database\n")
    with pytest.raises(UserError, match="not a SQLite database"):
        Store(str(path))
    assert path.read_text() == "just text, not a database\n"
    with pytest.raises(UserError, match="is a directory"):
        Store(str(tmp_path))


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("mysql+nosuchdriver://u@h/db", "unsupported URL scheme"),
        ("://no-scheme", "cannot parse URL"),
        ("sqlite+nosuch:///x.db", "unsupported URL scheme"),
        ("postgresql+psycopg://u:s3cretpw@127.0.0.1:notaport/db", "port|cannot parse URL|bad URL"),
        ("postgresql+psycopg://capplan:s3cretpw@127.0.0.1:1/db", "cannot open"),
    ],
)
def test_bad_urls_are_user_errors(url: str, match: str) -> None:
    with pytest.raises(UserError, match=match) as exc:
        Store(url)
    assert "s3cretpw" not in str(exc.value)


def test_missing_store_without_create_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        Store(str(tmp_path / "absent.db"), create=False)
    assert not (tmp_path / "absent.db").exists()


def test_empty_database_without_create_is_refused(pg_url: str) -> None:
    with pytest.raises(UserError, match="empty, not a capplan store"):
        Store(pg_url, create=False)


def test_redact_url_hides_password(pg_url: str) -> None:
    password = pg_url.split(":")[2].split("@")[0]
    st = Store(pg_url)
    assert password not in st.display_url and password not in redact_url(pg_url)
    assert "***" in st.display_url
    st.close()
