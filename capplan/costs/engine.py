"""The cost engine: every money and carbon formula of capplan, and nothing else.

The planner's MILP coefficients, ``capplan cost compare``, the reports and the dashboard's Costs page all
call these functions, so the same hardware costs the same wherever it is asked about.

Conventions
- Time runs in months (``HOURS_PER_MONTH`` = Julian year / 12). ``Flows.upfront_usd[m]`` is paid at the
  start of month m (capex), ``running_usd[m]`` over month m (discounted at its end), ``residual_usd`` comes
  back at the end of the last month (book value of owned hardware).
- Cash has three categories: infrastructure, personnel, hidden (integration, monitoring, retraining).
- On-prem: capex = (GPUs x price + host) x (1 + networking + storage shares); power = idle + utilisation x
  (peak - idle), x PUE x tariff; space per kW of peak power; support per year on GPUs + host; staff per
  server; hidden costs gross the total up (hidden = share of the total) on amortised capex plus opex while
  capex is being amortised, on opex after; book value falls straight-line to the residual value.
- Cloud: billed GPU-hours x price per GPU-hour x spot-interruption overhead, plus the monitoring/
  retraining share; billing mode ``always_on`` (a rented fleet, billed 24 h a day) or ``autoscaled``
  (busy GPU-hours plus a floor share of the fleet kept warm while idle); reserved commitments are billed
  every hour of their term; storage per GB-month, egress per GB.
- Carbon: operational = facility energy x grid intensity of the site or cloud region; embodied = per-GPU
  manufacturing emissions (plus the host's), amortised like capex on-prem and over the provider's
  hardware life per rented GPU-hour in the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel

from capplan.catalog.carbon import EmbodiedEmission, GridIntensity
from capplan.catalog.models import PRICE_MODELS, CloudInstance
from capplan.costs.carbon import CarbonAssumptions
from capplan.costs.cloud import RESERVED_TERM_QUARTERS, CloudAssumptions, CloudPrice, PricingModel
from capplan.costs.finance import HOURS_PER_MONTH, HOURS_PER_YEAR
from capplan.costs.onprem import OnPremAssumptions, ServerConfig, ServerTCO

BillingMode = Literal["always_on", "autoscaled"]
BILLING_MODES: tuple[BillingMode, ...] = get_args(BillingMode)
BILLING_MODE_TEXT: dict[str, str] = {
    "always_on": "rented fleet billed 24 h a day",
    "autoscaled": "billed for busy GPU-hours plus a warm floor (cloud.autoscale_floor_fraction) while idle",
}
CATEGORIES = ("infrastructure", "personnel", "hidden")
INFRA, STAFF, HIDDEN = range(3)
CARBON_KINDS = ("operational", "embodied")
OPERATIONAL, EMBODIED = range(2)


# ---------------------------------------------------------------------------------------------- flows
@dataclass
class Flows:
    """Monthly cash (by category) and emissions of one option over a horizon."""

    upfront_usd: np.ndarray  # (M,) capex paid at the start of each month
    running_usd: np.ndarray  # (M, 3) infrastructure, personnel, hidden paid over each month
    residual_usd: float = 0.0  # book value credited at the end of the last month
    carbon_kg: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (M, 2) operational, embodied

    def __post_init__(self) -> None:
        if self.carbon_kg.shape[0] != self.months:
            self.carbon_kg = np.zeros((self.months, 2))

    @classmethod
    def zeros(cls, months: int) -> Flows:
        return cls(np.zeros(months), np.zeros((months, 3)), 0.0, np.zeros((months, 2)))

    @property
    def months(self) -> int:
        return int(self.upfront_usd.size)

    @property
    def monthly_usd(self) -> np.ndarray:
        """Cash per month: upfront + running, the residual credit taken off the last month."""
        out = self.upfront_usd + self.running_usd.sum(axis=1)
        if out.size:
            out[-1] -= self.residual_usd
        return out

    @property
    def total_usd(self) -> float:
        """Spend over the horizon before the residual credit."""
        return float(self.upfront_usd.sum() + self.running_usd.sum())

    @property
    def net_usd(self) -> float:
        return self.total_usd - self.residual_usd

    @property
    def monthly_carbon_kg(self) -> np.ndarray:
        return self.carbon_kg.sum(axis=1)

    def __add__(self, other: Flows) -> Flows:
        return Flows(
            self.upfront_usd + other.upfront_usd,
            self.running_usd + other.running_usd,
            self.residual_usd + other.residual_usd,
            self.carbon_kg + other.carbon_kg,
        )

    def scaled(self, k: float) -> Flows:
        return Flows(self.upfront_usd * k, self.running_usd * k, self.residual_usd * k, self.carbon_kg * k)

    def quarterly(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cash (Q, 3) with upfront in infrastructure, upfront (Q,), carbon kg (Q, 2)); M a multiple of 3."""
        nq = self.months // 3
        running = self.running_usd[: 3 * nq].reshape(nq, 3, 3).sum(axis=1)
        upfront = self.upfront_usd[: 3 * nq].reshape(nq, 3).sum(axis=1)
        running[:, INFRA] += upfront
        return running, upfront, self.carbon_kg[: 3 * nq].reshape(nq, 3, 2).sum(axis=1)

    @classmethod
    def from_quarters(
        cls, cash: np.ndarray, upfront: np.ndarray, residual_usd: float, carbon_kg: np.ndarray
    ) -> Flows:
        """Monthly flows of quarterly figures: upfront in a quarter's first month, the rest spread evenly."""
        running = np.asarray(cash, dtype=float).copy()
        running[:, INFRA] -= upfront
        months = np.zeros(3 * len(upfront))
        months[::3] = upfront
        return cls(
            months,
            np.repeat(running / 3.0, 3, axis=0),
            float(residual_usd),
            np.repeat(np.asarray(carbon_kg, dtype=float) / 3.0, 3, axis=0),
        )


def discounted_monthly_usd(flows: Flows, rate_per_year: float) -> np.ndarray:
    """Present value of each month's cash: upfront at the month's start, running at its end, residual at
    the end of the horizon."""
    m = np.arange(flows.months)
    start = (1.0 + rate_per_year) ** (-m / 12.0)
    end = (1.0 + rate_per_year) ** (-(m + 1) / 12.0)
    out = flows.upfront_usd * start + flows.running_usd.sum(axis=1) * end
    if out.size:
        out[-1] -= flows.residual_usd * end[-1]
    return out


def npv_usd(flows: Flows, rate_per_year: float) -> float:
    """Net present value of a horizon's cash (a cost: positive = money out)."""
    return float(discounted_monthly_usd(flows, rate_per_year).sum())


def npv_savings_usd(own: Flows, alternative: Flows, rate_per_year: float) -> float:
    """NPV of choosing ``own`` instead of ``alternative`` (positive: ``own`` costs less)."""
    return npv_usd(alternative, rate_per_year) - npv_usd(own, rate_per_year)


def break_even_period(cum_a: np.ndarray | list[float], cum_b: np.ndarray | list[float]) -> int | None:
    """First period (1-based) from which cumulative cost A stays at or below B; None if never."""
    diff = np.asarray(cum_a, dtype=float) - np.asarray(cum_b, dtype=float)
    if diff.size == 0 or diff[-1] > 1e-9:
        return None
    above = np.nonzero(diff > 1e-9)[0]
    return 1 if above.size == 0 else int(above[-1]) + 2


def capital_recovery_factor(rate_per_year: float, years: float) -> float:
    """Annual payment per dollar of capital repaid over ``years`` at ``rate_per_year`` (1/years at 0 %)."""
    if rate_per_year == 0:
        return 1.0 / years
    return rate_per_year / (1.0 - (1.0 + rate_per_year) ** -years)


def book_value_usd(capex_usd: float, residual_fraction: float, years: float, months_owned: float) -> float:
    """Straight-line book value after ``months_owned``, floored at the residual value."""
    residual = capex_usd * residual_fraction
    used = min(max(months_owned, 0.0) / (12.0 * years), 1.0)
    return capex_usd - (capex_usd - residual) * used


# ---------------------------------------------------------------------------------------------- on-prem
def server_tco(server: ServerConfig, a: OnPremAssumptions) -> ServerTCO:
    """Cost drivers of one server under the assumptions."""
    gpu_capex = server.gpus_per_server * server.gpu_price_usd * a.gpu_price_multiplier
    host = (
        server.server_price_usd
        if server.server_price_usd is not None
        else a.host_capex_fraction_of_gpu_capex * gpu_capex
    )
    base = gpu_capex + host
    peak_kw = server.gpus_per_server * server.gpu_tdp_w * (1.0 + a.host_power_fraction_of_gpu_tdp) / 1000.0
    return ServerTCO(
        gpus=server.gpus_per_server,
        capex_usd=base * (1.0 + a.networking_fraction_of_capex + a.storage_fraction_of_capex),
        peak_kw=peak_kw,
        idle_kw=peak_kw * a.idle_power_fraction_of_peak,
        pue=a.pue,
        electricity_usd_per_kwh=a.electricity_usd_per_kwh,
        rack_usd_per_month=peak_kw * a.rack_space_usd_per_kw_month,
        support_usd_per_month=a.support_fraction_per_year * base / 12.0,
        staff_usd_per_month=a.loaded_salary_usd_per_year / a.servers_per_fte / 12.0,
        hidden_gross_up=a.hidden_gross_up,
        amortisation_years=a.amortisation_years,
        residual_value_fraction=a.residual_value_fraction,
        utilisation_fraction=a.utilisation_fraction,
        discount_rate_per_year=a.discount_rate_per_year,
        price_source=server.price_source,
        price_date=server.price_date,
    )


def power_kw(tco: ServerTCO, utilisation: float | None = None) -> float:
    """Average IT power of one server: idle draw plus the busy share of the rest."""
    u = tco.utilisation_fraction if utilisation is None else utilisation
    return tco.idle_kw + u * (tco.peak_kw - tco.idle_kw)


def energy_kwh_per_month(tco: ServerTCO, utilisation: float | None = None) -> float:
    """Facility energy of one server per month (IT power x PUE)."""
    return power_kw(tco, utilisation) * tco.pue * HOURS_PER_MONTH


def energy_usd_per_month(tco: ServerTCO, utilisation: float | None = None) -> float:
    return energy_kwh_per_month(tco, utilisation) * tco.electricity_usd_per_kwh


def infrastructure_usd_per_month(tco: ServerTCO, utilisation: float | None = None) -> float:
    """Energy, rack space and support of one server per month."""
    return energy_usd_per_month(tco, utilisation) + tco.rack_usd_per_month + tco.support_usd_per_month


def amortised_capex_usd_per_month(tco: ServerTCO) -> float:
    return tco.capex_usd / (12.0 * tco.amortisation_years)


def owned_usd_per_gpu_month(tco: ServerTCO) -> float:
    """Stand-alone monthly cost of one owned GPU: straight-line capex plus opex, hidden costs included
    (used to rank options and to attribute shared servers to workloads)."""
    opex = infrastructure_usd_per_month(tco) + tco.staff_usd_per_month
    return (amortised_capex_usd_per_month(tco) + opex) * tco.hidden_gross_up / tco.gpus


def owned_flows(
    tco: ServerTCO,
    units: float,
    months: int,
    *,
    start_month: int = 0,
    utilisation: float | None = None,
    sunk: bool = False,
    carbon: OnPremCarbon | None = None,
) -> Flows:
    """``units`` servers in service from ``start_month`` to the horizon end.

    ``sunk``: already owned (no capex, no residual credit, no amortised capex in the hidden-cost base,
    no embodied emissions).
    """
    out = Flows.zeros(months)
    if start_month >= months or units == 0:
        return out
    g = tco.hidden_gross_up
    infra = infrastructure_usd_per_month(tco, utilisation)
    age = np.arange(months) - start_month  # months since the server entered service
    live = age >= 0
    amortising = live & (age < 12.0 * tco.amortisation_years) & (not sunk)
    out.running_usd[live, INFRA] = infra
    out.running_usd[live, STAFF] = tco.staff_usd_per_month
    out.running_usd[live, HIDDEN] = (g - 1.0) * (infra + tco.staff_usd_per_month)
    out.running_usd[amortising, HIDDEN] += (g - 1.0) * amortised_capex_usd_per_month(tco)
    if not sunk:
        out.upfront_usd[start_month] = tco.capex_usd
        out.residual_usd = book_value_usd(
            tco.capex_usd, tco.residual_value_fraction, tco.amortisation_years, months - start_month
        )
    if carbon is not None:
        out.carbon_kg[live, OPERATIONAL] = energy_kwh_per_month(tco, utilisation) * carbon.grid_kg_per_kwh
        if not sunk:
            out.carbon_kg[amortising, EMBODIED] = carbon.embodied_kg / (12.0 * tco.amortisation_years)
    return out.scaled(units)


def onprem_gpu_hour_cost_usd(tco: ServerTCO, *, utilisation: float | None = None) -> float:
    """Effective cost of one busy GPU-hour at ``utilisation``: capex financed by capital recovery (net of
    the residual value's present value) plus opex with energy at that utilisation, hidden costs included."""
    u = tco.utilisation_fraction if utilisation is None else utilisation
    if u <= 0:
        raise ValueError("utilisation must be > 0 for a cost per busy GPU-hour")
    return _owned_usd_per_gpu_month(tco, u) / (HOURS_PER_MONTH * u)


def _owned_usd_per_gpu_month(tco: ServerTCO, utilisation: float) -> float:
    """Monthly cost of owning one GPU (capital recovery + opex at ``utilisation``, hidden costs included)."""
    years, rate = tco.amortisation_years, tco.discount_rate_per_year
    residual_pv = tco.capex_usd * tco.residual_value_fraction / (1.0 + rate) ** years
    capex_per_month = (tco.capex_usd - residual_pv) * capital_recovery_factor(rate, years) / 12.0
    opex = infrastructure_usd_per_month(tco, utilisation) + tco.staff_usd_per_month
    return (capex_per_month + opex) * tco.hidden_gross_up / tco.gpus


def break_even_utilisation(tco: ServerTCO, cloud: CloudPrice, a: CloudAssumptions) -> float | None:
    """Busy share of owned GPUs above which owning costs less than renting the same work autoscaled.

    Per GPU and month, owning costs A + u B (A: capital recovery, space, support, staff, idle energy;
    B: the energy busy hours add); renting autoscaled costs p (u + f (1 - u)) with p the all-in price per
    GPU-month and f the warm floor. Equal at u = (A - p f) / (p (1 - f) - B). None if not within (0, 1].
    """
    a_fixed = _owned_usd_per_gpu_month(tco, 0.0)
    b_busy = _owned_usd_per_gpu_month(tco, 1.0) - a_fixed
    p = cloud_gpu_hour_cost_usd(cloud, a) * HOURS_PER_MONTH
    f = a.autoscale_floor_fraction
    margin = p * (1.0 - f) - b_busy
    if margin <= 0:
        return None
    u = (a_fixed - p * f) / margin
    return u if 0.0 < u <= 1.0 else None


# ---------------------------------------------------------------------------------------------- cloud
def cloud_price(
    inst: CloudInstance, model: PricingModel, a: CloudAssumptions, *, max_age_days: int | None = None
) -> CloudPrice | None:
    """Instance price under ``model``: the catalog's cited figure, or a derived reserved price, or None.
    The source names the price date and flags a price older than ``max_age_days`` (default 180)."""
    if model not in PRICE_MODELS or not inst.gpu_count or not inst.gpu_name:
        return None
    price = inst.price_usd_per_hour(model)
    derived = False
    dated = model if price is not None else "on_demand"
    age = inst.price_age(dated, max_age_days=max_age_days)
    source = (
        f"catalog: {inst.provider} {inst.instance} {inst.region} ({age.label()}; {inst.price_source(dated)})"
    )
    if price is None and model in RESERVED_TERM_QUARTERS and a.derive_reserved_from_on_demand:
        on_demand = inst.price_usd_per_hour("on_demand")
        if on_demand is None:
            return None
        discount = getattr(a, f"{model}_discount_fraction")
        price = on_demand * (1.0 - discount)
        derived = True
        source = (
            f"derived: on-demand x (1 - {discount:g}) [assumption cloud.{model}_discount_fraction]; " + source
        )
    if price is None:
        return None
    price *= a.price_multiplier
    return CloudPrice(
        provider=inst.provider,
        instance=inst.instance,
        region=inst.region,
        accelerator=inst.gpu_name,
        gpu_count=inst.gpu_count,
        pricing_model=model,
        usd_per_hour=price,
        usd_per_gpu_hour=price / inst.gpu_count,
        derived=derived,
        source=source,
        price_date=age.price_date.isoformat(),
        price_label=age.label(),
        price_short_label=age.short_label(),
        price_stale=age.stale,
    )


def spot_overhead_factor(price: CloudPrice, a: CloudAssumptions) -> float:
    """Extra GPU-hours paid per useful hour: interruptions (checkpoint/restart) on spot, none otherwise."""
    return 1.0 + (a.spot_interruption_overhead_fraction if price.pricing_model == "spot" else 0.0)


def cloud_gpu_hour_cost_usd(price: CloudPrice, a: CloudAssumptions) -> float:
    """All-in cost of one billed GPU-hour: price, spot overhead and monitoring/retraining share."""
    return (
        price.usd_per_gpu_hour * spot_overhead_factor(price, a) * (1.0 + a.monitoring_retraining_share_of_ops)
    )


def billed_gpu_hours(
    mode: BillingMode, fleet_gpu_hours: np.ndarray | float, busy_gpu_hours: np.ndarray | float, floor: float
) -> np.ndarray:
    """GPU-hours billed for a rented fleet: every fleet hour (always_on), or busy hours plus ``floor`` x the
    idle fleet-hours (autoscaled)."""
    fleet, busy = np.asarray(fleet_gpu_hours, dtype=float), np.asarray(busy_gpu_hours, dtype=float)
    if mode == "always_on":
        return fleet * 1.0
    if mode == "autoscaled":
        return busy + floor * np.maximum(fleet - busy, 0.0)
    raise ValueError(f"billing mode {mode!r}; allowed: {', '.join(BILLING_MODES)}")


def rented_usd(price: CloudPrice, a: CloudAssumptions, billed_gpu_hours: float) -> float:
    """Total bill (price, spot overhead, monitoring/retraining share) for ``billed_gpu_hours``."""
    return billed_gpu_hours * cloud_gpu_hour_cost_usd(price, a)


def rented_flows(
    price: CloudPrice,
    a: CloudAssumptions,
    billed: np.ndarray,
    *,
    busy: np.ndarray | None = None,
    carbon: CloudCarbon | None = None,
) -> Flows:
    """Pay-per-use cloud: ``billed`` GPU-hours per month (``busy`` of them working, for emissions)."""
    billed = np.asarray(billed, dtype=float)
    out = Flows.zeros(billed.size)
    out.running_usd[:, INFRA] = billed * price.usd_per_gpu_hour * spot_overhead_factor(price, a)
    out.running_usd[:, HIDDEN] = out.running_usd[:, INFRA] * a.monitoring_retraining_share_of_ops
    if carbon is not None:
        out.carbon_kg[:] = carbon.kg(
            billed * spot_overhead_factor(price, a), billed if busy is None else busy
        )
    return out


def reserved_flows(
    price: CloudPrice,
    a: CloudAssumptions,
    units: float,
    months: int,
    *,
    start_month: int = 0,
    term_months: int | None = None,
    utilisation: float = 1.0,
    carbon: CloudCarbon | None = None,
) -> Flows:
    """``units`` instances committed from ``start_month`` for ``term_months`` (billed every hour of it)."""
    term = 3 * RESERVED_TERM_QUARTERS.get(price.pricing_model, 0) if term_months is None else term_months
    out = Flows.zeros(months)
    live = np.zeros(months, dtype=bool)
    live[start_month : start_month + term] = True
    out.running_usd[live, INFRA] = price.usd_per_hour * HOURS_PER_MONTH
    out.running_usd[live, HIDDEN] = out.running_usd[live, INFRA] * a.monitoring_retraining_share_of_ops
    if carbon is not None:
        gpu_hours = price.gpu_count * HOURS_PER_MONTH * live
        out.carbon_kg[:] = carbon.kg(gpu_hours, gpu_hours * utilisation)
    return out.scaled(units)


def cloud_data_usd_per_month(storage_gb: float, egress_gb_per_month: float, a: CloudAssumptions) -> float:
    """Storage plus egress per month for a workload kept in the cloud."""
    return storage_gb * a.storage_usd_per_gb_month + egress_gb_per_month * a.egress_usd_per_gb


def data_flows(storage_gb: float, egress_gb_per_month: float, a: CloudAssumptions, months: int) -> Flows:
    out = Flows.zeros(months)
    out.running_usd[:, INFRA] = cloud_data_usd_per_month(storage_gb, egress_gb_per_month, a)
    return out


# ---------------------------------------------------------------------------------------------- carbon
@dataclass(frozen=True)
class OnPremCarbon:
    """What an owned server emits: grid intensity of the site and embodied emissions of one server."""

    grid_kg_per_kwh: float
    embodied_kg: float
    grid_source: str
    embodied_source: str


@dataclass(frozen=True)
class CloudCarbon:
    """What a rented GPU-hour emits in one region: busy and idle facility energy, embodied share."""

    busy_kwh_per_gpu_hour: float
    idle_kwh_per_gpu_hour: float
    grid_kg_per_kwh: float
    embodied_kg_per_gpu_hour: float
    grid_source: str
    embodied_source: str

    def kg(self, billed_gpu_hours: np.ndarray, busy_gpu_hours: np.ndarray) -> np.ndarray:
        """(n, 2) operational and embodied kg for billed GPU-hours of which ``busy`` work."""
        billed, busy = np.asarray(billed_gpu_hours, float), np.asarray(busy_gpu_hours, float)
        busy = np.minimum(busy, billed)
        kwh = busy * self.busy_kwh_per_gpu_hour + (billed - busy) * self.idle_kwh_per_gpu_hour
        return np.stack([kwh * self.grid_kg_per_kwh, billed * self.embodied_kg_per_gpu_hour], axis=-1)


def embodied_kg_per_gpu(row: EmbodiedEmission | None, c: CarbonAssumptions) -> tuple[float, str]:
    """Cited per-GPU embodied emissions, or the default assumption when the catalog has none."""
    if row is not None:
        cite = f"catalog embodied_emissions.csv: {row.accelerator} {row.kg_co2e_per_gpu:g} kg"
        return row.kg_co2e_per_gpu, f"{cite} ({row.source}, {row.source_date})"
    return c.embodied_kg_per_gpu_default, "assumption carbon.embodied_kg_per_gpu_default (no cited figure)"


def onprem_carbon(
    tco: ServerTCO, c: CarbonAssumptions, embodied: EmbodiedEmission | None, grid_source: str = ""
) -> OnPremCarbon:
    per_gpu, source = embodied_kg_per_gpu(embodied, c)
    return OnPremCarbon(
        grid_kg_per_kwh=c.onprem_grid_gco2e_per_kwh / 1000.0,
        embodied_kg=tco.gpus * per_gpu + c.embodied_kg_per_server_host,
        grid_source=grid_source
        or f"assumption carbon.onprem_grid_gco2e_per_kwh = {c.onprem_grid_gco2e_per_kwh:g} g/kWh",
        embodied_source=f"{source} + host (assumption carbon.embodied_kg_per_server_host)",
    )


def cloud_carbon(
    price: CloudPrice,
    gpu_tdp_w: float,
    onprem: OnPremAssumptions,
    c: CarbonAssumptions,
    grid: GridIntensity | None,
    embodied: EmbodiedEmission | None,
) -> CloudCarbon:
    """Emissions of one rented GPU-hour: the same server power model as on-prem at the cloud PUE, the
    region's grid, and embodied emissions (GPU + host share) spread over the provider's hardware life."""
    peak_kw = gpu_tdp_w * (1.0 + onprem.host_power_fraction_of_gpu_tdp) / 1000.0
    per_gpu, source = embodied_kg_per_gpu(embodied, c)
    host_share = c.embodied_kg_per_server_host / max(price.gpu_count, 1)
    if grid is not None:
        g, grid_source = (
            grid.grid_gco2e_per_kwh,
            (
                f"catalog grid_intensity.csv: {grid.provider} {grid.region} "
                f"{grid.grid_gco2e_per_kwh:g} g/kWh "
                f"({grid.basis_short}; {grid.source}, {grid.source_date})"
            ),
        )
    else:
        g, grid_source = (
            c.onprem_grid_gco2e_per_kwh,
            (f"no grid row for {price.provider} {price.region}: assumption carbon.onprem_grid_gco2e_per_kwh"),
        )
    return CloudCarbon(
        busy_kwh_per_gpu_hour=peak_kw * c.cloud_pue,
        idle_kwh_per_gpu_hour=peak_kw * onprem.idle_power_fraction_of_peak * c.cloud_pue,
        grid_kg_per_kwh=g / 1000.0,
        embodied_kg_per_gpu_hour=(per_gpu + host_share) / (c.cloud_hardware_life_years * HOURS_PER_YEAR),
        grid_source=grid_source,
        embodied_source=f"{source} + host share; over assumption carbon.cloud_hardware_life_years",
    )


def carbon_cost_usd(kg: float, usd_per_tonne: float) -> float:
    """Internal carbon price applied to emissions (a shadow cost: not part of the cash flows)."""
    return kg * usd_per_tonne / 1000.0


# ---------------------------------------------------------------------------------------------- units
class PerUnit(BaseModel):
    """A per-busy-GPU-hour figure (USD or kg) turned into per unit of work; None where unknown."""

    per_gpu_hour: float
    per_1k_inferences: float | None = None
    per_1m_tokens: float | None = None
    per_training_run: float | None = None


def per_unit_of_work(
    per_gpu_hour: float,
    *,
    inferences_per_s_per_gpu: float | None = None,
    tokens_per_s_per_gpu: float | None = None,
    gpu_hours_per_run: float | None = None,
) -> PerUnit:
    """Turn a figure per busy GPU-hour into per 1k inferences, per 1M tokens and per training run."""

    def per(units: float | None, scale: float) -> float | None:
        return None if not units else per_gpu_hour / (units * 3600.0) * scale

    return PerUnit(
        per_gpu_hour=per_gpu_hour,
        per_1k_inferences=per(inferences_per_s_per_gpu, 1e3),
        per_1m_tokens=per(tokens_per_s_per_gpu, 1e6),
        per_training_run=None if gpu_hours_per_run is None else per_gpu_hour * gpu_hours_per_run,
    )
