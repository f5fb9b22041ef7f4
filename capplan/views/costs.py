"""Cloud vs on-prem for one accelerator: cumulative cost with break-even, $ per unit of work, tornado.

Everything is computed by capplan.costs; this module assembles one scenario from the page's inputs
and shapes the results for display.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import annotated_types
import pandas as pd

from capplan.catalog import Accelerator, Catalog, CloudInstance
from capplan.catalog.freshness import STALE_MARK
from capplan.costs import (
    BILLING_MODE_TEXT,
    BILLING_MODES,
    PRICING_MODELS,
    BillingMode,
    CarbonAssumptions,
    CloudAssumptions,
    CloudPrice,
    Comparison,
    OnPremAssumptions,
    PerUnit,
    PricingModel,
    ServerConfig,
    break_even_utilisation,
    cloud_gpu_hour_cost_usd,
    cloud_price,
    compare_onprem_cloud,
    engine,
    onprem_gpu_hour_cost_usd,
    per_unit_of_work,
    server_tco,
)
from capplan.costs.assumptions import AssumptionSet
from capplan.costs.compare import fleet_billed_gpu_hours
from capplan.planner.sensitivity import TORNADO

__all__ = [
    "BILLING_MODES",
    "BILLING_MODE_TEXT",
    "PRICING_MODELS",
    "AssumptionField",
    "AssumptionSet",
    "CarbonAssumptions",
    "CloudAssumptions",
    "CostResult",
    "CostScenario",
    "OnPremAssumptions",
    "assumption_fields",
    "carbon_frame",
    "cumulative_frame",
    "evaluate",
    "instance_label",
    "purchase_price_default",
    "stale_price_warnings",
    "tornado_frame",
    "unit_cost_frame",
    "work_unit_costs",
]


@dataclass(frozen=True)
class AssumptionField:
    """One editable assumption as a form field: bounds, unit and the cited source as help text."""

    name: str
    label: str
    default: float | bool
    minimum: float | None
    maximum: float | None
    help: str


def assumption_fields(model: type[AssumptionSet]) -> list[AssumptionField]:
    """The fields of an assumption group, in declaration order."""
    out = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        lo = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
        hi = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
        unit = extra.get("unit", "")
        out.append(AssumptionField(
            name=name, label=f"{name} ({unit})" if unit and unit != "flag" else name, default=info.default,
            minimum=None if lo is None else float(lo), maximum=None if hi is None else float(hi),
            help=f"{info.description}. Source: {extra.get('source', 'n/a')}",
        ))
    return out


@dataclass(frozen=True)
class CostScenario:
    """Own ``gpus`` accelerators in servers, or rent the same busy GPU-hours from one cloud instance type."""

    accelerator: Accelerator
    gpus: int
    gpus_per_server: int
    gpu_price_usd: float
    price_source: str
    instance: CloudInstance
    pricing_model: PricingModel
    months: int
    onprem: OnPremAssumptions
    cloud: CloudAssumptions
    billing: BillingMode = "always_on"
    carbon: CarbonAssumptions = field(default_factory=CarbonAssumptions)
    catalog: Catalog | None = None  # grid intensities and embodied figures (None: the shipped tables)


@dataclass(frozen=True)
class CostResult:
    comparison: Comparison
    price: CloudPrice
    onprem_usd_per_gpu_hour: float
    cloud_usd_per_gpu_hour: float  # per busy GPU-hour under the scenario's billing mode
    break_even_utilisation: float | None

    @property
    def horizon_difference_usd(self) -> float:
        """Cloud total minus on-prem total at the horizon (positive: owning is cheaper)."""
        return self.comparison.cloud.cumulative_usd[-1] - self.comparison.onprem.cumulative_usd[-1]


def evaluate(s: CostScenario) -> CostResult | None:
    """The comparison under the scenario; None when the instance has no price under its pricing model."""
    price = cloud_price(s.instance, s.pricing_model, s.cloud)
    if price is None or s.accelerator.tdp_w is None:
        return None
    server = ServerConfig(
        accelerator=s.accelerator.name,
        gpus_per_server=s.gpus_per_server,
        gpu_price_usd=s.gpu_price_usd,
        gpu_tdp_w=s.accelerator.tdp_w,
        price_source=s.price_source,
    )
    tco = server_tco(server, s.onprem)
    cat = s.catalog or Catalog([s.accelerator], [s.instance], [])
    embodied = cat.embodied_for(s.accelerator.name) if cat.find_accelerator(s.accelerator.name) else None
    comparison = compare_onprem_cloud(
        tco, price, s.cloud, gpus=s.gpus, months=s.months, billing=s.billing, label_onprem=s.accelerator.name,
        onprem_carbon=engine.onprem_carbon(tco, s.carbon, embodied),
        cloud_carbon=engine.cloud_carbon(price, s.accelerator.tdp_w, s.onprem, s.carbon,
                                         cat.grid_intensity(price.provider, price.region), embodied),
    )
    billed, busy = fleet_billed_gpu_hours(1, tco.utilisation_fraction, s.billing, s.cloud)
    cloud_hour = cloud_gpu_hour_cost_usd(price, s.cloud) * billed / busy
    return CostResult(comparison, price, onprem_gpu_hour_cost_usd(tco), cloud_hour,
                      break_even_utilisation(tco, price, s.cloud))


def purchase_price_default(catalog: Catalog, acc: Accelerator) -> tuple[float | None, str]:
    """The Costs page's default GPU purchase price (midpoint of the catalog's cited range) and its help
    text: range, sources, date, and the reminder to replace it with a quote."""
    cited = catalog.purchase_price(acc.name)
    if cited is None:
        return None, "no cited price in the catalog: enter a quote"
    return cited.mid_usd, cited.describe()


def instance_label(inst: CloudInstance) -> str:
    """Select-box label of a cloud instance with the date of its prices (and STALE when too old)."""
    return f"{inst.provider} {inst.instance} ({inst.region}; prices {inst.price_age().short_label()})"


def stale_price_warnings(result: CostResult, price_source: str) -> list[str]:
    """One line per price the comparison uses that is older than the price-age limit."""
    out = []
    if result.price.price_stale:
        out.append(f"Cloud price is old: {result.price.price_label}. Refresh the catalog "
                   "(capplan catalog import-skypilot) or enter your own price.")
    if STALE_MARK in price_source:
        out.append(f"Purchase price is old ({price_source}). Enter a current quote.")
    return out


def cumulative_frame(c: Comparison) -> pd.DataFrame:
    """Month-by-month cumulative cost of both options (USD)."""
    months = range(1, len(c.onprem.cumulative_usd) + 1)
    return pd.DataFrame(
        {"month": months, c.onprem.label: c.onprem.cumulative_usd, c.cloud.label: c.cloud.cumulative_usd}
    )


def work_unit_costs(usd_per_gpu_hour: float, throughput_per_gpu_s: float | None, unit: str) -> PerUnit:
    """$ per 1M tokens (throughput in tokens/s) or per 1k inferences (samples/s) at a $/GPU-hour."""
    tokens = unit.startswith("tokens")
    return per_unit_of_work(usd_per_gpu_hour, tokens_per_s_per_gpu=throughput_per_gpu_s if tokens else None,
                            inferences_per_s_per_gpu=None if tokens else throughput_per_gpu_s)


def carbon_frame(r: CostResult) -> pd.DataFrame:
    """Emissions of both options over the horizon beside their cost: tCO2e operational, embodied, total,
    kg per month, and where each figure comes from."""
    rows = []
    for series in (r.comparison.onprem, r.comparison.cloud):
        months = max(len(series.monthly_carbon_kg), 1)
        rows.append({
            "option": series.label,
            "cost_usd": series.cumulative_usd[-1] if series.cumulative_usd else 0.0,
            "operational_t": series.operational_carbon_kg / 1000.0,
            "embodied_t": series.embodied_carbon_kg / 1000.0,
            "total_t": series.carbon_kg / 1000.0,
            "kg_per_month": series.carbon_kg / months,
            "source": series.carbon_source,
        })
    return pd.DataFrame(rows, columns=["option", "cost_usd", "operational_t", "embodied_t", "total_t",
                                       "kg_per_month", "source"])


def unit_cost_frame(r: CostResult, throughput_per_gpu_s: float | None, unit: str) -> pd.DataFrame:
    """$/GPU-hour and $ per unit of work for both options at the projected throughput per GPU."""
    rows = []
    for option, hourly in (
        ("on-prem (busy GPU-hour)", r.onprem_usd_per_gpu_hour),
        (f"cloud ({r.comparison.billing_mode}, per busy GPU-hour)", r.cloud_usd_per_gpu_hour),
    ):
        u = work_unit_costs(hourly, throughput_per_gpu_s, unit)
        rows.append(
            {
                "option": option,
                "usd_per_gpu_hour": u.per_gpu_hour,
                "usd_per_1m_tokens": u.per_1m_tokens,
                "usd_per_1k_inferences": u.per_1k_inferences,
            }
        )
    return pd.DataFrame(rows)


def tornado_frame(s: CostScenario) -> pd.DataFrame:
    """Cloud-minus-on-prem total at the horizon with each cost driver at its low and high end.

    Drivers and their ranges are the planner's (capplan.planner.sensitivity.TORNADO), restricted to
    the on-prem and cloud assumptions that this comparison uses; widest swing first.
    """
    base = evaluate(s)
    rows: list[dict[str, Any]] = []
    for label, group, name, low, high in TORNADO:
        if group not in ("onprem", "cloud") or base is None:
            continue
        assumptions = getattr(s, group)
        value = float(getattr(assumptions, name))
        ends = []
        for end in (low(value), high(value)):
            changed = replace(s, **{group: assumptions.model_copy(update={name: end})})
            result = evaluate(changed)
            ends.append(result.horizon_difference_usd if result else float("nan"))
        rows.append({"driver": f"{group}.{name}", "range": label, "base_value": value,
                     "low_end_usd": ends[0], "high_end_usd": ends[1], "base_usd": base.horizon_difference_usd,
                     "swing_usd": abs(ends[1] - ends[0])})
    df = pd.DataFrame(
        rows,
        columns=["driver", "range", "base_value", "low_end_usd", "high_end_usd", "base_usd", "swing_usd"],
    )
    return df.sort_values("swing_usd", ascending=False).reset_index(drop=True)
