"""Stop cleanly when a supervisor says so: SIGTERM (systemd, `docker stop`, `kill PID`) and SIGHUP (a
closed terminal) end a capplan command the way Ctrl-C does, so every ``finally`` and ``atexit`` cleanup
runs (benchmark process groups killed, a local Ray cluster shut down, stores closed)."""

from __future__ import annotations

import signal
import threading
import types

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _raise_exit(signum: int, _frame: types.FrameType | None) -> None:
    raise SystemExit(128 + signum)  # the shell's convention: 143 for SIGTERM, 129 for SIGHUP


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit(128 + signal); only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_exit)
