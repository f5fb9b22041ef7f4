"""`capplan bench ...`: list, show, export and import stored runs."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from capplan.cli import distributed
from capplan.cli.common import AllowCodeOpt, JsonOpt, StoreOpt, console, open_store, print_json
from capplan.cli.run_report import print_run_rows, run_row
from capplan.errors import UserError
from capplan.results.io import EXPORT_FORMATS, export_records, read_import_file
from capplan.results.schema import RunRecord, Source, Status
from capplan.results.store import RunFilter, Store
from capplan.results.summary import headline, record_summary

if TYPE_CHECKING:
    from capplan.harness.runner import RunEvent
    from capplan.harness.suite import Suite

app = typer.Typer(
    help="Run, list, inspect, compare, export and import benchmark results.", no_args_is_help=True
)

FILTER_KEYS = ("benchmark", "suite", "kind", "status", "host", "source", "session")
SESSION_TAG = "session"  # tag of every record of one `bench run` invocation (all its --repeat passes)


def parse_filters(filters: list[str] | None, limit: int | None = None) -> RunFilter:
    """Turn ``key=value`` strings into a RunFilter; unknown keys or values are user errors."""
    values: dict[str, str] = {}
    for item in filters or []:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise UserError(f"--filter: {item!r} is not key=value; keys: {', '.join(FILTER_KEYS)}")
        if key not in FILTER_KEYS:
            raise UserError(f"--filter: unknown key {key!r}; allowed: {', '.join(FILTER_KEYS)}")
        values[key] = value
    if "status" in values and values["status"] not in Status.__members__:
        raise UserError(f"--filter status: {values['status']!r}; allowed: {', '.join(Status.__members__)}")
    if "source" in values and values["source"] not in Source.__members__:
        raise UserError(f"--filter source: {values['source']!r}; allowed: {', '.join(Source.__members__)}")
    host = values.pop("host", None)
    values.pop("session", None)  # a tag, not a column: see query_runs
    return RunFilter(**values, host_fingerprint=host, limit=limit)


def query_runs(st: Store, filters: list[str] | None, limit: int | None = None) -> list:  # type: ignore[type-arg]
    """Stored runs matching ``key=value`` filters, newest first; ``session=ID`` matches the session tag."""
    session = next((f.partition("=")[2] for f in filters or [] if f.startswith("session=")), None)
    if session is None:
        return st.query(parse_filters(filters, limit))
    records = [r for r in st.iter_records(parse_filters(filters)) if r.tags.get(SESSION_TAG) == session]
    return records[:limit] if limit else records


FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help=f"key=value, repeatable; keys: {', '.join(FILTER_KEYS)}."),
]


@app.command("list")
def list_runs(
    store: StoreOpt = None,
    filters: FilterOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs (newest first).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first."""
    parse_filters(filters, limit)  # bad filters fail before the store is opened
    st = open_store(store, create=False)  # listing never creates a store (a mistyped path stays a mistake)
    records = query_runs(st, filters, limit)
    if as_json:
        print_json([_summary(r) for r in records])
        return
    t = Table(title=f"{len(records)} of {st.count(parse_filters(filters))} runs in {st.display_url}")
    for col in ("run id", "started (UTC)", "suite", "benchmark", "status", "headline"):
        t.add_column(col)
    for r in records:
        t.add_row(
            r.run_id[:12],
            r.started_utc.strftime("%Y-%m-%d %H:%M:%S"),
            r.suite or "-",
            r.benchmark,
            r.status.value,
            headline(r),
        )
    console.print(t)


def _summary(r: RunRecord) -> dict:
    return {
        **record_summary(r, mode="json"),
        "session": r.tags.get(SESSION_TAG),
        "metrics": {m.name: {"value": m.value, "unit": m.unit, "noisy": m.noisy} for m in r.metrics},
        "error": r.error,
    }


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run: configuration, metrics with statistics, telemetry, errors."""
    r = open_store(store, create=False).get(run_id)
    if as_json:
        print_json(r.model_dump(mode="json"))
        return
    console.print(
        f"[bold]{r.benchmark}[/] ({r.kind}, suite {r.suite or '-'})  run {r.run_id}  status "
        f"[bold]{r.status.value}[/]"
    )
    console.print(
        f"started {r.started_utc.isoformat()}  took {r.duration_s:.2f} s  host {r.host_fingerprint}  source "
        f"{r.source.value}"
    )
    if r.error:
        console.print(f"[red]error:[/] {r.error}", markup=True, highlight=False)
    console.print("config: " + ", ".join(f"{k}={v}" for k, v in r.config.items()), markup=False)
    t = Table("metric", "value", "unit", "p50", "p99", "CV %", "% of peak", "noisy")
    for m in r.metrics:
        s = m.stats
        pct = m.pct_of_peak
        t.add_row(
            m.name, f"{m.value:.4g}", m.unit,
            f"{s['p50']:.4g}" if "p50" in s else "-", f"{s['p99']:.4g}" if "p99" in s else "-",
            f"{100 * s['cv']:.1f}" if "cv" in s else "-", f"{pct:.0f}" if pct is not None else "-",
            "yes" if m.noisy else "",
        )
    console.print(t)
    for line in _percentile_notes(r):
        console.print(line, markup=False, highlight=False)
    if r.telemetry:
        console.print(
            "telemetry: "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.telemetry.items()
            )
        )


def _percentile_notes(r) -> list[str]:  # type: ignore[no-untyped-def]
    """Why a p99 is missing: metrics the kind could not report, and sampled latencies without a p99."""
    from capplan.results.stats import percentile_note

    facts = r.config.get("facts") or {}
    notes = [f"not reported: {why}" for why in (facts.get("not_reported") or {}).values()]
    notes += [f"{m.name}: {percentile_note('p99', m.stats)}" for m in r.metrics
              if m.unit in ("ms", "µs", "s") and "n" in m.stats and "p99" not in m.stats
              and not m.name.startswith("latency_p")]
    return notes


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(EXPORT_FORMATS)}.")] = "json",
    store: StoreOpt = None,
    filters: FilterOpt = None,
) -> None:
    """Export runs (all, or those matching --filter) to JSON, CSV or Parquet."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"--format: {fmt!r} is not supported; allowed: {', '.join(EXPORT_FORMATS)}")
    flt = parse_filters(filters)
    n = export_records(open_store(store, create=False).iter_records(flt), fmt, output)
    console.print(f"exported {n} runs to {output}")


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="A capplan export (JSON/CSV/Parquet) or a supported external result file.")
    ],
    store: StoreOpt = None,
) -> None:
    """Import runs from a file; runs already in the store (same run id) are skipped."""
    records = read_import_file(file)  # parse fully before touching the store
    st = open_store(store)
    added = st.add_many(records, skip_existing=True)
    console.print(
        f"imported {added} runs from {file} ({len(records) - added} already present) into {st.display_url}"
    )


@app.command("run")
def run(
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="quick, standard, full, or a suite YAML file.")
    ] = "quick",
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this benchmark (repeatable).")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="Run every benchmark on this device: cpu or cuda[:N].", show_default=False
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip benchmarks with an ok run of the same config on this host.")
    ] = False,
    repeat: Annotated[
        int,
        typer.Option("--repeat", min=1, help="Run the suite N times, interleaved (every benchmark once per "
                                              "pass), for `bench compare` across runs (>= 3 per side)."),
    ] = 1,
    allow_code: AllowCodeOpt = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    nproc: distributed.NprocOpt = None,
    nnodes: distributed.NnodesOpt = 1,
    node_rank: distributed.NodeRankOpt = 0,
    rdzv_endpoint: distributed.RdzvOpt = None,
) -> None:
    """Run a benchmark suite; each benchmark runs in its own subprocess and is stored as it ends."""
    import re

    from capplan.harness.runner import CONTENDED_BUSY_PCT, placement_summary
    from capplan.harness.suite import load_suite

    if device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise UserError(f"--device: {device!r}; allowed: cpu, cuda, cuda:N")
    if repeat > 1 and (resume or nproc is not None or nnodes > 1):
        raise UserError("--repeat: cannot be combined with --resume, --nproc or --nnodes")
    plan = load_suite(
        suite, only=only, device=device, allow_code=allow_code
    )  # validate before touching the store
    st = open_store(store)
    if nproc is not None or nnodes > 1:  # torchrun: distributed benchmarks on this and other nodes
        return distributed.launch_suite(plan, st, nproc=nproc, nnodes=nnodes, node_rank=node_rank,
                                        rdzv_endpoint=rdzv_endpoint, resume=resume, as_json=as_json)
    session = uuid.uuid4().hex[:12]
    plan = _tagged(plan, session, repeat)
    started = time.perf_counter()
    events = _run_with_progress(plan, st, resume, quiet=as_json)
    wall_s = time.perf_counter() - started
    rows = [run_row(e.spec.name, e.record, "resumed") for e in events]
    records = [e.record for e in events if e.record is not None]
    counts = Counter(r["status"] for r in rows)
    contended = sum(1 for r in records if r.telemetry.get("contended"))
    waited_s, kept_apart = placement_summary(records)
    if as_json:
        print_json({"suite": plan.name, "store": st.display_url, "session": session, "repeat": repeat,
                    "wall_s": round(wall_s, 1), "status_counts": dict(counts), "contended_starts": contended,
                    "placement_wait_s": round(waited_s, 1), "runs_kept_apart": kept_apart, "runs": rows})
        return
    passes = f" x {repeat} interleaved passes" if repeat > 1 else ""
    print_run_rows(f"suite {plan.name}: {len(rows)} benchmark runs{passes} -> {st.display_url} "
                   f"(session {session})", rows)
    minutes, seconds = divmod(round(wall_s), 60)
    console.print(
        f"suite {plan.name}: {len(rows)} benchmark runs in {minutes} min {seconds} s: "
        + ", ".join(f"{n} {status}" for status, n in counts.most_common())
        + f"; {contended} of {len(records)} started on a contended host (other processes > "
        f"{CONTENDED_BUSY_PCT:g} % CPU); {waited_s:.1f} s waited for the reference vCPU placement, "
        f"{kept_apart} of {len(records)} kept rounds taken apart",
        markup=False, highlight=False,
    )


def _tagged(plan: Suite, session: str, repeat: int) -> Suite:
    """The suite's benchmarks ``repeat`` times in interleaved passes, each tagged with the session id."""
    tagged = [
        replace(item, spec=item.spec.model_copy(update={"tags": {**item.spec.tags, SESSION_TAG: session}}))
        for item in plan.benchmarks
    ]
    return replace(plan, benchmarks=tagged * repeat)


def _run_with_progress(plan: Suite, st: Store, resume: bool, *, quiet: bool) -> list[RunEvent]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from capplan.cli.common import err_console
    from capplan.harness.runner import run_benchmarks

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task(f"suite {plan.name}", total=len(plan.benchmarks))

        def on_event(event: RunEvent) -> None:
            if event.record is None and not event.resumed:
                progress.update(task, description=f"{plan.name}: {event.spec.name}")
                return
            status = "resumed (ok run exists)" if event.resumed else event.record.status.value  # type: ignore[union-attr]
            progress.console.print(f"  {event.spec.name}: {status}", markup=False, highlight=False)
            progress.advance(task)

        return run_benchmarks(plan.benchmarks, st, suite=plan.name, resume=resume, on_event=on_event)


@app.command("compare")
def compare(
    run_a: Annotated[
        str | None, typer.Argument(help="Run id A (baseline); a unique prefix is enough.")
    ] = None,
    run_b: Annotated[str | None, typer.Argument(help="Run id B (candidate).")] = None,
    a: Annotated[
        list[str] | None, typer.Option("--a", help="Filter for group A, key=value (repeatable).")
    ] = None,
    b: Annotated[
        list[str] | None, typer.Option("--b", help="Filter for group B, key=value (repeatable).")
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare B against A per metric: ratio of medians, a test of between-run variation, verdict.

    Significance needs >= 3 runs per side: run each side with `bench run --repeat N` and compare the two
    sessions (--a session=ID --b session=ID).
    """
    from capplan.results.compare import ALPHA, MIN_EFFECT, MIN_RUNS, TEST_NAME, compare_runs

    st = open_store(store, create=False)
    if run_a and run_b and not (a or b):
        ra, rb = st.get(run_a), st.get(run_b)
        group_a, group_b, by_benchmark = [ra], [rb], ra.benchmark == rb.benchmark
        title = f"{rb.benchmark} {rb.run_id[:12]} vs {ra.benchmark} {ra.run_id[:12]}"
    elif a and b and not (run_a or run_b):
        group_a, group_b, by_benchmark = query_runs(st, a), query_runs(st, b), True
        title = f"B ({' '.join(b)}: {len(group_b)} runs) vs A ({' '.join(a)}: {len(group_a)} runs)"
    else:
        raise UserError(
            "compare: give two run ids (RUN_A RUN_B) or two filters (--a key=value --b key=value)"
        )
    rows = compare_runs(group_a, group_b, by_benchmark=by_benchmark)
    if not rows:
        raise UserError("compare: the two sides share no metric of an ok run; nothing to compare")
    if as_json:
        print_json({"test": TEST_NAME, "alpha": ALPHA, "min_effect": MIN_EFFECT, "min_runs": MIN_RUNS,
                    "comparisons": [r.as_dict() for r in rows]})
        return
    t = Table(
        title=title,
        caption=f"{TEST_NAME} (between-run variation; >= {MIN_RUNS} runs per side), alpha {ALPHA}, "
                f"minimum effect {MIN_EFFECT:.0%}",
    )
    for col in ("benchmark", "metric", "unit", "A", "B", "B/A", "p", "runs A/B", "verdict"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r.benchmark,
            r.metric,
            r.unit,
            f"{r.a_value:.4g}",
            f"{r.b_value:.4g}",
            f"{r.ratio:.3f}" if r.ratio is not None else "-",
            f"{r.p_value:.2g}" if r.p_value is not None else "-",
            f"{r.n_a}/{r.n_b}",
            r.verdict,
        )
    console.print(t)
