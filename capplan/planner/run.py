"""run_plan: plan -> candidates -> sizing -> placement (+ alternatives, sensitivity) -> PlanResult."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from capplan.catalog import Catalog, load_catalog
from capplan.costs.finance import break_even_period, npv_usd, quarters_to_months
from capplan.planner import reasons as why
from capplan.planner.candidates import Candidates, resolve_candidates
from capplan.planner.placement import Mode, PlacementModel, Solution, solve_placement
from capplan.planner.plan import Plan
from capplan.planner.result import (
    AlternativeRow,
    AssumptionRow,
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


def _monthly(sol: Solution) -> np.ndarray:
    """Monthly cash of a solution: capex in the first month of its quarter, the rest spread; residual back at
    the end."""
    per_q = sol.cash.sum(axis=1)
    months = quarters_to_months(per_q - sol.upfront, sol.upfront)
    months[-1] -= sol.residual_usd
    return months


def _alternative(sol: Solution, name: str) -> AlternativeRow:
    return AlternativeRow(
        alternative=name,
        total_usd=sol.total_usd,
        residual_credit_usd=sol.residual_usd,
        net_usd=sol.net_usd,
        cloud_share=sol.cloud_share,
        unserved_workload_quarters=sum(1 for v in sol.unserved.values() if v > 0.01),
        note=ALTERNATIVE_NOTES[name],
    )


def _sizing_rows(plan: Plan, sizing: Sizing) -> list[SizingRow]:
    rows = []
    for (wname, acc), fit in sizing.fits.items():
        w = next(x for x in plan.workloads if x.name == wname)
        unit = "runs/quarter" if w.type == "training" else "requests/s (average)"
        d = fit.details
        for q in range(plan.horizon_quarters):
            if w.type == "training":
                detail = (f"{d['gpu_hours_per_run']:.0f} GPU-h/run; "
                          f">= {d['devices_for_deadline']} for deadline, "
                          f">= {d['devices_for_memory']} for memory")
            else:
                detail = (
                    f"{int(d['servers_peak'][q])} M/G/c slots at peak ({d['slots_per_replica']}/replica, "
                    f"{d['service_time_ms']:.1f} ms service) -> {int(d['replicas_peak'][q])} replicas + "
                    f"{int(d['spares_peak'][q])} spare(s) "
                    f"x {d['devices_per_replica']} device(s)"
                )
            rows.append(
                SizingRow(
                    workload=wname,
                    accelerator=acc,
                    quarter=plan.quarter_label(q),
                    demand=float(fit.demand[q]),
                    demand_unit=unit,
                    devices_avg=float(fit.owned_avg[q]),
                    devices_peak=float(fit.owned_peak[q]),
                    gpu_hours=float(fit.gpu_hours[q]),
                    detail=detail,
                    source=str(d["source"]),
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


def run_plan(
    plan: Plan, catalog: Catalog | None = None, store: Any = None, *, sensitivity: bool = True,
    verify: bool = False,
) -> PlanResult:
    """Run the whole plan: recommended placement, all-cloud/all-on-prem alternatives, finance, reasons,
    sensitivity. ``verify`` simulates every sized fleet first (capplan.planner.verify) and adds replicas
    where the simulated p99 misses the SLO."""
    catalog = catalog if catalog is not None else load_catalog()
    cands, sizing = prepare(plan, catalog, store)
    verification = verify_sizing(plan, sizing, cands.catalog) if verify else []
    model = PlacementModel.build(plan, cands, sizing)
    sols: dict[Mode, Solution] = {m: model.solve(m) for m in ("recommended", "all_cloud", "all_onprem")}
    rec = sols["recommended"]
    alternatives = [_alternative(s, m) for m, s in sols.items()]
    monthly = {m: _monthly(s) for m, s in sols.items()}
    cumulative = {m: np.cumsum(v) for m, v in monthly.items()}
    rate = plan.assumptions.onprem.discount_rate_per_year
    savings = monthly["all_cloud"] - monthly["recommended"]
    discounted = np.cumsum(savings / (1.0 + rate) ** (np.arange(1, savings.size + 1) / 12.0))
    break_even = break_even_period(cumulative["recommended"], cumulative["all_cloud"])
    npv = npv_usd(savings, rate, 12)

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
        recommended_net_usd=rec.net_usd,
        all_cloud_net_usd=sols["all_cloud"].net_usd,
        all_onprem_net_usd=sols["all_onprem"].net_usd,
        break_even_month=break_even,
        npv_savings_vs_all_cloud_usd=round(npv, 2) + 0.0,
        discounted_payback_month=break_even_period(-discounted, np.zeros_like(discounted)),
        discount_rate_per_year=rate,
        cloud_share=rec.cloud_share,
        excluded=cands.excluded + sizing.excluded,
        assumptions=[AssumptionRow(**r) for r in plan.assumptions.table()],
        sizing=_sizing_rows(plan, sizing),
        timeline=timeline_rows(rec),
        placement=placement,
        purchases=purchases,
        alternatives=alternatives,
        costs_by_quarter=[r for m, s in sols.items() for r in quarter_cost_rows(s, m)],
        cumulative=[
            MonthRow(alternative=m, month=i + 1, cumulative_usd=float(v))
            for m, c in cumulative.items()
            for i, v in enumerate(c)
        ],
        reasons=why.summary_reasons(rec, alternatives, break_even, npv, rate)
        + notes
        + _verification_reasons(verification)
        + why.workload_reasons(rec)
        + why.purchase_reasons(rec),
        tornado=tornado(plan, net_of, rec.net_usd) if sensitivity else [],
        scenarios=scenarios(plan, net_of, base) if sensitivity else [],
        unit_costs=unit_cost_rows(rec, sizing),
        verification=verification,
    )
