"""The report's content as neutral sections (title, text, table), rendered by the Markdown and HTML
writers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capplan.catalog.freshness import STALE_MARK, max_price_age_days
from capplan.costs.format import usd
from capplan.planner.result import PlanResult


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)


def fmt(value: Any) -> str:
    """Cell text: money-like floats with thousands separators, small floats with 3 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def _table(title: str, rows: list[dict[str, Any]], columns: list[str], intro: str = "") -> Section:
    return Section(title, [intro] if intro else [], columns, [[r.get(c) for c in columns] for r in rows])


def price_dates_paragraph(r: PlanResult) -> str:
    """Where the price dates are, and which of the prices the plan uses are stale."""
    sources = {row.source for row in [*r.placement, *r.purchases]}
    stale = sorted(s for s in sources if STALE_MARK in s)
    text = (
        "Price dates: each catalog price in a source column names its date (read, published or snapshot "
        f"commit date); a price older than {max_price_age_days()} days is marked {STALE_MARK}."
    )
    if stale:
        text += (
            f" {len(stale)} of the {len(sources)} price sources used are {STALE_MARK}: re-check them "
            "(or replace them with quotes) before ordering."
        )
    return text


def residency_sections(r: PlanResult) -> list[Section]:
    """Each sensitive workload's residency rules, where it went and what was excluded (none without)."""
    if not r.constraints:
        return []
    paragraphs = [
        f"{c.workload}: {c.rules}. Placed: {c.placed}. Excluded: {c.excluded}." for c in r.constraints
    ]
    return [
        Section("Data residency: constraints of each sensitive workload", paragraphs),
        _table(
            "Data residency: every option checked",
            r.tables()["residency"],
            ["workload", "option", "venue", "location", "allowed", "rule"],
            "Cloud regions are provider-qualified (aws:us-east-1); location and country come from the "
            "catalog's region table (capplan catalog list regions), each row with its source and date.",
        ),
    ]


def build_sections(r: PlanResult) -> list[Section]:
    t = r.tables()
    be = f"month {r.break_even_month}" if r.break_even_month else "not within the horizon"
    pb = f"month {r.discounted_payback_month}" if r.discounted_payback_month else "not within the horizon"
    summary = Section(
        "Summary",
        [
            f"Plan '{r.plan_name}', {r.horizon_quarters} quarters from {r.start} ({', '.join(r.quarters)}). "
            f"Generated {r.generated_utc}.",
            f"Recommended plan: {usd(r.recommended_net_usd)} net over the horizon (after residual value of "
            f"owned hardware) and {r.carbon_tonnes:,.1f} tCO2e; "
            f"all-cloud {usd(r.all_cloud_net_usd)}; all-on-prem {usd(r.all_onprem_net_usd)}.",
            f"Break-even vs all-cloud: {be}. NPV of savings vs all-cloud at "
            f"{100 * r.discount_rate_per_year:g} %/year: "
            f"{usd(r.npv_savings_vs_all_cloud_usd)}. Discounted payback: {pb}. Cloud share of demand: "
            f"{100 * r.cloud_share:.0f} %.",
            "Cloud billing per workload: " + "; ".join(r.billing) + ".",
            f"Carbon: {r.carbon_tonnes:,.1f} tCO2e (operational + embodied); carbon price "
            f"{usd(r.carbon_price_usd_per_tonne)}/t"
            + (f", cap {r.carbon_cap_tonnes_per_year:,.0f} t/year" if r.carbon_cap_tonnes_per_year else "")
            + " (plan: carbon). Grid intensities and embodied figures: catalog grid_intensity.csv and "
            "embodied_emissions.csv (source and basis per row) and the carbon assumptions.",
            f"Solver: {r.solver_status}.",
            "Every figure below comes from a catalog row (source column), a measurement or plan figure "
            "(source column), "
            "or an assumption listed in the Assumptions table.",
            price_dates_paragraph(r),
        ],
    )
    sections = [
        summary,
        _table("Why: reasons with the numbers behind them", t["reasons"], ["topic", "text"]),
        *residency_sections(r),
        _table(
            "Procurement: what to buy, how many, when to order",
            t["purchases"],
            [
                "what",
                "units",
                "gpus",
                "in_service",
                "order_by",
                "term_quarters",
                "upfront_usd",
                "cost_in_horizon_usd",
                "source",
            ],
            "Order-by = in-service quarter start minus procurement lead time. Upfront = capex; cost in "
            "horizon adds running and hidden costs.",
        ),
        _table(
            "Capacity-gap timeline",
            t["timeline"],
            [
                "quarter",
                "resource_class",
                "have_gpus",
                "planned_gpus",
                "need_gpus",
                "gap_gpus",
                "order_by",
                "status",
            ],
            "have = owned/committed before this plan; planned = added by this plan and in service; gap = "
            "need - have.",
        ),
        _table(
            "Placement",
            t["placement"],
            [
                "workload",
                "quarter",
                "option",
                "variant",
                "share",
                "gpus",
                "direct_cost_usd",
                "capacity_cost_usd",
                "billing",
                "carbon_kg",
                "source",
            ],
            "direct = rent, burst and data costs; capacity = owned/reserved GPUs at the pool's stand-alone "
            "$/GPU-quarter "
            "(what the pool costs is in Procurement and Cost per quarter).",
        ),
        _table(
            "Alternatives",
            t["alternatives"],
            [
                "alternative",
                "total_usd",
                "residual_credit_usd",
                "net_usd",
                "cloud_share",
                "unserved_workload_quarters",
                "carbon_tonnes",
                "carbon_cost_usd",
                "solver_gap",
                "note",
            ],
        ),
        _table(
            "Cost per quarter (USD)",
            t["costs_by_quarter"],
            ["alternative", "quarter", "infrastructure_usd", "personnel_usd", "hidden_usd", "total_usd",
             "operational_carbon_kg", "embodied_carbon_kg"],
        ),
        _table(
            "Unit costs",
            t["unit_costs"],
            ["workload", "unit", "usd_per_unit", "kg_co2e_per_unit", "attributed_cost_usd", "units", "basis"],
        ),
        _table(
            "Sensitivity (tornado, re-optimised)",
            t["tornado"],
            [
                "parameter",
                "unit",
                "base_value",
                "low_value",
                "high_value",
                "net_low_usd",
                "net_high_usd",
                "swing_usd",
            ],
        ),
        _table("Scenarios", t["scenarios"], ["scenario", "net_usd", "cloud_share", "settings"]),
        _table(
            "Sizing (per workload, accelerator and quarter)",
            t["sizing"],
            [
                "workload",
                "accelerator",
                "quarter",
                "demand",
                "demand_unit",
                "devices_avg",
                "devices_peak",
                "gpu_hours",
                "detail",
                "source",
            ],
        ),
        _table("Assumptions", t["assumptions"], ["group", "name", "value", "unit", "description", "source"]),
    ]
    if r.verification:
        sections.append(_table(
            "Verified sizing (simulation at peak demand)", t["verification"],
            ["workload", "accelerator", "quarter", "arrival_per_s", "service_time_ms", "service_time_cv",
             "slo_p99_ms", "servers_analytic", "servers_verified", "replicas_added", "analytic_p99_ms",
             "simulated_p99_ms_at_analytic", "simulated_p99_ms", "simulated_p99_upper_ms",
             "requests_per_seed", "met"],
            f"Each fleet simulated (FIFO servers, Poisson arrivals, the plan's service-time distribution) at "
            f"its peak quarter over {r.verification[0].seeds} seeds, each run long enough to reach steady "
            "state; simulated p99 = all seeds' responses pooled (first 10 % of each excluded as warm-up), "
            "with its 95 % upper bound from the seeds' spread. Replicas were added until the upper bound met "
            "the SLO.",
        ))
    if r.llm_verification:
        sections.append(_table(
            "Verified LLM sizing (continuous batching at peak demand)", t["llm_verification"],
            ["workload", "accelerator", "quarter", "arrival_per_s", "replicas_sized", "replicas_verified",
             "ttft_p99_ms_at_sized", "tpot_p99_ms_at_sized", "ttft_p99_ms", "tpot_p99_ms", "slo_ttft_p99_ms",
             "slo_tpot_p99_ms", "met"],
            "Each LLM fleet's peak-quarter requests spread over its serving replicas (spares idle), each "
            "replica simulated under continuous batching with the projection's prefill and decode times and "
            "its KV-cache batch limit; replicas were added until both p99s met their SLOs.",
        ))
    if r.excluded:
        sections.append(Section("Options left out", [], ["reason"], [[e] for e in r.excluded]))
    return sections
