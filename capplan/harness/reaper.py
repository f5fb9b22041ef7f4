"""Find and kill every process a benchmark started, including those that left its process group.

A benchmark child gets its own process group, which the runner kills as a whole. A descendant that
calls ``setsid`` (a daemonising helper, a server) leaves that group and would outlive the benchmark.
So the child also tags its environment with a per-run cookie, which every program it executes
inherits whatever session it moves to (the same cookie scheme as Jenkins' ProcessTreeKiller), and
the runner kills the processes carrying the cookie. A descendant that clears its environment, or a
forked-but-not-executed one that calls setsid, is out of reach (Linux shows /proc/PID/environ as
of the last exec).
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid

import psutil

COOKIE_ENV = "CAPPLAN_RUN_COOKIE"


def new_cookie() -> str:
    """A fresh cookie for one benchmark run."""
    return uuid.uuid4().hex


def tag_environment(cookie: str) -> None:
    """Put ``cookie`` into this process's environment so every program it executes carries it."""
    os.environ[COOKIE_ENV] = cookie


def tagged_pids(cookie: str, variable: str = COOKIE_ENV) -> list[int]:
    """Pids of the processes (other than this one) whose environment variable ``variable`` is ``cookie``."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):  # gone, zombie or not ours to read
            if proc.environ().get(variable) == cookie:
                found.append(proc.pid)
    return found


def kill_tagged(cookie: str) -> int:
    """SIGKILL every process carrying ``cookie``; the number killed."""
    killed = 0
    for pid in tagged_pids(cookie):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed
