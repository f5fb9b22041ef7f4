"""The plan file (plan.yaml): horizon, workloads with demand and SLOs, fleet, budget, candidates.

Loaded with yaml.safe_load and validated by pydantic; a bad plan raises UserError naming the field path
and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from capplan.catalog.models import Accelerator, CloudInstance
from capplan.catalog.regions import Region, country_code, jurisdiction, not_yaml_boolean
from capplan.costs.assumptions import PLANNING_ASSUMPTION, AssumptionSet, assumption
from capplan.costs.carbon import CarbonAssumptions
from capplan.costs.cloud import PRICING_MODELS, CloudAssumptions, PricingModel
from capplan.costs.engine import BillingMode
from capplan.costs.onprem import OnPremAssumptions
from capplan.errors import UserError
from capplan.yamlfile import read_yaml

_LLAMA3 = "Llama 3 Herd of Models (Meta, 2024)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class PlanningAssumptions(AssumptionSet):
    """Sizing assumptions shared by all workloads."""

    device_mtbf_h: float = assumption(
        50_000.0,
        unit="hours",
        ge=1.0,
        description="mean time between failures of one accelerator (with its share of host)",
        source=f"{_LLAMA3}, sec. 3.3.4: 419 unexpected interruptions in 54 days on 16,384 H100 GPUs (~50,700 "
               f"GPU-hours each)",
    )
    device_mttr_h: float = assumption(
        24.0,
        unit="hours",
        ge=0.0,
        description="mean time to repair/replace a failed device",
        source=PLANNING_ASSUMPTION,
    )
    memory_usable_fraction: float = assumption(
        0.90,
        unit="fraction",
        ge=0.05,
        le=1.0,
        description="share of device memory usable for weights/KV cache after runtime overheads",
        source=PLANNING_ASSUMPTION,
    )
    training_mfu_fraction: float = assumption(
        0.40,
        unit="fraction",
        ge=0.01,
        le=1.0,
        description="model FLOPs utilisation when converting training FLOPs to GPU-hours",
        source=f"{_LLAMA3}, Table 4: 38-43 % BF16 MFU on H100",
    )
    training_max_utilisation_fraction: float = assumption(
        0.85,
        unit="fraction",
        ge=0.05,
        le=1.0,
        description="share of owned GPU-hours schedulable for training (queueing, maintenance)",
        source=PLANNING_ASSUMPTION,
    )
    growth_multiplier: float = assumption(
        1.0,
        unit="x",
        description="scenario knob scaling every workload's growth rate",
        source="scenario/sensitivity knob",
    )


class Assumptions(_Strict):
    """All editable assumptions, grouped."""

    onprem: OnPremAssumptions = Field(default_factory=OnPremAssumptions)
    cloud: CloudAssumptions = Field(default_factory=CloudAssumptions)
    planning: PlanningAssumptions = Field(default_factory=PlanningAssumptions)
    carbon: CarbonAssumptions = Field(default_factory=CarbonAssumptions)

    def table(self) -> list[dict[str, Any]]:
        return (
            self.onprem.table("onprem")
            + self.cloud.table("cloud")
            + self.planning.table("planning")
            + self.carbon.table("carbon")
        )


class ReplicaPerf(_Strict):
    """Measured or quoted performance of one replica on one accelerator."""

    throughput_per_s: float | None = Field(None, gt=0, description="requests/s one replica sustains")
    tokens_per_s: float | None = Field(None, gt=0, description="output tokens/s one replica sustains (LLMs)")
    latency_ms: float = Field(gt=0, description="mean service time of one request at that throughput")
    devices: int | None = Field(None, ge=1, description="devices per replica (default: memory-fit minimum)")
    source: str = Field(
        "plan file", min_length=1, description="where the figures come from (run id, benchmark)"
    )

    @model_validator(mode="after")
    def _one_rate(self) -> ReplicaPerf:
        if (self.throughput_per_s is None) == (self.tokens_per_s is None):
            raise ValueError("give exactly one of throughput_per_s or tokens_per_s")
        return self


class ModelRef(_Strict):
    """What the workload runs: a workload name or stored run for projection, or explicit figures."""

    workload: str | None = Field(None, description="workload name for capplan.perfmodel projection")
    run_id: str | None = Field(None, description="stored run whose record is projected onto each accelerator")
    dtype: str = Field("bf16", description="dtype for projection and FLOPs-based training sizing")
    batch: int | None = Field(None, ge=1, description="batch size for projection (default: the workload's)")
    task: Literal["infer", "generate"] | None = Field(
        None, description="projection task (default: the workload's)"
    )
    per_device: dict[str, ReplicaPerf] = Field(
        default_factory=dict, description="accelerator -> replica figures"
    )
    gpu_hours_per_run: dict[str, float] = Field(
        default_factory=dict, description="accelerator -> GPU-hours per training run"
    )
    train_flops_per_run: float | None = Field(None, gt=0, description="total FLOPs of one training run")
    serve_runs: dict[str, str] = Field(
        default_factory=dict,
        description="accelerator -> stored `capplan bench serve` runs measured on it (a sweep_id tag, or a "
        "run-id or benchmark-name prefix); per-replica capacity is their goodput-max rate under the SLOs",
    )
    source: str = Field(
        "plan file", min_length=1, description="where gpu_hours_per_run/train_flops_per_run come from"
    )

    @model_validator(mode="after")
    def _positive_hours(self) -> ModelRef:
        bad = [k for k, v in self.gpu_hours_per_run.items() if not v > 0]
        if bad:
            raise ValueError(f"gpu_hours_per_run must be > 0 (bad: {', '.join(bad)})")
        return self


DemandUnit = Literal["qps", "requests_per_day", "tokens_per_s", "tokens_per_day", "runs_per_quarter"]


class Demand(_Strict):
    """Demand now and its growth, or an explicit series (one value per quarter)."""

    now: float | None = Field(None, ge=0, description="demand in the first quarter (average, not peak)")
    unit: DemandUnit = "qps"
    growth_pct_per_quarter: float = Field(0.0, gt=-100, le=1000, description="compound growth per quarter, %")
    series: list[float] | None = Field(None, description="explicit demand per quarter (overrides now/growth)")

    @model_validator(mode="after")
    def _given(self) -> Demand:
        if self.series is None and self.now is None:
            raise ValueError("give demand.now (with growth_pct_per_quarter) or demand.series")
        if self.series is not None and any(v < 0 for v in self.series):
            raise ValueError("series values must be >= 0")
        return self


class SLO(_Strict):
    p99_latency_ms: float = Field(200.0, gt=0, description="99th percentile end-to-end latency target")
    ttft_p99_ms: float | None = Field(
        None, gt=0, description="LLM serving: 99th percentile time to first token (sizes by TTFT/TPOT)"
    )
    tpot_p99_ms: float | None = Field(
        None, gt=0, description="LLM serving: 99th percentile time per output token after the first"
    )
    availability_pct: float = Field(
        99.9, gt=0, lt=100, description="share of time the service meets capacity"
    )

    @property
    def llm(self) -> bool:
        """Sized as LLM serving (by TTFT/TPOT) rather than by one end-to-end latency."""
        return self.ttft_p99_ms is not None or self.tpot_p99_ms is not None


class RequestShape(_Strict):
    """Tokens of one LLM request."""

    input_tokens: int = Field(ge=1, le=10_000_000, description="prompt tokens per request")
    output_tokens: int = Field(ge=1, le=1_000_000, description="generated tokens per request")


Jurisdiction = Annotated[str, BeforeValidator(not_yaml_boolean), AfterValidator(jurisdiction)]
RESIDENCY_RULES = ("allowed_regions", "allowed_jurisdictions", "approved_providers")


class Workload(_Strict):
    """One workload: inference service or training programme."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\- ]+$")
    type: Literal["inference", "training"]
    model: ModelRef = Field(default_factory=ModelRef)
    demand: Demand
    slo: SLO = Field(default_factory=SLO)
    burstiness: float = Field(1.0, ge=1.0, le=100, description="peak / average demand")
    peak_hours_per_day: float = Field(4.0, ge=0, le=24, description="hours a day demand is at its peak")
    service_time_cv: float = Field(
        0.5, ge=0, le=1, description="service-time coefficient of variation (0 = constant, 1 = exponential)"
    )
    tokens_per_request: float | None = Field(
        None, gt=0, description="tokens per request, for token demand and $/1M tokens"
    )
    request_shape: RequestShape | None = Field(
        None, description="LLM serving: prompt and output tokens per request (needed with TTFT/TPOT SLOs)"
    )
    memory_gib: float | None = Field(
        None, gt=0, description="weights + activations/KV cache of one replica or run"
    )
    deadline_hours: float | None = Field(None, gt=0, description="a training run must finish within this")
    sensitivity: Literal["none", "on_prem", "region"] = Field(
        "none",
        description="data residency: none; on_prem (own sites only); region (cloud allowed under the rules "
        "allowed_regions / allowed_jurisdictions / approved_providers, every rule given must hold)",
    )
    allowed_regions: list[str] = Field(
        default_factory=list,
        description="cloud regions the data may go to, provider-qualified: aws:us-east-1, gcp:us-central1 (a "
        "bare name is accepted only when a single provider has a region of that name)",
    )
    allowed_jurisdictions: list[Jurisdiction] = Field(
        default_factory=list,
        description="ISO 3166-1 alpha-2 countries (US, DE) or economic areas (EU, EEA) where the data may be "
        "processed; applies to cloud regions and to on-prem sites",
    )
    approved_providers: list[str] = Field(
        default_factory=list, description="cloud providers approved for the data (AWS, GCP, Azure...)"
    )
    placement: Literal["any", "on_prem", "cloud"] = "any"
    allow_spot: bool | None = Field(None, description="may run on spot (default: training yes, inference no)")
    billing: BillingMode | None = Field(
        None,
        description="how rented capacity is billed: always_on (the fleet 24 h a day; inference always) or "
        "autoscaled (busy GPU-hours plus the cloud.autoscale_floor_fraction warm floor; training default)",
    )
    storage_gb: float = Field(0.0, ge=0, description="data kept next to the workload")
    egress_gb_per_month: float = Field(0.0, ge=0, description="data sent out to the internet per month")

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        token_units = {"tokens_per_s", "tokens_per_day"}
        if self.type == "training" and self.demand.unit != "runs_per_quarter":
            raise ValueError("training demand.unit must be runs_per_quarter")
        if self.type == "inference" and self.demand.unit == "runs_per_quarter":
            raise ValueError(
                "inference demand.unit must be one of qps, requests_per_day, tokens_per_s, tokens_per_day"
            )
        needs_tokens = self.demand.unit in token_units or any(
            p.tokens_per_s for p in self.model.per_device.values()
        )
        if needs_tokens and self.tokens_per_request is None:
            raise ValueError("tokens_per_request is required with token-based demand or tokens_per_s figures")
        if self.slo.llm and self.type != "inference":
            raise ValueError("slo.ttft_p99_ms/tpot_p99_ms apply to inference workloads")
        if self.slo.llm and self.request_shape is None:
            raise ValueError("TTFT/TPOT SLOs need request_shape: {input_tokens, output_tokens}")
        given = [r for r in RESIDENCY_RULES if getattr(self, r)]
        if self.sensitivity == "region" and not given:
            raise ValueError(
                "sensitivity=region needs allowed_regions, allowed_jurisdictions or approved_providers"
            )
        if self.sensitivity == "none" and given:
            raise ValueError(f"{given[0]} applies only with sensitivity: region (or on_prem for "
                             "allowed_jurisdictions); set sensitivity")
        cloud_rules = [r for r in given if r != "allowed_jurisdictions"]
        if self.sensitivity == "on_prem" and cloud_rules:
            raise ValueError(f"{cloud_rules[0]} names cloud venues, but sensitivity: on_prem never uses the "
                             "cloud; use sensitivity: region")
        if self.type == "inference" and self.billing == "autoscaled":
            raise ValueError(
                "billing: inference fleets are sized for their average load and billed always_on (peaks "
                "burst pay-per-use); autoscaled is for training"
            )
        return self

    @property
    def billing_mode(self) -> BillingMode:
        """The billing mode of this workload's rented capacity (explicit, or by type)."""
        return self.billing or ("always_on" if self.type == "inference" else "autoscaled")

    @property
    def sensitive(self) -> bool:
        """Whether the workload's data carries a residency constraint."""
        return self.sensitivity != "none"

    @property
    def spot_ok(self) -> bool:
        return self.allow_spot if self.allow_spot is not None else self.type == "training"


class BudgetSplit(_Strict):
    infrastructure: float = Field(0.4, ge=0, le=1)
    personnel: float = Field(0.3, ge=0, le=1)
    project_management: float = Field(0.2, ge=0, le=1)
    contingency: float = Field(0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> BudgetSplit:
        total = self.infrastructure + self.personnel + self.project_management + self.contingency
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split must sum to 1 (got {total:g})")
        return self


class Budget(_Strict):
    per_year_usd: float | None = Field(None, gt=0, description="spending cap per plan year")
    split: BudgetSplit | None = Field(None, description="optional 40/30/20/10 split")


class Site(_Strict):
    """An on-prem site (data centre) and the country whose law applies to data there."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\- ]+$")
    country: Annotated[str, BeforeValidator(not_yaml_boolean), AfterValidator(country_code)] = Field(
        description="ISO 3166-1 alpha-2 country of the site (US, DE...); its economic areas follow"
    )
    source: str = Field("plan file", min_length=1, description="where the site's location is recorded")


class OnPremCandidate(_Strict):
    """A server type that may be bought; prices fall back to the catalog's list price only when it has one."""

    accelerator: str = Field(min_length=1)
    site: str | None = Field(None, description="the sites[] entry it would be installed at")
    gpus_per_server: int = Field(8, ge=1, le=64)
    gpu_price_usd: float | None = Field(None, gt=0)
    server_price_usd: float | None = Field(None, ge=0)
    price_source: str | None = Field(
        None, min_length=1, description="required with gpu_price_usd: quote, list price..."
    )
    lead_time_weeks: float | None = Field(None, ge=0, le=260)

    @model_validator(mode="after")
    def _sourced(self) -> OnPremCandidate:
        if self.gpu_price_usd is not None and not self.price_source:
            raise ValueError("price_source is required when gpu_price_usd is given")
        return self


class CloudCandidates(_Strict):
    providers: list[str] | None = Field(None, description="default: every provider in the catalog")
    regions: list[str] | None = Field(None, description="default: every region")
    pricing_models: list[PricingModel] = Field(default_factory=lambda: list(PRICING_MODELS))


class Candidates(_Strict):
    onprem: list[OnPremCandidate] | None = Field(
        None, description="default: catalog accelerators with a list price"
    )
    cloud: CloudCandidates = Field(default_factory=CloudCandidates)
    accelerators: list[str] | None = Field(None, description="restrict to these accelerators")


class ExistingServers(_Strict):
    accelerator: str = Field(min_length=1)
    site: str | None = Field(None, description="the sites[] entry the servers are installed at")
    servers: int = Field(ge=1)
    gpus_per_server: int = Field(8, ge=1, le=64)


class ExistingReserved(_Strict):
    provider: str
    instance: str
    region: str
    count: int = Field(ge=1)
    pricing_model: Literal["reserved_1y", "reserved_3y"]
    ends_after_quarter: int = Field(ge=0, description="last plan quarter (0-based) the commitment covers")


class Existing(_Strict):
    onprem: list[ExistingServers] = Field(default_factory=list)
    reserved: list[ExistingReserved] = Field(default_factory=list)


class Solver(_Strict):
    max_options_per_kind: int = Field(
        3, ge=1, le=50, description="cheapest on-prem/reserved/elastic options kept per workload"
    )
    time_limit_s: float = Field(
        20.0, gt=0, le=3600, description="HiGHS time limit per placement solve (error when no plan is found)"
    )
    mip_rel_gap: float = Field(
        0.01,
        ge=0,
        le=0.5,
        description="stop once the plan's cost is proven within this share of the optimum (HiGHS rel. gap)",
    )


class CarbonPolicy(_Strict):
    """What emissions cost the plan: an internal carbon price and/or a cap per plan year."""

    price_usd_per_tonne: float = Field(
        0.0, ge=0, le=100_000, description="internal carbon price added to the optimiser's objective"
    )
    cap_tonnes_per_year: float | None = Field(
        None, gt=0, description="most tCO2e the plan may emit per plan year (operational + embodied)"
    )


class Plan(_Strict):
    """A capacity plan."""

    name: str = Field(min_length=1)
    start: dt.date = Field(description="first day of the first plan quarter")
    horizon_quarters: int = Field(8, ge=1, le=40)
    workloads: list[Workload] = Field(min_length=1)
    budget: Budget = Field(default_factory=Budget)
    max_cloud_share: float | None = Field(
        None, ge=0, le=1, description="max share of demand served from cloud"
    )
    candidates: Candidates = Field(default_factory=Candidates)
    existing: Existing = Field(default_factory=Existing)
    assumptions: Assumptions = Field(default_factory=Assumptions)
    hardware: list[Accelerator] = Field(default_factory=list, description="extra/override accelerator rows")
    instances: list[CloudInstance] = Field(
        default_factory=list, description="extra/override cloud instance rows"
    )
    regions: list[Region] = Field(
        default_factory=list, description="extra/override cloud region rows (country, source, date)"
    )
    sites: list[Site] = Field(
        default_factory=list, description="on-prem sites and their countries (for allowed_jurisdictions)"
    )
    solver: Solver = Field(default_factory=Solver)
    carbon: CarbonPolicy = Field(default_factory=CarbonPolicy)

    @model_validator(mode="after")
    def _unique_names(self) -> Plan:
        names = [w.name for w in self.workloads]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"workload names must be unique (repeated: {', '.join(dupes)})")
        for w in self.workloads:
            if w.demand.series is not None and len(w.demand.series) != self.horizon_quarters:
                raise ValueError(
                    f"workload {w.name!r}: demand.series needs {self.horizon_quarters} values (one per "
                    f"quarter)"
                )
        self._check_sites()
        return self

    def _check_sites(self) -> None:
        names = [s.name for s in self.sites]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"site names must be unique (repeated: {', '.join(dupes)})")
        owned = [("candidates.onprem", c) for c in self.candidates.onprem or []]
        owned += [("existing.onprem", e) for e in self.existing.onprem]
        for where, row in owned:
            if row.site is not None and row.site not in names:
                allowed = ", ".join(names) if names else "none declared: add sites: [{name, country}]"
                raise ValueError(f"{where}: site {row.site!r} is not in sites ({allowed})")
            if row.site is None and len(names) > 1:
                raise ValueError(f"{where}: name the site of {row.accelerator} (sites: {', '.join(names)})")

    def site(self, name: str | None) -> Site | None:
        """The site called ``name``; with no name, the only declared site (None when none or several)."""
        if name is None:
            return self.sites[0] if len(self.sites) == 1 else None
        return next((s for s in self.sites if s.name == name), None)

    def quarter_start(self, q: int) -> dt.date:
        """First day of plan quarter ``q`` (0-based)."""
        return _quarter_start(self.start, q)

    def quarter_label(self, q: int) -> str:
        return _quarter_label(self.start, q)


def _quarter_start(start: dt.date, q: int) -> dt.date:
    months = start.month - 1 + 3 * q
    return dt.date(start.year + months // 12, months % 12 + 1, min(start.day, 28))


@functools.lru_cache(maxsize=4096)  # result tables label every row: one label per (start, quarter)
def _quarter_label(start: dt.date, q: int) -> str:
    """'2026-Q1' for a calendar quarter, else 'Q3 (2026-02-15)' (plan quarters from an odd start)."""
    d = _quarter_start(start, q)
    calendar = d.day == 1 and d.month in (1, 4, 7, 10)
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}" if calendar else f"Q{q + 1} ({d})"


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "plan"


def _allowed_here(loc: tuple[Any, ...]) -> str:
    """Field names allowed at the parent of ``loc`` (for unknown-key errors)."""
    model: Any = Plan
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            model = None
            break
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:  # list[Model] / dict[str, Model]
            inner = [a for c in candidates for a in getattr(c, "__args__", ())]
            model = next((c for c in inner if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return ", ".join(model.model_fields) if model is not None else ""


def _format(exc: ValidationError, origin: str) -> str:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if p not in ("function-after",))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = _allowed_here(loc)
        msg = "unknown field" + (f"; allowed: {allowed}" if allowed else "")
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{origin}: {_path(loc)}: {msg}{more}"


def load_plan(source: str | Path | dict[str, Any]) -> Plan:
    """Load and validate a plan from a YAML file path or a dict; UserError on any problem."""
    origin = "plan"
    if isinstance(source, dict):
        data: Any = source
    else:
        path = Path(source)
        origin = str(path)
        data = read_yaml(path, "plan")
    if not isinstance(data, dict):
        raise UserError(f"{origin}: a plan must be a YAML mapping with name, start, workloads, ...")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise UserError(_format(exc, origin)) from exc
