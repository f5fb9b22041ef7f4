"""Alembic migrations of the results-store schema, applied programmatically when a Store opens.

A long-lived team database upgrades in place: ``Store(url)`` runs ``alembic upgrade head`` inside the
caller's transaction. Stores written before migrations existed (capplan_meta present, no
alembic_version table) hold the baseline schema and are stamped ``BASELINE`` first.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

if TYPE_CHECKING:  # Alembic costs ~0.2 s to import: loaded only to create, migrate or inspect a store
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent
BASELINE = "0001"
# The newest revision in versions/ (tests check it against Alembic's own view). Opening a store that
# is already at HEAD costs one query and no Alembic import (~0.2 s); bump it with every new revision.
HEAD = "0003"
VERSION_TABLE = "alembic_version"
# Alembic keeps the running migration context in module globals: one upgrade at a time per process.
_UPGRADE_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the packaged migrations; env.py runs on ``connection`` when given."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this capplan knows."""
    head = _script().get_current_head()
    assert head is not None, "packaged migrations have no head revision"
    return head


@cache
def known_revisions() -> frozenset[str]:
    """Every revision this capplan ships; a store at any other revision comes from a newer capplan."""
    return frozenset(s.revision for s in _script().walk_revisions())


def current_revision(connection: Connection, tables: Collection[str]) -> str | None:
    """The revision recorded in the database (``tables``: its table names), or None when unversioned."""
    if VERSION_TABLE not in tables:
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one_or_none()  # noqa: S608


def upgrade(connection: Connection, *, stamp_baseline: bool = False) -> None:
    """Upgrade the database to head inside the connection's open transaction."""
    from alembic import command

    with _UPGRADE_LOCK:
        if stamp_baseline:
            command.stamp(alembic_config(connection), BASELINE)
        command.upgrade(alembic_config(connection), "head")
