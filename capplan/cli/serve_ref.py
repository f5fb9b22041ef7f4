"""`capplan reference-server`: the project's OpenAI-compatible server (random-weight decoder or a script)."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from capplan.cli.common import err_console
from capplan.errors import UserError

SIZES = ("tiny", "base")


def reference_server(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port on 127.0.0.1.")] = 8000,
    scripted: Annotated[
        str | None,
        typer.Option(
            "--scripted",
            help="Scripted mode: key=value,... e.g. ttft_ms=50,itl_ms=10,output_tokens=8 "
            "(keys: ttft_ms itl_ms output_tokens reasoning_tokens role_chunk usage fail fail_status "
            "fail_after fail_every).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="Model name the server answers to.")
    ] = "capplan-gpt-tiny",
    size: Annotated[
        str, typer.Option("--size", help=f"Real mode: decoder size, one of {', '.join(SIZES)}.")
    ] = "tiny",
    threads: Annotated[int, typer.Option("--threads", min=1, help="Real mode: torch threads.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Real mode: seed of the random weights.")] = 0,
) -> None:
    """Serve /v1/completions and /v1/chat/completions (SSE streaming) on 127.0.0.1 until Ctrl-C, SIGTERM or
    SIGHUP: check a client path before pointing it at production."""
    from capplan.serving.app import serve
    from capplan.serving.scripted import parse_script

    if size not in SIZES:
        raise UserError(f"--size: {size!r}; allowed: {', '.join(SIZES)}")
    script = parse_script(scripted) if scripted is not None else None
    stopped_by = serve(
        port,
        model_name=model,
        script=script,
        size=size,
        seed=seed,
        threads=threads,
        log=lambda line: err_console.print(line, markup=False, highlight=False),
    )
    if stopped_by < 0:
        raise UserError(f"--port: cannot listen on 127.0.0.1:{port} (in use or not allowed)")
    name = signal.Signals(stopped_by).name if stopped_by else "shutdown"
    err_console.print(f"capplan reference-server: stopped ({name})", markup=False, highlight=False)
