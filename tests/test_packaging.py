"""The installed package works without the source tree: built-in suites, catalog data and the
dashboard ship inside the wheel. The wheel is built, installed into a fresh virtual environment and
used from a directory outside the checkout."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from capplan.harness.suite import BUILTIN_SUITES, SUITES_DIR
from capplan.results.schema import Status
from capplan.results.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", BUILTIN_SUITES)
def test_packaged_suites_equal_the_edited_ones(name: str) -> None:
    """benchmarks/ is where suites are edited; `make suites` copies them into the package."""
    edited, shipped = ROOT / "benchmarks" / f"{name}.yaml", SUITES_DIR / f"{name}.yaml"
    assert shipped.read_bytes() == edited.read_bytes(), f"run `make suites`: {shipped} differs from {edited}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """bin/ of a fresh venv holding the wheel of this checkout; dependencies come from the test venv
    through a .pth file (no download), while capplan itself comes only from the wheel."""
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(base / "dist"), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = (base / "dist").glob("capplan-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # From outside the checkout and without PYTHONPATH, so pip cannot see a source tree's capplan as
    # installed.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=base,
        env=clean,
    )
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    yield venv / "bin"


def _run(bin_dir: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAPPLAN_STORE")}
    return subprocess.run([str(bin_dir / "capplan"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_wheel_contains_the_code_and_data_it_runs(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import capplan; from capplan.views.plan import example_plans; from capplan.harness.suite import "
        "suite_path; "
        "print(capplan.__file__); print(sorted(example_plans())); print(suite_path('quick'))"
    )
    out = subprocess.run(
        [str(installed / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.splitlines()
    assert str(installed.parent) in out[0] and str(ROOT) not in "\n".join(out)
    assert out[1] == str(sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
    assert out[2].startswith(str(installed.parent))


def test_installed_quick_suite_and_plan_run(installed: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run = _run(
        installed,
        ["bench", "run", "--suite", "quick", "--only", "gemm-fp32-1024", "--store", str(db)],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert [(r.benchmark, r.status) for r in Store(str(db)).query()] == [("gemm-fp32-1024", Status.ok)]
    plan = _run(
        installed,
        ["plan", str(ROOT / "examples" / "crm-realtime-inference.yaml"), "--out", "report"],
        tmp_path,
    )
    assert plan.returncode == 0, plan.stderr
    assert (tmp_path / "report" / "report.html").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_installed_dashboard_serves_the_overview(installed: Path, tmp_path: Path) -> None:
    port = _free_port()
    Store(str(tmp_path / "d.db")).close()  # the dashboard only reads: it refuses a store that does not exist
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAPPLAN_STORE")}
    proc = subprocess.Popen(
        [str(installed / "capplan"), "dashboard", "--port", str(port), "--store", str(tmp_path / "d.db")],
        cwd=tmp_path,
        env=env | {"HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 90
        while health != 200 and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:  # noqa: S310
                    health = resp.status
            except OSError:
                time.sleep(0.5)
        assert health == 200, proc.stdout.read() if proc.poll() is not None else "no health 200 within 90 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:  # noqa: S310
            assert resp.status == 200 and b"<html" in resp.read().lower()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
