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
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from capplan.harness.reaper import tagged_pids

sys.path.insert(0, str(Path(__file__).parent))  # make tests/pgserver.py importable from test modules
# The test-only kinds in tests/harness_fixture_kinds.py are trusted for the whole session (suites name them
# as module:Class); subprocesses inherit this. tests/test_trust.py checks the refusal without it.
os.environ["CAPPLAN_ALLOWED_KINDS"] = "harness_fixture_kinds,test_reliability_kinds,no_such_module_xyz"
# Every process the tests start inherits this marker (whatever session or parent it ends up with), so the
# leak check at the end can find servers and benchmark children that outlived their test.
SESSION_MARK_ENV = "CAPPLAN_TEST_SESSION"
os.environ[SESSION_MARK_ENV] = SESSION_MARK = uuid.uuid4().hex
# Processes told to stop get this long to exit before they count as leaked.
LEAK_GRACE_S = float(os.environ.get("CAPPLAN_LEAK_GRACE_S", "10"))
# Helpers multiprocessing keeps beside the pytest process until it exits: not leaks.
_MP_HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")

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


def _leftovers() -> list[psutil.Process]:
    """Processes started during this session (marked, or our descendants) that are still running."""
    me = psutil.Process()
    pids = set(tagged_pids(SESSION_MARK, SESSION_MARK_ENV)) | {c.pid for c in me.children(recursive=True)}
    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            cmd = " ".join(proc.cmdline())
            helper = proc.ppid() == me.pid and any(h in cmd for h in _MP_HELPERS)
            if proc.status() == psutil.STATUS_ZOMBIE or helper:
                continue
            alive.append(proc)
        except psutil.Error:
            continue
    return alive


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the reliability figures this session counted (cases fuzzed, kills survived...), the ones the
    README's reliability table quotes; they are also merged into test-artifacts/reliability.json."""
    figures_module = sys.modules.get("test_reliability_figures")
    figures = getattr(figures_module, "FIGURES", None)
    if not figures:
        return
    terminalreporter.write_line(
        f"reliability figures (this session): fuzz cases {figures_module.fuzz_cases(figures)}"
    )
    for key, value in sorted(figures.items()):
        terminalreporter.write_line(f"  {key} = {value}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process the tests started (streamlit, postgres, ray, uvicorn, benchmark
    children...) is still alive once every fixture has been torn down; then kill it."""
    deadline = time.monotonic() + LEAK_GRACE_S
    leftovers = _leftovers()
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.5)
        leftovers = _leftovers()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = []
    for proc in leftovers:
        try:
            lines.append(f"  pid {proc.pid}: {' '.join(proc.cmdline())[:200]}")
            proc.kill()
        except psutil.Error:
            continue
    if reporter is not None:
        reporter.write_line(f"leak check: {len(lines)} leftover processes started by the tests")
        for line in lines:
            reporter.write_line(line)
    if lines:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User config and data dirs (XDG) in a temp dir, so the developer's catalog overrides and store do not
    leak in, and the price-age limit at its default; returns the (absent) user catalog override dir."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("CAPPLAN_MAX_PRICE_AGE_DAYS", raising=False)
    return tmp_path / "xdg" / "capplan" / "catalog"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium that dashboards/screenshots.py drives (Debian's, from scripts/sysdeps.sh);
    skipped without it, failed under CI=true."""
    dashboards = str(Path(__file__).resolve().parents[1] / "dashboards")
    if dashboards not in sys.path:
        sys.path.insert(0, dashboards)
    import screenshots

    if not Path(screenshots.CHROMIUM).exists():
        _unavailable(f"{screenshots.CHROMIUM} is missing; run scripts/sysdeps.sh")
    return screenshots.CHROMIUM


@pytest.fixture(scope="session")
def mixed_enterprise_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default report files of examples/mixed-enterprise.yaml (sensitivity included), written once per
    session by the real CLI: ``capplan plan examples/mixed-enterprise.yaml --out DIR``."""
    from capplan.cli import main

    out = tmp_path_factory.mktemp("mixed-enterprise-reports")
    example = Path(__file__).resolve().parents[1] / "examples" / "mixed-enterprise.yaml"
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(example), "--out", str(out)])
    assert exc.value.code in (0, None)
    return out
