"""Rows recording what a plan result was computed from: demand per quarter and the prices on offer.

They travel in result.json so that ``capplan plan diff`` can say which inputs changed between two revisions.
"""

from __future__ import annotations

from capplan.planner.candidates import Candidates
from capplan.planner.demand import native_series
from capplan.planner.plan import Plan
from capplan.planner.result import DemandRow, PriceRow


def demand_rows(plan: Plan) -> list[DemandRow]:
    """Demand per workload and quarter in the plan's own unit (series as given, or now x growth)."""
    rows = []
    for i, w in enumerate(plan.workloads):
        how = (
            "series"
            if w.demand.series is not None
            else "now x (1 + growth_pct_per_quarter/100 x planning.growth_multiplier)^quarter"
        )
        for q, value in enumerate(native_series(w, plan)):
            rows.append(
                DemandRow(
                    workload=w.name,
                    quarter=plan.quarter_label(q),
                    demand=float(value),
                    unit=w.demand.unit,
                    source=f"plan file: workloads[{i}].demand.{how}",
                )
            )
    return rows


def price_rows(plan: Plan, cands: Candidates) -> list[PriceRow]:
    """Every on-prem server price and cloud price the placement could choose from, as priced (the cited or
    derived figure times the scenario multiplier onprem.gpu_price_multiplier or cloud.price_multiplier)."""
    gpu_multiplier = plan.assumptions.onprem.gpu_price_multiplier
    rows = [
        PriceRow(
            option=s.label,
            kind="existing on-prem" if s.existing_servers else "on-prem purchase",
            accelerator=s.accelerator.name,
            gpus_per_unit=s.config.gpus_per_server,
            price_usd=s.config.gpu_price_usd * gpu_multiplier,
            unit="USD per GPU",
            host_price_usd=s.config.server_price_usd,
            source=s.source,
        )
        for s in cands.servers
    ]
    rows += [
        PriceRow(
            option=c.label,
            kind=f"cloud {c.price.pricing_model}",
            accelerator=c.accelerator.name,
            gpus_per_unit=c.price.gpu_count,
            price_usd=c.price.usd_per_hour,
            unit="USD per instance-hour",
            source=c.source,
        )
        for c in cands.cloud
    ]
    return rows
