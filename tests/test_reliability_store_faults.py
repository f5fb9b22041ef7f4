"""Store faults: a full disk and a read-only store give one clear error line and exit 2, and the
store stays consistent (PRAGMA integrity_check ok, earlier records byte-identical, failed batch absent).

A real full disk is a 384 KiB tmpfs (needs mount rights: CI runs as root, and under ``CI=true`` a
failed mount fails the test; elsewhere it skips); SQLite's max_page_count gives a real SQLITE_FULL
everywhere else. A real read-only store is a tmpfs
remounted read-only (root ignores chmod).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from test_reliability_figures import FIGURES, assert_clean_exit, assert_user_error, run_cli

from capplan.errors import UserError
from capplan.results.io import export_records
from capplan.results.schema import Metric, RunRecord
from capplan.results.store import Store


def _batch(tag: str, n: int = 3, samples: int = 1500) -> list[RunRecord]:
    return [RunRecord(run_id=f"{tag}-{i}", benchmark=f"b{i}", kind="gemm",
                      metrics=[Metric(name="latency_ms", value=i + 1, unit="ms")],
                      samples={"latency_ms": [float(j) for j in range(samples)]}) for i in range(n)]


def _snapshot(db: Path, *, immutable: bool = False) -> tuple[str, dict[str, str], int]:
    """(integrity_check result, run_id -> record_json, metric rows) read with plain sqlite3.
    ``immutable`` reads a store on a read-only filesystem (no -shm file can be made there)."""
    con = sqlite3.connect(f"file:{db}?mode=ro" + ("&immutable=1" if immutable else ""), uri=True)
    try:
        (integrity,) = con.execute("PRAGMA integrity_check").fetchone()
        records = dict(con.execute("SELECT run_id, record_json FROM runs").fetchall())
        (metrics,) = con.execute("SELECT count(*) FROM metrics").fetchone()
    finally:
        con.close()
    return integrity, records, metrics


@contextlib.contextmanager
def _tmpfs(path: Path, size_kib: int) -> Iterator[Path]:
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)], capture_output=True
    )
    if proc.returncode != 0:
        reason = f"cannot mount a tmpfs here ({proc.stderr.decode().strip() or proc.returncode})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: required under CI=true, where the tests run as root")
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_gives_one_line_and_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _tmpfs(tmp_path / "small", 384) as disk:
        db = disk / "results.db"
        stored: dict[str, str] = {}
        for attempt in range(60):
            batch = tmp_path / f"batch{attempt}.json"
            export_records(_batch(f"a{attempt}"), "json", batch)
            code, out, err = run_cli(["bench", "import", str(batch), "--store", str(db)], capsys)
            integrity, records, metrics = _snapshot(db)
            assert integrity == "ok"
            assert {k: records[k] for k in stored} == stored, "an earlier record changed"
            if code != 0:
                assert_user_error(code, out, err)
                assert "full" in err and not any(k.startswith(f"a{attempt}-") for k in records), err
                break
            stored = records
        else:
            pytest.fail("the 384 KiB disk never filled up")
        assert len(stored) >= 3 and metrics == len(stored)
        FIGURES["faults.disk_full_survived"] += 1
        code, out, err = run_cli(["bench", "list", "--json", "--store", str(db)], capsys)
        assert code == 0 and out.count('"run_id"') == len(stored)


def test_sqlite_full_at_the_page_limit_rolls_back_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    store = Store(str(db))
    store.add_many(_batch("before"))
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]
    store.engine.dispose()
    event.listen(
        store.engine, "connect", lambda conn, _rec: conn.execute(f"PRAGMA max_page_count={pages + 4}")
    )
    integrity, before, _ = _snapshot(db)
    with pytest.raises(UserError) as exc:
        for i in range(20):
            store.add_many(_batch(f"more{i}", n=2, samples=3000))
    assert "full" in str(exc.value) and "\n" not in str(exc.value)
    store.close()
    integrity, after, metrics = _snapshot(db)
    assert integrity == "ok"
    assert {k: after[k] for k in before} == before and metrics == len(after)
    FIGURES["faults.sqlite_full_survived"] += 1


def test_read_only_filesystem_gives_one_line_and_keeps_the_store(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "batch.json"
    export_records(_batch("late"), "json", batch)
    with _tmpfs(tmp_path / "ro", 4096) as disk:
        db = disk / "results.db"
        store = Store(str(db))
        store.add_many(_batch("early"))
        store.close()  # a remount waits for no open file
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        _, before, _ = _snapshot(db, immutable=True)
        outcomes: list[str] = []
        for argv in (["bench", "import", str(batch)], ["bench", "list"], ["bench", "show", "early-1"]):
            code, out, err = run_cli([*argv, "--store", str(db)], capsys)
            if argv[1] == "import":
                assert_user_error(code, out, err)
                assert "results.db" in err, (
                    err
                )  # names the store (SQLite says "unable to open database file")
            else:  # reading works, or fails with one line (SQLite cannot create the WAL -shm file there)
                assert_clean_exit(code, out, err)
                outcomes.append(f"{argv[1]}: exit {code} {err.strip()}")
        integrity, after, _ = _snapshot(db, immutable=True)
        assert integrity == "ok" and after == before, outcomes
        print("\n".join(outcomes))
        FIGURES["faults.read_only_survived"] += 1


def test_read_only_sqlite_uri_refuses_writes_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "results.db"
    Store(str(db)).add_many(_batch("early"))
    batch = tmp_path / "batch.json"
    export_records(_batch("late"), "json", batch)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(
        ["bench", "import", str(batch), "--store", f"sqlite:///file:{db}?mode=ro&uri=true"], capsys
    )
    assert_user_error(code, out, err)
    assert "readonly" in err and _snapshot(db)[0] == "ok" and len(_snapshot(db)[1]) == 3


def test_sqlite_uri_store_leaves_no_junk_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "results.db"
    Store(str(db)).close()
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    run_cli(["bench", "list", "--store", f"sqlite:///file:{db}?mode=ro&uri=true"], capsys)
    assert list(work.iterdir()) == []


def test_new_stores_can_be_opened_from_threads_at_once(tmp_path: Path) -> None:
    barrier = threading.Barrier(6)
    errors: list[str] = []

    def open_new(i: int) -> None:
        barrier.wait()
        try:
            Store(str(tmp_path / f"s{i}.db")).close()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=open_new, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
