"""run_plan: plan -> candidates -> sizing -> placement (+ alternatives, sensitivity) -> PlanResult."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, get_args

import numpy as np

from capplan.catalog import Catalog, load_catalog
from capplan.costs import engine
from capplan.planner import reasons as why
from capplan.planner.candidates import Candidates, resolve_candidates
from capplan.planner.inputs import demand_rows, price_rows
from capplan.planner.placement import Mode, PlacementModel, Solution, solve_placement
from capplan.planner.plan import Plan
from capplan.planner.result import (
    AlternativeRow,
    AssumptionRow,
    LlmVerificationRow,
    MonthRow,
    PlanResult,
    ReasonRow,
    SizingRow,
    VerificationRow,
)
from capplan.planner.sensitivity import scenarios, tornado
from capplan.planner.sizing import Sizing, size_plan
from capplan.planner.summarise import (
    placement_rows,
    purchase_rows,
    quarter_cost_rows,
    timeline_rows,
    unit_cost_rows,
)
from capplan.planner.verify import verify_sizing

MODES: tuple[Mode, ...] = get_args(Mode)

ALTERNATIVE_NOTES = {
    "recommended": "cheapest plan within budget, cloud-share and placement constraints",
    "all_cloud": "every workload in the cloud except those that must stay on-prem; no budget/share limits",
    "all_onprem": "on-prem only (nothing can arrive before the lead time); no budget/share limits",
}


def prepare(plan: Plan, catalog: Catalog | None = None, store: Any = None) -> tuple[Candidates, Sizing]:
    """Resolve candidates and size every workload on every accelerator it has figures for."""
    cands = resolve_candidates(plan, catalog if catalog is not None else load_catalog())
    accs = sorted({s.accelerator.name for s in cands.servers} | {c.accelerator.name for c in cands.cloud})
    sizing = size_plan(plan, cands.catalog, [cands.catalog.accelerator(a) for a in accs], store)
    return cands, sizing


def _alternative(sol: Solution, name: str) -> AlternativeRow:
    return AlternativeRow(
        alternative=name,
        total_usd=sol.total_usd,
        residual_credit_usd=sol.residual_usd,
        net_usd=sol.net_usd,
        cloud_share=sol.cloud_share,
        unserved_workload_quarters=sum(1 for v in sol.unserved.values() if v > 0.01),
        carbon_tonnes=sol.carbon_kg / 1000.0,
        carbon_cost_usd=sol.carbon_cost_usd,
        solver_gap=sol.gap,
        solver_seconds=sol.solve_s,
        note=ALTERNATIVE_NOTES[name],
    )


def _billing_notes(plan: Plan) -> list[str]:
    return [
        f"{w.name}: {w.billing_mode} ({engine.BILLING_MODE_TEXT[w.billing_mode]})"
        + ("; peaks above the average fleet burst pay-per-use" if w.type == "inference" else "")
        for w in plan.workloads
    ]


def _without_carbon_policy(plan: Plan, model: PlacementModel) -> Solution | None:
    """The recommended plan as it would be without the plan's carbon price and cap (None when none is set)."""
    if plan.carbon.price_usd_per_tonne == 0 and plan.carbon.cap_tonnes_per_year is None:
        return None
    bare = plan.model_copy(update={"carbon": type(plan.carbon)()})
    return PlacementModel(bare, model.sizing, model.pools, model.options).solve("recommended")


def _sizing_rows(plan: Plan, sizing: Sizing) -> list[SizingRow]:
    rows = []
    workloads = {w.name: w for w in plan.workloads}
    labels = [plan.quarter_label(q) for q in range(plan.horizon_quarters)]
    for (wname, acc), fit in sizing.fits.items():
        w = workloads[wname]
        unit = "runs/quarter" if w.type == "training" else "requests/s (average)"
        d = fit.details
        source = str(d["source"])
        sized_by = "TTFT/TPOT" if d.get("llm") else "GPU-hours" if w.type == "training" else "p99 latency"
        if d.get("llm"):
            details = [
                f"{demand * w.burstiness:.3g} req/s at peak / "
                f"{d['replica_throughput_per_s']:.3g} req/s per replica within TTFT/TPOT SLOs "
                f"({d['capacity_source']}) -> {int(replicas)} replicas + "
                f"{int(spares)} spare(s) x {d['devices_per_replica']} device(s)"
                for demand, replicas, spares in zip(
                    fit.demand.tolist(), d["replicas_peak"].tolist(), d["spares_peak"].tolist(), strict=True
                )
            ]
        elif w.type == "training":
            details = [
                f"{d['gpu_hours_per_run']:.0f} GPU-h/run; >= {d['devices_for_deadline']} for deadline, "
                f">= {d['devices_for_memory']} for memory"
            ] * len(labels)
        else:
            per_replica = (
                f"/replica, {d['service_time_ms']:.1f} ms service) -> ",
                f" spare(s) x {d['devices_per_replica']} device(s)",
            )
            details = [
                f"{int(slots)} M/G/c slots at peak ({d['slots_per_replica']}{per_replica[0]}{int(replicas)} "
                f"replicas + {int(spares)}{per_replica[1]}"
                for slots, replicas, spares in zip(
                    d["servers_peak"].tolist(),
                    d["replicas_peak"].tolist(),
                    d["spares_peak"].tolist(),
                    strict=True,
                )
            ]
        columns = zip(
            labels,
            fit.demand.tolist(),
            fit.owned_avg.tolist(),
            fit.owned_peak.tolist(),
            fit.gpu_hours.tolist(),
            details,
            strict=True,
        )
        for quarter, demand, avg, peak, hours, detail in columns:
            rows.append(
                SizingRow(
                    workload=wname,
                    accelerator=acc,
                    quarter=quarter,
                    demand=float(demand),
                    demand_unit=unit,
                    devices_avg=float(avg),
                    devices_peak=float(peak),
                    gpu_hours=float(hours),
                    detail=detail,
                    source=source,
                    sized_by=sized_by,
                )
            )
    return rows


def _verification_reasons(rows: list[VerificationRow]) -> list[ReasonRow]:
    return [
        ReasonRow(
            topic=f"verified sizing: {r.workload} on {r.accelerator}",
            text=(f"simulated at {r.arrival_per_s:.4g} req/s ({r.quarter} peak): analytic p99 "
                  f"{r.analytic_p99_ms:.4g} ms, simulated {r.simulated_p99_ms_at_analytic:.4g} ms ({r.seeds} "
                  f"seeds) against the SLO {r.slo_p99_ms:g} ms; added {r.replicas_added} replica(s): "
                  f"simulated p99 {r.simulated_p99_ms:.4g} ms (95 % upper bound "
                  f"{r.simulated_p99_upper_ms:.4g} ms)"
                  + (f"; {r.note}" if r.note else "")),
        )
        for r in rows
        if r.replicas_added or not r.met
    ]


def _llm_verification_reasons(rows: list[LlmVerificationRow]) -> list[ReasonRow]:
    return [
        ReasonRow(
            topic=f"verified sizing: {r.workload} on {r.accelerator}",
            text=(
                f"continuous batching simulated at {r.arrival_per_s:.4g} req/s ({r.quarter} peak) on "
                f"{r.replicas_sized} replica(s): TTFT p99 {r.ttft_p99_ms_at_sized:.4g} ms, TPOT p99 "
                f"{r.tpot_p99_ms_at_sized:.4g} ms against the SLOs (TTFT {r.slo_ttft_p99_ms} ms, TPOT "
                f"{r.slo_tpot_p99_ms} ms); added {r.replicas_added} replica(s): TTFT p99 {r.ttft_p99_ms:.4g} "
                f"ms, TPOT p99 {r.tpot_p99_ms:.4g} ms" + (f"; {r.note}" if r.note else "")
            ),
        )
        for r in rows
    ]


def run_plan(
    plan: Plan, catalog: Catalog | None = None, store: Any = None, *, sensitivity: bool = True,
    verify: bool = False,
) -> PlanResult:
    """Run the whole plan: recommended placement, all-cloud/all-on-prem alternatives, finance, reasons,
    sensitivity. ``verify`` simulates every sized fleet first (capplan.planner.verify) and adds replicas
    where the simulated p99 misses the SLO."""
    catalog = catalog if catalog is not None else load_catalog()
    cands, sizing = prepare(plan, catalog, store)
    verification, llm_verification = verify_sizing(plan, sizing, cands.catalog, store) if verify else ([], [])
    model = PlacementModel.build(plan, cands, sizing)
    # HiGHS releases the GIL: the three independent solves run side by side, and the tables that need no
    # solution are built meanwhile (together 2-3 s of a 500-workload plan).
    workers = min(len(MODES), os.cpu_count() or 1)  # more threads than CPUs slow the longest solve down
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="capplan-solve") as pool:
        futures = {m: pool.submit(model.solve, m) for m in MODES}
        sizing_rows = _sizing_rows(plan, sizing)
        residency = why.residency_rows(plan, cands, sizing)
        sols: dict[Mode, Solution] = {m: f.result() for m, f in futures.items()}
    rec = sols["recommended"]
    alternatives = [_alternative(s, m) for m, s in sols.items()]
    flows = {m: s.flows for m, s in sols.items()}
    monthly = {m: f.monthly_usd for m, f in flows.items()}
    cumulative = {m: np.cumsum(v) for m, v in monthly.items()}
    rate = plan.assumptions.onprem.discount_rate_per_year
    discounted = np.cumsum(
        engine.discounted_monthly_usd(flows["all_cloud"], rate)
        - engine.discounted_monthly_usd(flows["recommended"], rate)
    )
    break_even = engine.break_even_period(cumulative["recommended"], cumulative["all_cloud"])
    npv = engine.npv_savings_usd(flows["recommended"], flows["all_cloud"], rate)

    def net_of(p: Plan) -> tuple[float, float]:
        c, s = (
            prepare(p, catalog, store)
            if p.assumptions.planning != plan.assumptions.planning
            else (resolve_candidates(p, catalog), sizing)
        )
        sol = solve_placement(p, c, s, "recommended")
        return sol.net_usd, sol.cloud_share

    base = (rec.net_usd, rec.cloud_share)
    placement, purchases = placement_rows(rec), purchase_rows(rec)
    derived = sorted(
        {r.option for r in placement if r.source.startswith("derived")}
        | {p.what for p in purchases if p.source.startswith("derived")}
    )
    notes = (
        [
            ReasonRow(
                topic="derived prices",
                text=f"No cited reserved price exists for {', '.join(derived)}: these use on-demand x (1 - "
                     f"discount) "
                "from assumptions cloud.reserved_1y/3y_discount_fraction; get a quote or set "
                "derive_reserved_from_on_demand: false.",
            )
        ]
        if derived
        else []
    )
    return PlanResult(
        plan_name=plan.name,
        start=str(plan.start),
        horizon_quarters=plan.horizon_quarters,
        quarters=[plan.quarter_label(q) for q in range(plan.horizon_quarters)],
        generated_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        solver_status=rec.status,
        solver_gap=rec.gap,
        solver_seconds=rec.solve_s,
        recommended_net_usd=rec.net_usd,
        all_cloud_net_usd=sols["all_cloud"].net_usd,
        all_onprem_net_usd=sols["all_onprem"].net_usd,
        break_even_month=break_even,
        npv_savings_vs_all_cloud_usd=round(npv, 2) + 0.0,
        discounted_payback_month=engine.break_even_period(-discounted, np.zeros_like(discounted)),
        discount_rate_per_year=rate,
        cloud_share=rec.cloud_share,
        carbon_tonnes=rec.carbon_kg / 1000.0,
        carbon_price_usd_per_tonne=plan.carbon.price_usd_per_tonne,
        carbon_cap_tonnes_per_year=plan.carbon.cap_tonnes_per_year,
        billing=_billing_notes(plan),
        excluded=cands.excluded + sizing.excluded,
        assumptions=[AssumptionRow(**r) for r in plan.assumptions.table()],
        sizing=sizing_rows,
        timeline=timeline_rows(rec),
        placement=placement,
        purchases=purchases,
        alternatives=alternatives,
        costs_by_quarter=[r for m, s in sols.items() for r in quarter_cost_rows(s, m)],
        cumulative=[
            MonthRow(
                alternative=m,
                month=i + 1,
                monthly_usd=float(monthly[m][i]),
                cumulative_usd=float(v),
                carbon_kg=float(flows[m].monthly_carbon_kg[i]),
            )
            for m, c in cumulative.items()
            for i, v in enumerate(c)
        ],
        reasons=why.summary_reasons(rec, alternatives, break_even, npv, rate)
        + notes
        + why.carbon_reasons(rec, _without_carbon_policy(plan, model))
        + _verification_reasons(verification)
        + _llm_verification_reasons(llm_verification)
        + why.workload_reasons(rec, cands.residency, residency)
        + why.purchase_reasons(rec),
        tornado=tornado(plan, net_of, rec.net_usd) if sensitivity else [],
        scenarios=scenarios(plan, net_of, base) if sensitivity else [],
        unit_costs=unit_cost_rows(rec, sizing),
        demand=demand_rows(plan),
        prices=price_rows(plan, cands),
        plan_inputs=plan.model_dump(mode="json"),
        constraints=why.constraint_rows(rec, cands.residency, residency),
        residency=residency,
        verification=verification,
        llm_verification=llm_verification,
    )
