"""Servers capplan starts stop when a supervisor says so: SIGTERM (systemd, docker stop, kill PID) or
SIGHUP sent to the capplan process frees the port within 5 s and leaves no process behind."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from proctools import wait_gone

from capplan.results.store import Store

CAPPLAN = str(Path(sys.executable).parent / "capplan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_healthy(url: str, proc: subprocess.Popen[str], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (127.0.0.1)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} not healthy within {timeout_s:.0f} s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_dashboard_stops_on_signal_to_the_capplan_process(sig: signal.Signals, tmp_path: Path) -> None:
    port = _free_port()
    Store(str(tmp_path / "runs.db")).close()
    proc = subprocess.Popen([CAPPLAN, "dashboard", "--port", str(port), "--store", str(tmp_path / "runs.db"),
                             "--print-url"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        url, health = proc.stdout.readline().strip(), proc.stdout.readline().strip()
        assert url == f"url=http://127.0.0.1:{port}" and health == f"health=http://127.0.0.1:{port}/_stcore/health"
        _wait_healthy(health.removeprefix("health="), proc)
        family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        proc.send_signal(sig)  # to the pid capplan was started as, as a supervisor would
        deadline = time.monotonic() + 5
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _listening(port), f"port {port} still served 5 s after {sig.name}"
        proc.wait(timeout=10)
        assert not wait_gone(family, 5), f"left running after {sig.name}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
