"""PlanResult: everything a plan run produced, as flat, DataFrame-friendly rows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class _Row(BaseModel):
    pass


class AssumptionRow(_Row):
    group: str
    name: str
    value: float | bool | str
    unit: str
    description: str
    source: str


class SizingRow(_Row):
    workload: str
    accelerator: str
    quarter: str
    demand: float
    demand_unit: str
    devices_avg: float
    devices_peak: float
    gpu_hours: float
    detail: str
    source: str


class TimelineRow(_Row):
    quarter: str
    quarter_start: str
    resource_class: str
    have_gpus: float = Field(description="already owned/committed before this plan")
    planned_gpus: float = Field(description="added by this plan's purchases/commitments, in service")
    need_gpus: float = Field(description="placed on this resource class by the plan")
    gap_gpus: float = Field(description="need - have (>= 0): what the plan must add")
    order_by: str | None
    status: str


class PlacementRow(_Row):
    workload: str
    quarter: str
    option: str
    kind: str
    variant: str
    accelerator: str
    share: float
    gpus: float
    direct_cost_usd: float = Field(description="rent, burst, storage/egress paid for this share")
    capacity_cost_usd: float = Field(
        description="owned/reserved GPUs attributed at the pool's stand-alone $/GPU-quarter"
    )
    burst_via: str | None
    source: str


class PurchaseRow(_Row):
    what: str
    kind: str
    accelerator: str
    units: int
    gpus: int
    in_service: str
    order_by: str
    term_quarters: int
    upfront_usd: float
    cost_in_horizon_usd: float
    source: str


class AlternativeRow(_Row):
    alternative: str
    total_usd: float
    residual_credit_usd: float
    net_usd: float
    cloud_share: float
    unserved_workload_quarters: int
    note: str


class QuarterCostRow(_Row):
    alternative: str
    quarter: str
    infrastructure_usd: float
    personnel_usd: float
    hidden_usd: float
    total_usd: float


class MonthRow(_Row):
    alternative: str
    month: int
    cumulative_usd: float


class ReasonRow(_Row):
    topic: str
    text: str


class TornadoRow(_Row):
    parameter: str
    unit: str
    base_value: float
    low_value: float
    high_value: float
    net_low_usd: float
    net_high_usd: float
    net_base_usd: float
    swing_usd: float


class ScenarioRow(_Row):
    scenario: str
    settings: str
    net_usd: float
    cloud_share: float


class VerificationRow(_Row):
    """One fleet simulated at its peak by ``plan --verify`` (capplan.planner.verify)."""

    workload: str
    accelerator: str
    quarter: str = Field(description="the peak quarter simulated")
    arrival_per_s: float = Field(description="peak arrival rate: the quarter's demand x burstiness")
    service_time_ms: float
    service_time_cv: float
    slo_p99_ms: float
    servers_analytic: int = Field(description="M/G/c slots from the queueing formula")
    servers_verified: int = Field(description="slots after adding replicas until the simulation met the SLO")
    replicas_added: int
    analytic_p99_ms: float = Field(description="the formula's p99 at the analytic fleet")
    simulated_p99_ms_at_analytic: float = Field(description="simulated p99 (seeds pooled), analytic fleet")
    simulated_p99_ms: float = Field(description="simulated p99 (seeds pooled) at the verified fleet")
    simulated_p99_upper_ms: float = Field(description="its 95 % upper confidence bound (met: <= the SLO)")
    seeds: int
    requests_per_seed: int
    met: bool
    note: str = ""


class UnitCostRow(_Row):
    workload: str
    unit: str
    usd_per_unit: float
    attributed_cost_usd: float
    units: float
    basis: str


TABLES = (
    "assumptions",
    "sizing",
    "timeline",
    "placement",
    "purchases",
    "alternatives",
    "costs_by_quarter",
    "cumulative",
    "reasons",
    "tornado",
    "scenarios",
    "unit_costs",
    "verification",
)


class PlanResult(BaseModel):
    """Result of ``run_plan``; each list is one table (``tables()`` gives them as lists of dicts)."""

    plan_name: str
    start: str
    horizon_quarters: int
    quarters: list[str]
    generated_utc: str
    solver_status: str
    recommended_net_usd: float
    all_cloud_net_usd: float
    all_onprem_net_usd: float
    break_even_month: int | None = Field(
        description="first month from which the plan's cumulative cost stays <= all-cloud"
    )
    npv_savings_vs_all_cloud_usd: float
    discounted_payback_month: int | None
    discount_rate_per_year: float
    cloud_share: float
    excluded: list[str]
    assumptions: list[AssumptionRow]
    sizing: list[SizingRow]
    timeline: list[TimelineRow]
    placement: list[PlacementRow]
    purchases: list[PurchaseRow]
    alternatives: list[AlternativeRow]
    costs_by_quarter: list[QuarterCostRow]
    cumulative: list[MonthRow]
    reasons: list[ReasonRow]
    tornado: list[TornadoRow]
    scenarios: list[ScenarioRow]
    unit_costs: list[UnitCostRow]
    verification: list[VerificationRow] = Field(
        default_factory=list, description="fleets simulated by `plan --verify` (empty without it)"
    )

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every table as a list of plain dicts (pandas.DataFrame(rows) works on each)."""
        return {name: [r.model_dump(mode="json") for r in getattr(self, name)] for name in TABLES}
