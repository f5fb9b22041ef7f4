"""`capplan dashboard`: start the Streamlit app on this machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.common import StoreOpt, open_store
from capplan.errors import UserError

# The app as edited in a source checkout, else as installed from the wheel (capplan/dashboards/).
APP_CANDIDATES = (Path(__file__).resolve().parents[2] / "dashboards" / "app.py",
                  Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


def app_path() -> Path:
    """The Streamlit app script to run."""
    for path in APP_CANDIDATES:
        if path.is_file():
            return path
    raise UserError(f"dashboard: app not found at {' or '.join(map(str, APP_CANDIDATES))}; reinstall capplan")


HEALTH_PATH = "/_stcore/health"  # Streamlit's readiness endpoint: 200 "ok" once the server accepts requests


def streamlit_argv(app: Path, host: str, port: int) -> list[str]:
    """The command that serves ``app``: headless, no telemetry, XSRF protection, 5 MB uploads."""
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host,
            "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.maxUploadSize", "5",
            "--server.enableXsrfProtection", "true", "--client.toolbarMode", "viewer"]


def dashboard(
    store: StoreOpt = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to serve on.")] = 8501,
    host: Annotated[
        str, typer.Option(help="Address to bind; 127.0.0.1 keeps it private to this machine.")
    ] = "127.0.0.1",
    print_url: Annotated[
        bool, typer.Option("--print-url", help="Print the URL and the health URL a supervisor can wait on, "
                           "as two lines (url=..., health=...), before serving.")
    ] = False,
) -> None:
    """Open the dashboard (Streamlit) on http://HOST:PORT, reading the given store.

    The Streamlit server replaces this process (same pid), so SIGTERM, SIGINT and SIGHUP sent to it
    stop the server itself and its exit code is Streamlit's. Ready when GET HOST:PORT/_stcore/health
    answers 200.
    """
    app = app_path()
    # Validate the URL before starting a server. The dashboard only reads: a named store must exist; the
    # default one is created on first use, so a fresh install shows an empty dashboard, not an error.
    opened = open_store(store, create=store is None)
    env = dict(os.environ, CAPPLAN_STORE=opened.url)
    opened.close()
    base = f"http://{host}:{port}"
    if print_url:
        print(f"url={base}\nhealth={base}{HEALTH_PATH}")
    else:
        print(f"capplan dashboard on {base}  (health: {base}{HEALTH_PATH}; Ctrl-C or SIGTERM to stop)")
    sys.stdout.flush()
    sys.stderr.flush()
    argv = streamlit_argv(app, host, port)
    os.execve(argv[0], argv, env)  # noqa: S606 (a fixed interpreter and argv, no shell)
