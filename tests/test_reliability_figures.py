"""Shared pieces of the reliability tests: the in-process CLI, the one-line error contract, a cheap
store fingerprint, and the figures (cases run, kills survived, ...) written to
test-artifacts/reliability.json when the test session ends, for docs/RELIABILITY.md to quote.
"""

from __future__ import annotations

import atexit
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from capplan.cli import main
from capplan.errors import UserError

FIGURES_PATH = Path(__file__).resolve().parents[1] / "test-artifacts" / "reliability.json"
FIGURES: Counter[str] = Counter()  # "fuzz.import.cli" -> cases run in this session


def fuzz_cases(figures: Mapping[str, int]) -> int:
    """Fuzz cases among ``figures`` (keys "fuzz.<parser>.<entry point>")."""
    return sum(v for k, v in figures.items() if k.startswith("fuzz."))


def write_figures() -> None:
    """Merge this session's figures into the JSON file (keys not run this time are kept)."""
    if not FIGURES:
        return
    FIGURES_PATH.parent.mkdir(parents=True, exist_ok=True)
    try:
        doc = json.loads(FIGURES_PATH.read_text())
    except (OSError, ValueError):
        doc = {}
    figures = {**doc.get("figures", {}), **FIGURES}
    doc = {"updated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
           "fuzz_cases_total": fuzz_cases(figures),
           "figures": dict(sorted(figures.items()))}
    FIGURES_PATH.write_text(json.dumps(doc, indent=1) + "\n")


atexit.register(write_figures)


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings for a fuzz test: a fixed case count, reproducible, no time limit per case."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


def subprocess_env() -> dict[str, str]:
    """Environment for `python -m capplan` children: tests/ on PYTHONPATH for the test-only benchmark
    kinds."""
    tests_dir = str(Path(__file__).resolve().parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``capplan ARGV`` in-process as the console script does; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out, err


def assert_user_error(code: int, out: str, err: str) -> None:
    """The bad-input contract: exit 2, exactly one line on stderr starting with 'error:', no traceback."""
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("error: "), (
        f"stderr is not one error line: {err[-2000:]!r}"
    )
    assert "Traceback" not in out + err


def assert_clean_exit(code: int, out: str, err: str) -> None:
    """Either success (0) or the one-line bad-input error (2); nothing else."""
    if code == 0:
        assert "Traceback" not in out + err
    else:
        assert_user_error(code, out, err)


def store_fingerprint(db: Path) -> tuple[int, int, int]:
    """(runs, metric rows, total JSON bytes) of a SQLite store, read without capplan's code."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        runs, size = con.execute(
            "SELECT count(*), coalesce(sum(length(record_json)), 0) FROM runs"
        ).fetchone()
        (metrics,) = con.execute("SELECT count(*) FROM metrics").fetchone()
    finally:
        con.close()
    return runs, metrics, size


def test_multiline_user_error_reaches_the_user_as_one_line(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    assert str(UserError("field x:\n  must be\tpositive")) == "field x: must be positive"
    code, out, err = run_cli(["bench", "show", "nope", "--store", str(tmp_path / "absent.db")], capsys)
    assert_user_error(code, out, err)
    assert "does not exist" in err and not (tmp_path / "absent.db").exists()
