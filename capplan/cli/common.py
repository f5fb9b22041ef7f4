"""Shared CLI pieces: console, store option, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from capplan.results.store import Store, default_store_exists

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
AllowCodeOpt = Annotated[
    bool,
    typer.Option(
        "--allow-code",
        help="Trust package.module:Class kinds named by the suite or run (importing them "
        "runs their code); without it they must be in $CAPPLAN_ALLOWED_KINDS or allowed-kinds.txt.",
    ),
]


def open_store(url: str | None, *, create: bool = True) -> Store:
    """Open the store named on the command line (or the default one); ``create=False`` refuses a store
    file that does not exist (commands that only read never create one: a mistyped path stays a mistake)."""
    return Store(url, create=create)


def reading_store(url: str | None) -> Store | None:
    """The store a read-only command consults: the named one, which must exist; without a name the
    default store if there is one, else None (the command then works from shipped data alone)."""
    if url is None and not default_store_exists():
        return None
    return Store(url, create=False)


def print_json(obj: Any) -> None:
    """Write JSON to stdout without rich's wrapping or markup."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
