"""Rows from a solved placement: placement, purchases, cost per quarter, capacity-gap timeline, unit costs."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from capplan.costs.finance import HOURS_PER_QUARTER
from capplan.planner.placement import Solution, order_by
from capplan.planner.result import PlacementRow, PurchaseRow, QuarterCostRow, TimelineRow, UnitCostRow
from capplan.planner.sizing import Sizing


def option_gpus(sol: Solution, oi: int, q: int) -> float:
    """GPUs an option uses in a quarter at full share (average rented GPUs for pay-per-use)."""
    return float(sol.options[oi].devices[q])


def _capacity_usd(sol: Solution, oi: int, q: int) -> float:
    """Owned/reserved GPUs an option uses in a quarter, at the pool's stand-alone $/GPU-quarter."""
    o = sol.options[oi]
    return 0.0 if o.pool is None else float(o.devices[q]) * sol.pools[o.pool].gpu_quarter_usd


def _capacity_kg(sol: Solution, oi: int, q: int) -> float:
    """Owned/reserved GPUs an option uses in a quarter, at the pool's kg CO2e per GPU-quarter."""
    o = sol.options[oi]
    return 0.0 if o.pool is None else float(o.devices[q]) * sol.pools[o.pool].gpu_quarter_kg


def placement_rows(sol: Solution) -> list[PlacementRow]:
    plan = sol.plan
    rows = []
    for (oi, q, wi), v in sorted(sol.share.items(), key=lambda kv: (kv[0][2], kv[0][1], -kv[1])):
        o = sol.options[oi]
        rows.append(
            PlacementRow(
                workload=plan.workloads[wi].name,
                quarter=plan.quarter_label(q),
                option=o.label,
                kind=o.kind,
                variant=o.variant,
                accelerator=o.accelerator,
                share=round(v, 4),
                gpus=round(v * option_gpus(sol, oi, q), 2),
                direct_cost_usd=round(v * float(o.cash[q].sum()), 2),
                capacity_cost_usd=round(v * _capacity_usd(sol, oi, q), 2),
                burst_via=o.burst_via if o.variant == "avg+burst" else None,
                billing=o.billing,
                carbon_kg=round(v * float(o.carbon[q].sum()), 1),
                source=o.source,
            )
        )
    return rows


def purchase_rows(sol: Solution) -> list[PurchaseRow]:
    plan = sol.plan
    rows = []
    for (p, st), n in sorted(sol.buys.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        pool = sol.pools[p]
        rows.append(
            PurchaseRow(
                what=pool.label,
                kind=pool.kind,
                accelerator=pool.accelerator,
                units=n,
                gpus=n * pool.gpus_per_unit,
                in_service=plan.quarter_label(st),
                order_by=order_by(plan, st, pool.lead_time_weeks),
                term_quarters=pool.term_quarters,
                upfront_usd=round(n * pool.upfront_usd, 2),
                cost_in_horizon_usd=round(n * float(pool.unit_cash[st].sum()), 2),
                source=pool.source,
            )
        )
    return rows


def quarter_cost_rows(sol: Solution, alternative: str) -> list[QuarterCostRow]:
    return [
        QuarterCostRow(
            alternative=alternative,
            quarter=sol.plan.quarter_label(q),
            infrastructure_usd=round(float(c[0]), 2),
            personnel_usd=round(float(c[1]), 2),
            hidden_usd=round(float(c[2]), 2),
            total_usd=round(float(c.sum()), 2),
            operational_carbon_kg=round(float(sol.carbon[q, 0]), 1),
            embodied_carbon_kg=round(float(sol.carbon[q, 1]), 1),
        )
        for q, c in enumerate(sol.cash)
    ]


def _resource_class(sol: Solution, oi: int) -> str:
    o = sol.options[oi]
    if o.pool is None:
        return f"cloud pay-per-use {o.accelerator}"
    pool = sol.pools[o.pool]
    return f"on-prem {pool.accelerator}" if not pool.cloud else f"cloud {pool.kind} {pool.accelerator}"


def timeline_rows(sol: Solution) -> list[TimelineRow]:
    """Per quarter and resource class: have (existing), planned additions, need, gap and order-by dates."""
    plan = sol.plan
    nq = plan.horizon_quarters
    need: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(nq))
    have: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(nq))
    planned: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(nq))
    orders: dict[tuple[str, int], list[str]] = defaultdict(list)
    for (oi, q, _wi), v in sol.share.items():
        need[_resource_class(sol, oi)][q] += v * option_gpus(sol, oi, q)
    for pool in sol.pools:
        if pool.existing_gpus.any():
            key = f"on-prem {pool.accelerator}" if not pool.cloud else f"cloud {pool.kind} {pool.accelerator}"
            have[key] += pool.existing_gpus
    for (p, st), n in sol.buys.items():
        pool = sol.pools[p]
        key = f"on-prem {pool.accelerator}" if not pool.cloud else f"cloud {pool.kind} {pool.accelerator}"
        planned[key][st : st + pool.term_quarters] += n * pool.gpus_per_unit
        orders[(key, st)].append(order_by(plan, st, pool.lead_time_weeks))
    rows = []
    for key in sorted(set(need) | set(have) | set(planned)):
        elastic = key.startswith("cloud pay-per-use")
        for q in range(nq):
            n_need = max(float(np.ceil(need[key][q] - 1e-6)), 0.0)
            n_have = n_need if elastic else float(have[key][q])
            gap = max(n_need - n_have, 0.0)
            when = min(orders[(key, q)]) if orders.get((key, q)) else None
            if elastic:
                status = "rented as used (no order needed)"
            elif when:
                status = f"order by {when} (lead time) to be in service {plan.quarter_label(q)}"
            elif gap > 0:
                status = "covered by capacity ordered earlier"
            else:
                status = "covered by existing capacity" if n_need else "idle"
            rows.append(
                TimelineRow(
                    quarter=plan.quarter_label(q),
                    quarter_start=str(plan.quarter_start(q)),
                    resource_class=key,
                    have_gpus=n_have,
                    planned_gpus=float(planned[key][q]),
                    need_gpus=n_need,
                    gap_gpus=gap,
                    order_by=when,
                    status=status,
                )
            )
    return rows


def unit_cost_rows(sol: Solution, sizing: Sizing) -> list[UnitCostRow]:
    """Attributed cost per unit of work: rentals at their bill, owned/reserved GPUs at their stand-alone
    $/GPU-quarter."""
    plan = sol.plan
    cost = np.zeros(len(plan.workloads))
    kg = np.zeros(len(plan.workloads))
    for (oi, q, wi), v in sol.share.items():
        cost[wi] += v * (float(sol.options[oi].cash[q].sum()) + _capacity_usd(sol, oi, q))
        kg[wi] += v * (float(sol.options[oi].carbon[q].sum()) + _capacity_kg(sol, oi, q))
    rows = []
    basis = ("rentals at their bill + owned/reserved GPUs at stand-alone $/GPU-quarter "
             "(capex/amortisation + opex + hidden); kg CO2e likewise (operational + embodied)")
    for wi, w in enumerate(plan.workloads):
        fits = sizing.for_workload(w.name)
        if not fits or cost[wi] <= 0:
            continue
        served = np.array([1.0 - sol.unserved.get((wi, q), 0.0) for q in range(plan.horizon_quarters)])
        demand = fits[0].demand * served
        if w.type == "training":
            units = [("training run", float(demand.sum()))]
        else:
            requests = float((demand * HOURS_PER_QUARTER * 3600.0).sum())
            units = [("1k inferences", requests / 1e3)]
            if w.tokens_per_request:
                units.append(("1M tokens", requests * w.tokens_per_request / 1e6))
        for unit, n in units:
            if n > 0:
                rows.append(
                    UnitCostRow(
                        workload=w.name,
                        unit=unit,
                        usd_per_unit=cost[wi] / n,
                        attributed_cost_usd=cost[wi],
                        units=n,
                        kg_co2e_per_unit=kg[wi] / n,
                        basis=basis,
                    )
                )
    return rows
