"""Foundation CLI: inventory, list/show, export -> import round trips, bad input exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.results.schema import Metric, RunRecord, Source, Status
from capplan.results.store import Store

CAPPLAN = [sys.executable, "-m", "capplan"]


def _record(i: int) -> RunRecord:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    return RunRecord(
        benchmark=f"bench-{i % 3}",
        kind="gemm",
        suite="quick",
        config={"m": 512 + i, "dtype": "fp32", "nested": {"a": [1, 2.5, "x"]}},
        host_fingerprint="abc123",
        inventory={"cpu": {"model": "test cpu"}, "gpus": []},
        software={"torch": "2.13.0"},
        started_utc=start,
        ended_utc=start + timedelta(seconds=1.5),
        status=Status.ok if i % 4 else Status.failed,
        error=None if i % 4 else "RuntimeError: boom",
        metrics=[
            Metric(
                name="tflops",
                value=0.18 + i / 1000,
                unit="TFLOP/s",
                stats={"p50": 0.18, "p99": 0.2, "cv": 0.01},
                peak=0.4,
                peak_source="measured",
            ),
            Metric(name="latency_ms", value=3.0 + i, unit="ms", higher_is_better=False, noisy=bool(i % 2)),
        ],
        samples={"latency_ms": [3.0, 3.1, 2.9, float(i)]},
        telemetry={"cpu_util_pct": 97.5, "energy_j": None},
        tags={"team": "infra"},
        source=Source.local,
        seed=i,
    )


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process, as the console script does."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def filled_store(store_url: str) -> tuple[str, list[RunRecord]]:
    records = [_record(i) for i in range(8)]
    Store(store_url).add_many(records)
    return store_url, records


def test_hw_json_via_real_subprocess() -> None:
    proc = subprocess.run([*CAPPLAN, "hw", "--json"], capture_output=True, text=True, timeout=120, check=True)
    inv = json.loads(proc.stdout)
    assert {"cpu", "memory", "gpus", "fingerprint"} <= inv.keys()
    assert inv["cpu"]["logical_cores"] >= 1 and isinstance(inv["cpu"]["model"], str)
    assert inv["memory"]["total_gib"] >= inv["memory"]["available_gib"] > 0
    assert isinstance(inv["gpus"], list)
    assert len(inv["fingerprint"]) == 16
    assert inv["software"]["torch"].startswith("2.13.0")


def test_hw_reports_no_gpus_without_nvml() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this host has a GPU")
    from capplan.hardware.inventory import collect_inventory

    inv = collect_inventory()
    assert inv.gpus == []
    assert inv.fingerprint == collect_inventory().fingerprint


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.startswith("capplan ")


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_export_import_round_trip_is_lossless(
    fmt: str, filled_store: tuple[str, list[RunRecord]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, records = filled_store
    out_file = tmp_path / f"export.{fmt}"
    code, _, err = run_cli(["bench", "export", "--format", fmt, "-o", str(out_file), "--store", url], capsys)
    assert code == 0, err
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    code, out, err = run_cli(["bench", "import", str(out_file), "--store", target], capsys)
    assert code == 0, err
    assert "imported 8 runs" in out
    restored = {r.run_id: r for r in Store(target).query()}
    assert restored == {r.run_id: r for r in records}
    # importing again adds nothing
    code, out, _ = run_cli(["bench", "import", str(out_file), "--store", target], capsys)
    assert code == 0 and "imported 0 runs" in out and Store(target).count() == 8


def test_list_filter_and_show(
    filled_store: tuple[str, list[RunRecord]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, records = filled_store
    code, out, _ = run_cli(["bench", "list", "--store", url, "--json", "--filter", "status=failed"], capsys)
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2 and {r["status"] for r in rows} == {"failed"}
    assert rows[0]["started_utc"] > rows[1]["started_utc"]  # newest first
    code, out, _ = run_cli(["bench", "show", records[5].run_id[:10], "--store", url, "--json"], capsys)
    assert code == 0 and RunRecord.model_validate_json(out) == records[5]
    code, out, _ = run_cli(["bench", "show", records[5].run_id, "--store", url], capsys)
    assert code == 0 and "tflops" in out and "bench-2" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "list", "--filter", "colour=red"], "--filter: unknown key 'colour'; allowed: benchmark"),
        (["bench", "list", "--filter", "status=great"], "allowed: ok, failed, timeout, oom, skipped"),
        (["bench", "list", "--filter", "novalue"], "is not key=value"),
        (["bench", "export", "--format", "xml", "-o", "x.xml"], "allowed: json, csv, parquet"),
        (["bench", "show", "doesnotexist"], "no run 'doesnotexist'"),
        (["bench", "frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_bad_input_one_line_exit_2(
    args: list[str],
    needle: str,
    filled_store: tuple[str, list[RunRecord]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = filled_store
    code, _, err = run_cli([*args, "--store", url], capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert Store(url).count() == 8


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"format": "capplan-results", "records": [', "malformed JSON"),
        (
            b'{"format": "capplan-results", "schema_version": 99, "records": []}',
            "schema_version 99 not supported",
        ),
        (
            b'{"format": "capplan-results", "schema_version": 1, "records": [{"benchmark": ""}]}',
            "record 1: field",
        ),
        (b"\xff\xfe\x00garbage", "unknown result format"),
        (b"", "unknown result format"),
    ],
)
def test_bad_import_changes_nothing(
    content: bytes, needle: str, filled_store: tuple[str, list[RunRecord]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, records = filled_store
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code, _, err = run_cli(["bench", "import", str(bad), "--store", url], capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert {r.run_id for r in Store(url).query()} == {r.run_id for r in records}


def test_missing_import_file(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["bench", "import", str(tmp_path / "nope.json"), "--store", store_url], capsys)
    assert code == 2 and "cannot read file" in err


@pytest.mark.parametrize(
    ("store_arg", "needle"),
    [
        ("mysql+nosuchdriver://u@h/db", "unsupported URL scheme"),
        ("sqlite:///{tmp}", "is a directory"),
        ("{tmp}/not-a-db.txt", "is not a SQLite database"),
        ("{tmp}/foreign.db", "is not a capplan store"),
    ],
)
def test_bad_store_refused_and_untouched(
    store_arg: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    (tmp_path / "not-a-db.txt").write_text("hello, not a database\n")
    con = sqlite3.connect(tmp_path / "foreign.db")
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers (name) VALUES ('ada')")
    con.commit()
    con.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, _, err = run_cli(["bench", "list", "--store", store_arg.format(tmp=tmp_path)], capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_password_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["bench", "list", "--store", "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/nodb"], capsys
    )
    assert code == 2 and "s3cr3t-pw" not in out + err and "***" in err


READ_ONLY_COMMANDS = [
    ["bench", "list"], ["bench", "show", "abc"], ["bench", "export", "-o", "{tmp}/out.json"],
    ["bench", "compare", "a", "b"], ["bench", "rerun", "abc"], ["project", "bert-base", "--to", "H100"],
    ["project", "validate"], ["cost", "compare", "-H", "H100", "--workload", "bert-base"],
    ["plan", str(Path(__file__).resolve().parents[1] / "examples" / "crm-realtime-inference.yaml")],
    ["dashboard", "--port", "1"],
]


@pytest.mark.parametrize("argv", READ_ONLY_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_read_only_commands_never_create_a_store(argv: list[str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped --store path stays a mistake: refused in one line, nothing created."""
    missing = tmp_path / "typo.db"
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, _, err = run_cli([*argv, "--store", str(missing)], capsys)
    assert code == 2 and "does not exist" in err and "bench run --suite quick" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not missing.exists()
