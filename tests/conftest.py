"""Shared fixtures. Store tests take ``store_url`` and so run against every backend: SQLite and a
real PostgreSQL server started once per session (see tests/pgserver.py).

Without PostgreSQL binaries the PostgreSQL cases skip with a reason, except under ``CI=true`` where
they fail: CI must run them for real (``make test`` installs them via scripts/sysdeps.sh).
tests/pgserver.py (and psycopg) is imported only when a test asks for PostgreSQL, so the GPU tests run
on a machine without psycopg (scripts/gpu-check.sh).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # make tests/pgserver.py importable from test modules
# The test-only kinds in tests/harness_fixture_kinds.py are trusted for the whole session (suites name them
# as module:Class); subprocesses inherit this. tests/test_trust.py checks the refusal without it.
os.environ["CAPPLAN_ALLOWED_KINDS"] = "harness_fixture_kinds,test_reliability_kinds,no_such_module_xyz"

if TYPE_CHECKING:
    from pgserver import PgServer

STORE_BACKENDS = ("sqlite", "postgresql")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true; scripts/sysdeps.sh installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole session, removed at the end."""
    try:
        from pgserver import PgServer, find_bindir
    except ImportError as exc:  # psycopg missing (e.g. a bare GPU machine)
        _unavailable(f"PostgreSQL tests need psycopg: {exc}")
    bindir = find_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server binaries (initdb, postgres) not installed")
    server = PgServer(bindir)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        _unavailable(f"could not start PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """URL of a fresh, empty PostgreSQL database (password included: never print it unredacted)."""
    return pg_server.new_database()


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty results store; the test runs once per backend (SQLite, PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """Streamlit's AppTest replaces ``sys.modules['__main__']`` with the app script and leaves it there;
    the harness's forkserver children would then re-run the dashboard as their main module."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
