"""`capplan dashboard`: start the Streamlit app on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.common import StoreOpt, open_store
from capplan.errors import UserError

APP_PATH = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


def dashboard(
    store: StoreOpt = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to serve on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it private to this machine.")] = "127.0.0.1",
) -> None:
    """Open the dashboard (Streamlit) on http://HOST:PORT, reading the given store."""
    if not APP_PATH.exists():
        raise UserError(f"dashboard: app not found at {APP_PATH}; run from a source checkout")
    opened = open_store(store)  # validate the URL before starting a server
    env = dict(os.environ, CAPPLAN_STORE=opened.url)
    opened.close()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", "5", "--server.enableXsrfProtection", "true", "--client.toolbarMode", "viewer",
    ]
    print(f"capplan dashboard on http://{host}:{port}  (Ctrl-C to stop)")
    raise typer.Exit(subprocess.call(cmd, env=env))
