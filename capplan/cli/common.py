"""Shared CLI pieces: console, store option, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from capplan.results.store import Store

console = Console()
err_console = Console(stderr=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="CAPPLAN_STORE",
        help="Results store: a SQLite file path or SQLAlchemy URL (postgresql+psycopg://...). "
        "Default: results.db in the user data dir.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]


def open_store(url: str | None, *, create: bool = True) -> Store:
    """Open the store named on the command line (or the default one)."""
    return Store(url, create=create)


def print_json(obj: Any) -> None:
    """Write JSON to stdout without rich's wrapping or markup."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
