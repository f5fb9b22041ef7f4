"""The session's leak check (tests/conftest.py) fails a run that leaves a process behind, and kills it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def test_a_leaked_process_fails_the_run_and_is_killed() -> None:
    pid_file = ROOT / "test-artifacts" / "leak_probe.pid"
    pid_file.unlink(missing_ok=True)
    env = dict(os.environ, CAPPLAN_LEAK_GRACE_S="1")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "data" / "leak_probe.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    pid = int(pid_file.read_text())
    assert out.returncode == 1, out.stdout[-2000:]
    assert "1 passed" in out.stdout and "leak check: 1 leftover processes started by the tests" in out.stdout
    assert f"pid {pid}: sleep 300" in out.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
