"""Runner statuses with real subprocesses: failures of every sort are recorded and the suite goes on."""

from __future__ import annotations

from pathlib import Path

import psutil
import yaml
from proctools import wait_gone

from capplan.harness.runner import run_benchmarks
from capplan.harness.suite import load_suite
from capplan.results.schema import Status
from capplan.results.store import Store

FIX = "harness_fixture_kinds"


def write_suite(path: Path, benchmarks: list[dict], defaults: dict | None = None) -> Path:
    path.write_text(
        yaml.safe_dump({"suite": "t", "defaults": defaults or {"timeout_s": 30}, "benchmarks": benchmarks})
    )
    return path


def test_every_failure_mode_is_recorded_and_the_suite_continues(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "runs.db"))  # runner behaviour, not store behaviour: SQLite is enough
    pid_file = tmp_path / "grandchild.pid"
    suite = write_suite(
        tmp_path / "s.yaml",
        [
            {"name": "raises", "kind": f"{FIX}:RaiseKind"},
            {"name": "after-raise", "kind": f"{FIX}:OkKind"},
            {
                "name": "sleeps",
                "kind": f"{FIX}:SleepKind",
                "timeout_s": 1.5,
                "params": {"seconds": 60, "pid_file": str(pid_file)},
            },
            {"name": "after-timeout", "kind": f"{FIX}:OkKind"},
            {
                "name": "allocates",
                "kind": f"{FIX}:AllocKind",
                "memory_limit_mb": 256,
                "params": {"megabytes": 2048},
            },
            {"name": "after-oom", "kind": f"{FIX}:OkKind"},
            {"name": "aborts", "kind": f"{FIX}:AbortKind"},
            {"name": "floods", "kind": f"{FIX}:FloodKind", "params": {"flood_mb": 20}},
        ],
    )
    plan = load_suite(str(suite))
    events = run_benchmarks(plan.benchmarks, store, suite=plan.name)
    by_name = {e.spec.name: e.record for e in events}
    assert all(r is not None for r in by_name.values())
    status = {name: r.status for name, r in by_name.items()}
    assert status == {
        "raises": Status.failed,
        "after-raise": Status.ok,
        "sleeps": Status.timeout,
        "after-timeout": Status.ok,
        "allocates": Status.oom,
        "after-oom": Status.ok,
        "aborts": Status.failed,
        "floods": Status.ok,
    }
    assert "ValueError: boom from the fixture kind" in by_name["raises"].error
    assert "timed out after 1.5 s" in by_name["sleeps"].error
    assert "SIGABRT" in by_name["aborts"].error and "about to abort" in by_name["aborts"].error
    # the timed-out benchmark's own child process was killed with its process group
    helper = int(pid_file.read_text())
    assert not psutil.pid_exists(helper) or psutil.Process(helper).status() == psutil.STATUS_ZOMBIE
    # every outcome was stored, each with the environment and the requested config
    stored = {r.benchmark: r for r in store.query()}
    assert set(stored) == set(by_name)
    ok = stored["after-raise"]
    assert ok.metrics[0].name == "value_units" and ok.samples["value_units"]
    assert ok.config["kind"] == f"{FIX}:OkKind" and ok.config["torch_threads"] >= 1
    assert ok.host_fingerprint and ok.inventory["cpu"]["logical_cores"] >= 1 and ok.software["python"]
    assert "contended" in ok.telemetry and ok.telemetry["max_rss_mb"] > 0
    # each child starts from the session's best hand-off so far and reports its own back
    refs = [stored[n].telemetry["placement_ref_us"] for n in ("after-raise", "after-timeout", "after-oom")]
    assert all(r is not None and r > 0 for r in refs) and refs == sorted(refs, reverse=True)
    assert ok.telemetry["placement_settle_s"] >= 0 and ok.telemetry["placement_reached"] in (0.0, 1.0)


def test_resume_reruns_only_what_is_missing(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "runs.db"))
    suite = write_suite(
        tmp_path / "s.yaml",
        [{"name": "one", "kind": f"{FIX}:OkKind"}, {"name": "two", "kind": f"{FIX}:RaiseKind"}],
    )
    first = run_benchmarks(load_suite(str(suite)).benchmarks, store, suite="t")
    assert [e.record.status for e in first] == [Status.ok, Status.failed]
    again = run_benchmarks(load_suite(str(suite)).benchmarks, store, suite="t", resume=True)
    assert [e.resumed for e in again] == [True, False]  # ok run kept; the failed one is re-run
    assert store.count() == 3
    changed = write_suite(
        tmp_path / "s.yaml", [{"name": "one", "kind": f"{FIX}:OkKind", "params": {"value": 2.0}}]
    )
    third = run_benchmarks(load_suite(str(changed)).benchmarks, store, suite="t", resume=True)
    assert [e.resumed for e in third] == [False]  # a changed config is a different measurement


def test_missing_capability_is_skipped_without_failing(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "runs.db"))
    import torch

    suite = write_suite(
        tmp_path / "s.yaml", [{"name": "needs-gpu", "kind": f"{FIX}:OkKind", "requires": ["cuda"]}]
    )
    (event,) = run_benchmarks(load_suite(str(suite)).benchmarks, store, suite="t")
    expected = Status.ok if torch.cuda.is_available() else Status.skipped
    assert event.record.status == expected
    if expected == Status.skipped:
        assert "requires cuda" in event.record.error


def test_broken_kind_module_fails_only_its_benchmark(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "runs.db"))
    suite = write_suite(
        tmp_path / "s.yaml",
        [{"name": "broken", "kind": "no_such_module_xyz:Kind"}, {"name": "fine", "kind": f"{FIX}:OkKind"}],
    )
    events = run_benchmarks(load_suite(str(suite)).benchmarks, store, suite="t")
    assert [e.record.status for e in events] == [Status.failed, Status.ok]
    assert "cannot import no_such_module_xyz" in events[0].record.error


def test_helpers_that_leave_the_process_group_are_killed_too(tmp_path: Path) -> None:
    """A helper started with setsid escapes killpg; the runner still kills it, whether the benchmark
    timed out or returned normally (a finished benchmark leaves nothing running)."""
    store = Store(str(tmp_path / "runs.db"))
    timed_out, finished = tmp_path / "timed_out.pid", tmp_path / "finished.pid"
    suite = write_suite(
        tmp_path / "s.yaml",
        [
            {
                "name": "hangs",
                "kind": f"{FIX}:SleepKind",
                "timeout_s": 1.5,
                "params": {"seconds": 60, "pid_file": str(timed_out), "setsid": True},
            },
            {
                "name": "returns",
                "kind": f"{FIX}:SleepKind",
                "params": {"seconds": 0.1, "pid_file": str(finished), "setsid": True},
            },
        ],
    )
    plan = load_suite(str(suite))
    events = run_benchmarks(plan.benchmarks, store, suite=plan.name)
    assert [e.record.status for e in events if e.record] == [
        Status.timeout,
        Status.failed,
    ]  # no metrics -> failed
    for pid_file in (timed_out, finished):  # SIGKILLed: gone once the loaded host schedules it
        assert not wait_gone([int(pid_file.read_text())], 10), f"{pid_file.stem} helper still running"
