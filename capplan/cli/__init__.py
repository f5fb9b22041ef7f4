"""capplan command line: `capplan hw`, `capplan bench ...`, `capplan dashboard`, and more."""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Any

import typer
from typer._click.exceptions import ClickException  # typer vendors click; its errors live here

from capplan import __version__
from capplan.cli import (
    bench,
    bench_serve,
    catalog,
    cost,
    dashboard,
    fleet,
    hw,
    plan,
    project,
    rerun,
    serve_ref,
)
from capplan.cli.common import err_console
from capplan.errors import UserError
from capplan.signals import stop_on_signals

app = typer.Typer(
    name="capplan",
    help="AI infrastructure capacity planner and benchmark harness.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"capplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """AI infrastructure capacity planner and benchmark harness."""


# One line per command group; each module owns its commands.
app.command("hw")(hw.hw)
app.command("dashboard")(dashboard.dashboard)
app.add_typer(bench.app, name="bench")
bench.app.command("rerun")(rerun.rerun)  # `capplan bench rerun RUN_ID`
bench.app.command("serve")(bench_serve.serve)  # `capplan bench serve --endpoint URL --model M`
app.add_typer(fleet.app, name="fleet")
app.add_typer(catalog.app, name="catalog")
app.command("project")(project.project)
app.add_typer(cost.app, name="cost")
app.add_typer(plan.app, name="plan")
app.command("reference-server")(serve_ref.reference_server)


@functools.cache
def _command() -> Any:
    """The click command tree, built once (``app()`` rebuilds it per call: ~10 ms for each in-process run)."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2. Run as the program
    (``argv`` None), SIGTERM and SIGHUP stop it as cleanly as Ctrl-C."""
    if argv is None:
        stop_on_signals()
    try:
        code = _command()(args=argv, standalone_mode=False)
    except UserError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx else ""
        message = " ".join(exc.format_message().split())
        err_console.print(f"error: {where}{message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
