"""Process helpers shared by the tests that check servers and benchmarks leave nothing running."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

import psutil


def alive(pids: Iterable[int]) -> list[int]:
    """The pids that still run (zombies, already dead, count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            continue
    return out


def wait_gone(pids: Iterable[int], timeout_s: float) -> list[int]:
    """Wait up to ``timeout_s`` for ``pids`` to end; the ones still running then."""
    pids = list(pids)
    deadline = time.monotonic() + timeout_s
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(pids)


_DEFAULT_SIGINT_EXEC = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGQUIT):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def as_foreground_job(argv: list[str]) -> list[str]:
    """``argv`` started with SIGINT and SIGQUIT at their defaults, as a terminal's foreground job has
    them (the same pid: the shim execs). A test run started in the background (``make test &`` in a
    script) ignores both, children inherit that, and a command that honours an ignored SIGINT, as POSIX
    asks, would not see Ctrl-C."""
    return [sys.executable, "-c", _DEFAULT_SIGINT_EXEC, *argv]
