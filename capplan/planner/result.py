"""PlanResult: everything a plan run produced, as flat, DataFrame-friendly rows, plus the inputs it was
computed from (demand, prices, assumptions, the plan itself) so two results can be compared."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# result.json carries these two fields; ``capplan.planner.result_file`` refuses files without them.
# Bump the version when a field that readers (plan diff, reports) rely on changes meaning or goes away.
RESULT_FORMAT = "capplan.plan_result"
# 2: adds demand, prices and plan_inputs (version 1 files carry no format field); 3: adds carbon (tonnes,
# carbon price and cap, per-row kg), billing modes, monthly cash and each alternative's solver gap and time.
RESULT_FORMAT_VERSION = 3


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
    sized_by: str = "p99 latency"  # TTFT/TPOT (LLM serving), p99 latency (queueing), GPU-hours (training)


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
    billing: str | None = Field(None, description="billing mode of rented capacity (always_on, autoscaled)")
    carbon_kg: float = Field(0.0, description="kg CO2e of rented capacity in this share (pools: by quarter)")
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
    carbon_tonnes: float = Field(description="operational + embodied tCO2e over the horizon")
    carbon_cost_usd: float = Field(description="the plan's carbon price x its emissions (not cash)")
    solver_gap: float = Field(description="proven relative gap of this alternative's cost to its optimum")
    solver_seconds: float
    note: str


class QuarterCostRow(_Row):
    alternative: str
    quarter: str
    infrastructure_usd: float
    personnel_usd: float
    hidden_usd: float
    total_usd: float
    operational_carbon_kg: float
    embodied_carbon_kg: float


class MonthRow(_Row):
    alternative: str
    month: int
    monthly_usd: float = Field(description="cash in the month: capex, running costs; residual credit last")
    cumulative_usd: float
    carbon_kg: float


class ReasonRow(_Row):
    topic: str
    text: str


class ConstraintRow(_Row):
    """One sensitive workload's residency rules and what they decided in the recommended plan."""

    workload: str
    sensitivity: str
    rules: str = Field(description="the plan's residency rules, cloud regions provider-qualified")
    placed: str = Field(description="options the recommended plan uses, each with the rule that allowed it")
    excluded: str = Field(description="venues excluded for it, each with the rule that excluded it")


class ResidencyRow(_Row):
    """One candidate option (cloud offer or on-prem server type) checked against one workload's rules."""

    workload: str
    option: str
    pricing_model: str | None = Field(description="cloud pricing model of the option; None on-prem")
    venue: str = Field(description="provider-qualified cloud region (aws:us-east-1) or on-prem site")
    location: str = Field(description="location, ISO 3166 country and economic areas of the venue")
    allowed: bool
    rule: str = Field(description="the rule that allowed or excluded the option")


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


class DemandRow(_Row):
    workload: str
    quarter: str
    demand: float = Field(description="average demand in the quarter, in the plan file's own unit")
    unit: str
    source: str


class PriceRow(_Row):
    option: str = Field(description="the server type or cloud instance + pricing model priced")
    kind: str
    accelerator: str
    gpus_per_unit: int
    price_usd: float = Field(
        description="as priced: the cited (or derived, see source) figure times the scenario multiplier "
        "onprem.gpu_price_multiplier or cloud.price_multiplier"
    )
    unit: str
    host_price_usd: float | None = Field(None, description="on-prem: host price without GPUs, when given")
    source: str


class UnitCostRow(_Row):
    workload: str
    unit: str
    usd_per_unit: float
    attributed_cost_usd: float
    units: float
    kg_co2e_per_unit: float = Field(description="attributed emissions per unit of work")
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
    "demand",
    "prices",
    "constraints",
    "residency",
)


class PlanResult(BaseModel):
    """Result of ``run_plan``; each list is one table (``tables()`` gives them as lists of dicts)."""

    format: Literal["capplan.plan_result"] = RESULT_FORMAT
    format_version: int = RESULT_FORMAT_VERSION
    plan_name: str
    start: str
    horizon_quarters: int
    quarters: list[str]
    generated_utc: str
    solver_status: str
    solver_gap: float = Field(description="proven relative gap of the recommended plan's cost to the optimum")
    solver_seconds: float
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
    carbon_tonnes: float = Field(description="recommended plan: operational + embodied tCO2e in the horizon")
    carbon_price_usd_per_tonne: float
    carbon_cap_tonnes_per_year: float | None
    billing: list[str] = Field(description="billing mode of each workload's rented capacity and its meaning")
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
    demand: list[DemandRow] = Field(description="demand per workload and quarter the plan was sized for")
    prices: list[PriceRow] = Field(description="every purchase and cloud price the placement chose from")
    plan_inputs: dict[str, Any] = Field(description="the validated plan file the result was computed from")
    constraints: list[ConstraintRow] = Field(
        default_factory=list, description="residency rules of each sensitive workload"
    )
    residency: list[ResidencyRow] = Field(
        default_factory=list,
        description="every candidate option of each sensitive workload: allowed or excluded, and why",
    )

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every table as a list of plain dicts (pandas.DataFrame(rows) works on each)."""
        return {name: [r.model_dump(mode="json") for r in getattr(self, name)] for name in TABLES}


def table_columns(name: str) -> list[str]:
    """Column names of result table ``name`` (one of TABLES), in row-model order."""
    if name not in TABLES:
        raise ValueError(f"table {name!r}; allowed: {', '.join(TABLES)}")
    row_model = PlanResult.model_fields[name].annotation.__args__[0]  # type: ignore[union-attr]
    return list(row_model.model_fields)
