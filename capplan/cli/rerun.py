"""`capplan bench rerun RUN_ID`: measure a stored run again with the same benchmark configuration."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from capplan.cli.common import AllowCodeOpt, JsonOpt, StoreOpt, console, open_store, print_json
from capplan.errors import UserError
from capplan.results.schema import RunRecord, Source

# Keys of a record's config (see capplan.harness.runner.request_config) that rebuild its BenchmarkSpec.
SPEC_KEYS = ("kind", "device", "dtype", "backend", "params", "budget", "seed")


def spec_from_record(record: RunRecord) -> Any:
    """The BenchmarkSpec a stored local run was measured with (timeouts and memory caps take their
    defaults)."""
    from pydantic import ValidationError

    from capplan.harness.spec import BenchmarkSpec

    if record.source != Source.local:
        raise UserError(
            f"run_id: {record.run_id} was imported ({record.origin or 'external'}); only runs measured "
            "by capplan can be rerun"
        )
    missing = [k for k in SPEC_KEYS if k not in record.config]
    if missing:
        raise UserError(
            f"run_id: {record.run_id} has no {missing[0]!r} in its stored config; it cannot be rerun"
        )
    try:
        return BenchmarkSpec.model_validate({"name": record.config.get("benchmark", record.benchmark),
                                             **{k: record.config[k] for k in SPEC_KEYS}, "tags": record.tags})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"run_id: stored config of {record.run_id} is not a valid benchmark: "
                        f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


def rerun(
    run_id: Annotated[str, typer.Argument(help="Run id to measure again (a unique prefix is enough).")],
    allow_code: AllowCodeOpt = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a stored benchmark again with its stored configuration and seed; the new run is stored too."""
    from capplan.harness.registry import KindImportError, resolve_kind
    from capplan.harness.runner import PlannedBenchmark, run_benchmarks
    from capplan.harness.trust import check_trusted

    st = open_store(store, create=False)
    old = st.get(run_id)
    spec = spec_from_record(old)
    check_trusted(spec.kind, allow_code)  # a stored record must not run untrusted code either
    try:
        params = resolve_kind(spec.kind).Params.model_validate(spec.params).model_dump(mode="json")
    except KindImportError:
        params = dict(spec.params)  # recorded as failed when it runs, like in a suite
    except ValueError as exc:  # pydantic's ValidationError: the kind's parameters changed since
        raise UserError(
            f"run_id: stored params of {old.run_id} no longer fit kind {spec.kind}: {exc}"
        ) from exc
    [event] = run_benchmarks([PlannedBenchmark(spec, params)], st, suite=old.suite)
    new = event.record
    assert new is not None
    same = {
        "config_hash": new.config_hash == old.config_hash,
        "host": new.host_fingerprint == old.host_fingerprint,
    }
    if as_json:
        print_json({"rerun_of": old.run_id, "run_id": new.run_id, "status": new.status.value, "same": same,
                    "metrics": {m.name: {"before": (old.metric(m.name).value if old.metric(m.name) else None),
                                         "after": m.value, "unit": m.unit} for m in new.metrics}})
        return
    console.print(
        f"rerun of {old.run_id[:12]} ({old.benchmark}): new run {new.run_id[:12]} status {new.status.value}"
        f"; same config hash: {'yes' if same['config_hash'] else 'no'}; same host: "
        f"{'yes' if same['host'] else 'no'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for m in new.metrics:
        before = old.metric(m.name)
        console.print(f"  {m.name}: {before.value:.4g} -> {m.value:.4g} {m.unit}" if before else
                      f"  {m.name}: {m.value:.4g} {m.unit} (new)", markup=False, highlight=False)
