"""Kill safety: `kill -9` of `capplan bench run` (20 trials, in 4 stores at once), most of them aimed at
the moment a record is being written.

After every kill the store opens, PRAGMA integrity_check is ok, there is no partial record (every
run row parses and has exactly its metric rows), every record stored earlier is byte-identical, and
every benchmark the CLI had reported done is stored. A final `--resume` run then runs exactly the
benchmarks still missing (one new ok record each), and every benchmark ends with an ok record.
A `kill -9` of `capplan bench import` leaves none or all of the file's records.

Where each kill landed is recorded from SQLite's own state: a record is written in one ``BEGIN
IMMEDIATE`` transaction, which holds the WAL write lock (a POSIX lock on byte 120 of the ``-shm`` file,
visible to other processes with F_GETLK) from its start to its commit. A kill landed while a record
was being written when the CLI held that lock at the kill and the store afterwards holds no more
records than before that transaction (it did not commit). Records carry ~2 MB of samples, so a write
lasts long enough to aim at: an aimed trial kills as soon as it sees the lock taken. At least half of
the kills must be shown to have landed mid-write.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import yaml
from test_reliability_figures import FIGURES, subprocess_env

from capplan.results.io import export_records
from capplan.results.schema import Metric, RunRecord
from capplan.results.store import Store

CHAINS = 4  # stores killed in parallel (a chain mostly waits: for its kill moment or on start-up I/O)
KILLS_PER_CHAIN = 5
# Four trials in five are aimed: after the k-th record (k random, 0-1) is reported stored, the kill
# lands as soon as the CLI takes the write lock for the next one. Every fifth trial dies at a random moment
# 0.5-4 s after start (start-up: imports, store open, forkserver with torch, inventory).
KILL_AFTER_S = (0.5, 4.0)
AIMED_AFTER_RECORDS = (0, 1)
POLL_S = 0.0005
PAYLOAD_MB = 2
BENCHMARKS = [f"tiny{i}" for i in range(5)]
SEED = 20261128  # kill moments are random but reproducible
# SQLite's unix VFS keeps WAL locks as POSIX locks on the -shm file from byte (22 + 8) * 4 = 120; the
# first, WAL_WRITE_LOCK, is held by the one writer from BEGIN IMMEDIATE to COMMIT (sqlite3 os_unix.c).
WAL_WRITE_LOCK_BYTE = 120
_FLOCK = "hhqqi4x"  # struct flock on Linux x86-64: l_type, l_whence, l_start, l_len, l_pid


def write_lock_holder(db: Path) -> int | None:
    """Pid of the process holding the store's WAL write lock (a transaction is writing), or None."""
    try:
        fd = os.open(db.with_name(db.name + "-shm"), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, WAL_WRITE_LOCK_BYTE, 1, 0)
        kind, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    finally:
        os.close(fd)
    return None if kind == fcntl.F_UNLCK else pid


def committed_runs(db: Path) -> int:
    """Runs committed so far (a WAL reader never waits for the writer)."""
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:  # no schema yet
        return 0
    finally:
        con.close()


def kill_and_locate(db: Path, proc: subprocess.Popen[bytes], *, aimed: bool, timeout_s: float = 120.0
                    ) -> bool:
    """Kill ``proc`` (when ``aimed``: the moment it takes the write lock) and say whether the kill landed
    while a record was being written: the lock was held at the kill and that transaction never committed."""
    before = committed_runs(db)
    deadline = time.monotonic() + timeout_s
    while aimed and write_lock_holder(db) != proc.pid:
        assert proc.poll() is None and time.monotonic() < deadline, "no write began before the run ended"
        time.sleep(POLL_S)
    writing = write_lock_holder(db) == proc.pid
    _kill_9(proc)
    return writing and committed_runs(db) == before


def _suite(path: Path) -> Path:
    entries = [{"name": n, "kind": "test_reliability_kinds:BigOkKind",
                "params": {"value": i + 1.0, "megabytes": PAYLOAD_MB}} for i, n in enumerate(BENCHMARKS)]
    path.write_text(yaml.safe_dump({"suite": "kill", "defaults": {"timeout_s": 60}, "benchmarks": entries}))
    return path


def _start(suite: Path, db: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`capplan bench run` in a subprocess (each kill trial starts from the first benchmark: no --resume)."""
    with log.open("wb") as fh:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "capplan",
                "bench",
                "run",
                "--suite",
                str(suite),
                "--store",
                str(db),
                *extra,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=subprocess_env(),
        )


def _kill_9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the CLI only (as a user or the OOM killer would), then reap what it left behind."""
    try:
        left = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        left = []
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(left, timeout=0.3)  # the forkserver exits once its parent is gone
    for p in alive:  # a benchmark child may still be measuring: it is ours, end it
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()


def _check_store(db: Path, earlier: dict[str, str]) -> dict[str, str]:
    """Integrity, no partial record, earlier records unchanged; returns run_id -> record_json."""
    if not db.exists():
        return {}
    con = sqlite3.connect(db)  # read-write: a WAL left by the kill is recovered like any later open does
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "runs" not in tables:
            return {}  # killed while the schema was being created: nothing was stored yet
        rows = dict(con.execute("SELECT run_id, record_json FROM runs").fetchall())
        metric_counts = dict(con.execute("SELECT run_id, count(*) FROM metrics GROUP BY run_id").fetchall())
    finally:
        con.close()
    for run_id, doc in rows.items():
        record = RunRecord.model_validate_json(doc)
        assert metric_counts.get(run_id, 0) == len(record.metrics), f"partial record {run_id}"
    assert set(metric_counts) <= set(rows), "metric rows without their run"
    assert {k: rows.get(k) for k in earlier} == earlier, "a completed record changed or vanished"
    Store(str(db), create=False).close()  # and capplan itself opens it
    return rows


def _ok_benchmarks(rows: dict[str, str]) -> set[str]:
    return {r.benchmark for r in map(RunRecord.model_validate_json, rows.values()) if r.status.value == "ok"}


def _reported(log: Path) -> set[str]:
    return {line.split(":")[0].strip() for line in log.read_text(errors="replace").splitlines()
            if line.startswith("  tiny") and line.rstrip().endswith(": ok")}


def _chain(chain: int, tmp_path: Path) -> dict[str, int]:
    rng = random.Random(SEED + chain)
    suite = _suite(tmp_path / f"suite{chain}.yaml")
    db = tmp_path / f"store{chain}.db"
    Store(str(db)).close()  # schema in place: from here on, only records write to the WAL
    rows: dict[str, str] = {}
    counts = {"kills": 0, "aimed": 0, "mid_write": 0, "mid_suite": 0}
    for trial in range(KILLS_PER_CHAIN):
        log = tmp_path / f"log{chain}-{trial}.txt"
        proc = _start(suite, db, log)
        aimed = trial % 5 != 4
        if aimed:
            after = rng.randint(*AIMED_AFTER_RECORDS)
            deadline = time.monotonic() + 120
            while len(_reported(log)) < after:  # wait for `after` records of this run to be stored
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.01)
        else:
            time.sleep(rng.uniform(*KILL_AFTER_S))
        counts["mid_write"] += kill_and_locate(db, proc, aimed=aimed)
        counts["kills"] += 1
        counts["aimed"] += aimed
        new_rows = _check_store(db, rows)
        assert _reported(log) <= _ok_benchmarks(new_rows), "a benchmark reported done is not in the store"
        counts["mid_suite"] += len(new_rows) > len(rows)
        rows = new_rows
    # the final run resumes: exactly the benchmarks without an ok record run, each once
    done_before = _ok_benchmarks(rows)
    log = tmp_path / f"log{chain}-final.txt"
    proc = _start(suite, db, log, "--resume", "--json")
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    report = json.loads(log.read_text()[log.read_text().index("{"):])
    ran = {r["benchmark"] for r in report["runs"] if r["status"] != "resumed"}
    assert ran == set(BENCHMARKS) - done_before
    final = _check_store(db, rows)
    added = [RunRecord.model_validate_json(final[k]) for k in set(final) - set(rows)]
    assert sorted(r.benchmark for r in added) == sorted(ran) and all(r.status.value == "ok" for r in added)
    assert _ok_benchmarks(final) == set(BENCHMARKS)
    return counts | {"resumed": len(done_before), "rerun": len(ran)}


def test_kill_9_at_random_points_loses_nothing_and_resume_finishes(tmp_path: Path) -> None:
    with ThreadPoolExecutor(CHAINS) as pool:
        results = list(pool.map(lambda c: _chain(c, tmp_path), range(CHAINS)))
    total = {k: sum(r[k] for r in results) for k in results[0]}
    FIGURES["kill.trials_survived"] += total["kills"]
    FIGURES["kill.aimed_at_a_write"] += total["aimed"]
    FIGURES["kill.landed_mid_write"] += total["mid_write"]
    FIGURES["kill.mid_suite_kills"] += total["mid_suite"]
    FIGURES["kill.resume_skipped_benchmarks"] += total["resumed"]
    FIGURES["kill.resume_ran_benchmarks"] += total["rerun"]
    assert total["kills"] >= 20
    assert total["mid_write"] >= total["kills"] / 2, total  # shown by the lock and the store, not by timing


IMPORT_RECORDS = 6000
IMPORT_TRIALS = 6


def test_kill_9_during_import_stores_all_or_nothing(tmp_path: Path) -> None:
    """`bench import` writes a file in one transaction: a kill at any moment leaves none or all of it. Each
    trial is killed 0-0.3 s after the import took the write lock; the lock at the kill and the empty store
    after it show the kill landed mid-write."""
    records = [
        RunRecord(
            run_id=f"imp{i:05d}",
            benchmark=f"b{i % 7}",
            kind="gemm",
            samples={"x_ms": [1.0] * 50},
            metrics=[Metric(name="x_ms", value=1.0 + i, unit="ms")],
        )
        for i in range(IMPORT_RECORDS)
    ]
    source = tmp_path / "big.json"
    export_records(records, "json", source)
    rng = random.Random(SEED)
    outcomes = {"none": 0, "all": 0}

    def trial(i: int, delay_s: float) -> tuple[str, bool]:
        """Kill the import ``delay_s`` after it took the write lock (its transaction has begun)."""
        db = tmp_path / f"import{i}.db"
        proc = subprocess.Popen(
            [sys.executable, "-m", "capplan", "bench", "import", str(source), "--store", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while write_lock_holder(db) != proc.pid and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
        time.sleep(delay_s)
        finished = proc.poll() is not None
        writing = write_lock_holder(db) == proc.pid
        proc.kill()
        proc.wait()
        mid_write = writing and committed_runs(db) == 0
        rows = _check_store(db, {})
        assert len(rows) in (0, IMPORT_RECORDS), (
            f"a killed import left {len(rows)} of {IMPORT_RECORDS} records"
        )
        return ("finished" if finished else "all" if rows else "none"), mid_write

    for i in range(IMPORT_TRIALS):  # an empty store each (created here: see the thread-safety xfail)
        Store(str(tmp_path / f"import{i}.db")).close()
    delays = [rng.uniform(0.0, 0.3) for _ in range(IMPORT_TRIALS)]
    mid_writes = 0
    with ThreadPoolExecutor(3) as pool:
        for outcome, mid_write in pool.map(trial, range(IMPORT_TRIALS), delays):
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            mid_writes += mid_write
    killed = IMPORT_TRIALS - outcomes.get("finished", 0)
    FIGURES["kill.import_trials_survived"] += killed
    FIGURES["kill.import_trials_all_stored"] += outcomes["all"]
    FIGURES["kill.import_landed_mid_write"] += mid_writes
    assert outcomes.get("finished", 0) < IMPORT_TRIALS, outcomes
    assert mid_writes >= IMPORT_TRIALS / 2, (mid_writes, outcomes)
