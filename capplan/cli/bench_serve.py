"""`capplan bench serve`: benchmark an OpenAI-compatible endpoint (TTFT, TPOT, ITL, goodput) into the
store."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from capplan.cli.common import JsonOpt, StoreOpt, console, err_console, open_store, print_json
from capplan.errors import UserError

if TYPE_CHECKING:
    from capplan.results.schema import RunRecord

ARRIVALS = ("poisson", "constant", "gamma")
# ServeParams fields whose option is not simply --field-name
FLAGS = {"request_timeout_s": "--timeout", "warmup_requests": "--warmup", "prompts_file": "--prompts",
         "rate_rps": "--rate", "concurrency": "--concurrency/--max-concurrency", "options": "options"}
APIS = ("completions", "chat")


def parse_rates(values: list[str]) -> list[float]:
    """``--rate 2 --rate 4,8`` -> [2, 4, 8]; a non-numeric or non-positive rate is a one-line UserError."""
    rates = []
    for value in values:
        for part in value.split(","):
            try:
                rate = float(part)
            except ValueError:
                rate = math.nan
            if not (math.isfinite(rate) and rate > 0):
                raise UserError(
                    f"--rate: {part.strip()!r} is not a positive number of requests/s; "
                    "e.g. --rate 4 or --rate 1,2,4"
                )
            rates.append(rate)
    return rates


def parse_counts(values: list[str]) -> list[int]:
    counts = []
    for value in values:
        for part in value.split(","):
            if not part.strip().isdigit() or int(part) < 1:
                raise UserError(
                    f"--concurrency: {part.strip()!r} is not a whole number >= 1; "
                    "e.g. --concurrency 8 or --concurrency 1,4,16"
                )
            counts.append(int(part))
    return counts


def _params(base: dict[str, Any]) -> Any:
    from capplan.harness.serve.params import ServeParams

    try:
        return ServeParams.model_validate(base)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "options"
        flag = FLAGS.get(field, "--" + field.replace("_", "-"))
        raise UserError(f"{flag}: {err['msg'].removeprefix('Value error, ')}") from exc


def serve(
    endpoint: Annotated[
        str,
        typer.Option(
            "--endpoint",
            help="Base URL of the OpenAI API, e.g. http://127.0.0.1:8000/v1.",
            show_default=False,
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="Model name to request.", show_default=False)],
    api: Annotated[str, typer.Option("--api", help="completions or chat.")] = "completions",
    concurrency: Annotated[
        list[str] | None,
        typer.Option(
            "--concurrency", help="Fixed concurrency (closed loop); several values or 1,4,16 sweep."
        ),
    ] = None,
    rate: Annotated[
        list[str] | None,
        typer.Option("--rate", help="Open-loop arrivals, requests/s; several values or 1,2,4 sweep."),
    ] = None,
    arrival: Annotated[
        str, typer.Option("--arrival", help="With --rate: poisson, constant or gamma.")
    ] = "poisson",
    burstiness: Annotated[float, typer.Option("--burstiness", help="Gamma shape (1 = Poisson).")] = 1.0,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", min=1, help="With --rate: cap on requests in flight.")
    ] = None,
    search: Annotated[
        bool,
        typer.Option("--search", help="Search the highest Poisson rate meeting the SLOs (needs an --slo-*)."),
    ] = False,
    search_start_rps: Annotated[
        float | None,
        typer.Option("--search-start-rps", help="First rate the search tries (default: measured)."),
    ] = None,
    search_max_runs: Annotated[
        int, typer.Option("--search-max-runs", min=2, max=50, help="Load points the search may spend.")
    ] = 8,
    slo_ttft_ms: Annotated[float | None, typer.Option("--slo-ttft-ms", help="SLO on TTFT (ms).")] = None,
    slo_tpot_ms: Annotated[float | None, typer.Option("--slo-tpot-ms", help="SLO on TPOT (ms).")] = None,
    slo_e2e_ms: Annotated[float | None, typer.Option("--slo-e2e-ms", help="SLO on e2e latency (ms).")] = None,
    slo_attainment_pct: Annotated[
        float, typer.Option("--slo-attainment-pct", help="Share of requests that must meet every SLO.")
    ] = 99.0,
    requests: Annotated[
        int, typer.Option("--requests", "-n", min=1, help="Measured requests per point.")
    ] = 50,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Unmeasured requests first.")] = 1,
    input_tokens: Annotated[
        str, typer.Option("--input-tokens", help="Prompt tokens: N, uniform:LOW:HIGH or normal:MEAN:SD.")
    ] = "128",
    output_tokens: Annotated[
        str, typer.Option("--output-tokens", help="Output tokens: N, uniform:LOW:HIGH or normal:MEAN:SD.")
    ] = "32",
    prompts: Annotated[
        str | None,
        typer.Option("--prompts", help='JSONL of prompts ({"prompt": ...} or {"messages": [...]}).'),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Deadline of each request, s.")] = 60.0,
    api_key_env: Annotated[
        str,
        typer.Option(
            "--api-key-env", help="Environment variable with the API key (never stored or printed)."
        ),
    ] = "OPENAI_API_KEY",
    name: Annotated[
        str | None, typer.Option("--name", help="Benchmark name prefix (default serve-MODEL).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of prompts and arrivals.")] = 0,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Benchmark an OpenAI-compatible endpoint: TTFT, TPOT, ITL, e2e, throughput, SLO attainment and goodput
    per load point, each stored as a run (definitions: README, LLM serving)."""
    import re

    from capplan.harness.serve.point import probe_server

    if api not in APIS:
        raise UserError(f"--api: {api!r}; allowed: {', '.join(APIS)}")
    if arrival not in ARRIVALS:
        raise UserError(f"--arrival: {arrival!r}; allowed: {', '.join(ARRIVALS)}")
    rates, counts = parse_rates(rate or []), parse_counts(concurrency or [])
    if rates and counts:
        raise UserError("--rate and --concurrency: give one (use --max-concurrency to cap a rate)")
    if search and (rates or counts):
        raise UserError("--search: finds the rate itself; drop --rate/--concurrency")
    prefix = name or "serve-" + re.sub(r"[^A-Za-z0-9_.\-]+", "-", model).strip("-")
    base = {
        "endpoint": endpoint,
        "model": model,
        "api": api,
        "api_key_env": api_key_env,
        "requests": requests,
        "warmup_requests": warmup,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "prompts_file": prompts,
        "request_timeout_s": timeout,
        "slo_ttft_ms": slo_ttft_ms,
        "slo_tpot_ms": slo_tpot_ms,
        "slo_e2e_ms": slo_e2e_ms,
        "slo_attainment_pct": slo_attainment_pct,
        "arrival": arrival,
        "burstiness": burstiness,
    }
    if search:
        search_opts = {"search_start_rps": search_start_rps, "search_max_runs": search_max_runs}
        points = [_params(base | search_opts | {"search": True, "concurrency": max_concurrency})]
    elif rates:
        points = [
            _params(base | {"mode": "rate", "rate_rps": r, "concurrency": max_concurrency}) for r in rates
        ]
    elif counts:
        points = [_params(base | {"mode": "concurrency", "concurrency": c}) for c in counts]
    else:
        points = [_params(base)]
    facts = probe_server(points[0])  # an unreachable endpoint is refused before the store is touched
    st = open_store(store)
    records, interrupted = _run_with_progress(points, st, prefix, seed, search, facts, quiet=as_json)
    if as_json:
        print_json({"store": st.display_url, "interrupted": interrupted, "runs": [_row(r) for r in records]})
    else:
        _print_table(records, st.display_url)
    if interrupted:
        err_console.print("interrupted: what was measured is stored")
        raise typer.Exit(130)
    summary = [r for r in records if r.tags.get("search") == "result"]
    if summary and summary[0].status.value != "ok":
        raise UserError(f"--search: {summary[0].error}")
    if records and all(r.status.value != "ok" for r in records):
        raise UserError(records[-1].error or "nothing was measured")


def _run_with_progress(
    points: list[Any], st: Any, prefix: str, seed: int, search: bool, facts: dict[str, Any], *, quiet: bool
) -> tuple[list[RunRecord], bool]:
    """Run the sweep (or search) with a progress bar over each point's requests."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from capplan.harness.serve.sweep import SweepCallbacks, run_search, run_sweep

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[errors]} errors"),
        console=err_console,
        disable=quiet,
    ) as progress:
        state: dict[str, Any] = {}

        def started(name: str, params: Any) -> None:
            progress.console.print(
                f"  {name}: {params.requests} requests, {params.load_label()} "
                "(Ctrl-C stops and keeps what was measured)",
                markup=False,
                highlight=False,
            )
            if "task" in state:
                progress.remove_task(state["task"])
            state["task"] = progress.add_task(name, total=params.requests, errors=0)
            state["errors"] = 0

        def done(result: Any) -> None:
            state["errors"] += result.error is not None
            progress.update(state["task"], advance=1, errors=state["errors"])

        def stored(record: Any) -> None:
            progress.console.print(
                f"  {record.benchmark}: {_headline(record)}", markup=False, highlight=False
            )

        cb = SweepCallbacks(point_started=started, request_done=done, point_stored=stored)
        runner = run_search if search else run_sweep
        target = points[0] if search else points
        out = runner(target, st, prefix=prefix, seed=seed, callbacks=cb, facts=facts)
    return out.records, out.interrupted


def _headline(r: RunRecord) -> str:
    if r.status.value != "ok":
        return f"{r.status.value}: {r.error}"
    shown = []
    for metric in ("max_rate_meeting_slo_rps", "ttft_ms", "tpot_ms", "request_throughput_rps", "goodput_rps"):
        m = r.metric(metric)
        if m is not None:
            shown.append(f"{metric} {m.value:.4g}")
    return ", ".join(shown)


def _row(r: RunRecord) -> dict[str, Any]:
    facts = r.config.get("facts", {})
    return {
        "run_id": r.run_id,
        "benchmark": r.benchmark,
        "status": r.status.value,
        "error": r.error,
        "load": facts.get("load"),
        "completed": facts.get("completed_requests"),
        "failed": facts.get("failed_requests"),
        "schedule_kept": facts.get("schedule_kept"),
        "metrics": {m.name: {"value": m.value, "unit": m.unit, **m.stats} for m in r.metrics},
    }


def _print_table(records: list[RunRecord], url: str) -> None:
    t = Table(title=f"{len(records)} serving runs -> {url}")
    for col in (
        "run id",
        "load",
        "ok/failed",
        "TTFT p50 ms",
        "TPOT p50 ms",
        "ITL p50 ms",
        "req/s",
        "goodput req/s",
        "lag p50 ms",
    ):
        t.add_column(col)

    def val(r: RunRecord, name: str) -> str:
        m = r.metric(name)
        return f"{m.value:.4g}" if m is not None else "-"

    for r in records:
        facts = r.config.get("facts", {})
        load = facts.get("load") or r.benchmark
        if r.metric("max_rate_meeting_slo_rps"):
            load = f"search: {r.metric('max_rate_meeting_slo_rps').value:.4g} req/s"  # type: ignore[union-attr]
        t.add_row(
            r.run_id[:12],
            load,
            f"{facts.get('completed_requests', 0)}/{facts.get('failed_requests', 0)}",
            val(r, "ttft_ms"),
            val(r, "tpot_ms"),
            val(r, "itl_ms"),
            val(r, "request_throughput_rps"),
            val(r, "goodput_rps"),
            val(r, "dispatch_lag_ms"),
        )
    console.print(t)
    for r in records:
        if r.status.value != "ok":
            console.print(f"{r.benchmark}: {r.status.value}: {r.error}", markup=False, highlight=False)
        elif r.config.get("facts", {}).get("schedule_kept") is False:
            console.print(
                f"{r.benchmark}: the client could not keep the arrival schedule (dispatch lag above "
                "tolerance); latencies count from the actual send",
                markup=False,
                highlight=False,
            )
