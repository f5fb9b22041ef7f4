"""Alembic migrations: new stores are at head, old stores upgrade in place on open, data survives."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text
from test_store import full_record

from capplan.results import migrations
from capplan.results.store import APP_ID, Store


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as conn:
        rev = migrations.current_revision(conn, inspect(conn).get_table_names())
    engine.dispose()
    return rev


def test_new_store_is_at_head(store_url: str) -> None:
    Store(store_url).close()
    head = migrations.head_revision()  # Alembic's view of versions/
    assert head == migrations.HEAD and head in migrations.known_revisions()
    assert _revision(store_url) == head
    engine = create_engine(store_url)
    with engine.connect() as conn:
        meta = dict(conn.execute(text("SELECT key, value FROM capplan_meta")).all())
        lines: list[str] = []
        cfg = migrations.alembic_config(conn)
        cfg.print_stdout = lambda fmt, *args: lines.append(fmt % args if args else fmt)  # type: ignore[method-assign]
        command.current(cfg)  # what `alembic current` reports
    engine.dispose()
    assert meta["app"] == APP_ID and meta["schema_version"] == "1"
    assert any(line.startswith(f"{head} (head)") for line in lines), lines


def _store_before_migrations(url: str) -> None:
    """A store as capplan wrote it before migrations existed: baseline tables, no alembic_version."""
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), migrations.BASELINE)
        conn.execute(
            text("INSERT INTO capplan_meta (key, value) VALUES ('app', 'capplan'), ('schema_version', '1')")
        )
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


def _metric_indexes(url: str) -> set[str]:
    engine = create_engine(url)
    names = {ix["name"] for ix in inspect(engine).get_indexes("metrics")}
    engine.dispose()
    return names


def test_old_store_upgrades_in_place_and_keeps_records(store_url: str) -> None:
    rec = full_record(3)
    Store(store_url).add(rec)
    engine = create_engine(store_url)
    with engine.begin() as conn:  # take the store back to revision 0001, as an older capplan left it
        command.downgrade(migrations.alembic_config(conn), migrations.BASELINE)
    engine.dispose()
    assert _revision(store_url) == "0001" and "ix_metrics_name" not in _metric_indexes(store_url)
    st = Store(store_url, create=False)  # opening upgrades in place
    assert _revision(store_url) == migrations.head_revision() != "0001"
    assert "ix_metrics_name" in _metric_indexes(store_url)
    assert st.get(rec.run_id).model_dump() == rec.model_dump()
    st.add(full_record(4))
    assert st.count() == 2


def test_store_from_before_migrations_is_stamped_and_upgraded(store_url: str) -> None:
    _store_before_migrations(store_url)
    assert _revision(store_url) is None
    Store(store_url).add(full_record(1))
    assert _revision(store_url) == migrations.head_revision()
    assert Store(store_url, create=False).count() == 1
