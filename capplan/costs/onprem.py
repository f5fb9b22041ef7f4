"""On-premises TCO: capex, power, rack space, support, staff and hidden costs per server."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from capplan.costs.assumptions import PLANNING_ASSUMPTION, AssumptionSet, assumption


class OnPremAssumptions(AssumptionSet):
    """Editable on-premises assumptions (per server unless the name says otherwise)."""

    host_capex_fraction_of_gpu_capex: float = assumption(
        0.35,
        unit="fraction",
        description="chassis, CPUs, RAM, NICs per server as a share of its GPU price (when no server price "
                    "is given)",
        source=PLANNING_ASSUMPTION,
    )
    networking_fraction_of_capex: float = assumption(
        0.10,
        unit="fraction",
        le=2.0,
        description="fabric/switch share added to server capex",
        source=PLANNING_ASSUMPTION,
    )
    storage_fraction_of_capex: float = assumption(
        0.05,
        unit="fraction",
        le=2.0,
        description="shared storage share added to server capex",
        source=PLANNING_ASSUMPTION,
    )
    amortisation_years: float = assumption(
        5.0,
        unit="years",
        ge=0.5,
        le=15,
        description="straight-line depreciation period",
        source="hyperscaler 10-K server useful lives (Amazon 5 y from 2025; Microsoft, Alphabet 6 y)",
    )
    discount_rate_per_year: float = assumption(
        0.08,
        unit="fraction/year",
        le=1.0,
        description="cost of capital for NPV and financing",
        source=PLANNING_ASSUMPTION,
    )
    residual_value_fraction: float = assumption(
        0.10,
        unit="fraction",
        le=1.0,
        description="resale value at the end of amortisation as a share of capex",
        source=PLANNING_ASSUMPTION,
    )
    utilisation_fraction: float = assumption(
        0.60,
        unit="fraction",
        le=1.0,
        description="average busy share of owned GPUs (drives power draw and effective $/GPU-hour)",
        source=PLANNING_ASSUMPTION,
    )
    host_power_fraction_of_gpu_tdp: float = assumption(
        0.80,
        unit="fraction",
        le=5.0,
        description="server power beyond the GPUs (CPUs, fans, NICs) as a share of GPU TDP",
        source="NVIDIA DGX H100 datasheet: ~10.2 kW max system power vs 8 x 700 W GPU TDP",
    )
    idle_power_fraction_of_peak: float = assumption(
        0.20,
        unit="fraction",
        le=1.0,
        description="server power with its GPUs idle, as a share of full-load power (power = idle + "
        "utilisation x (peak - idle))",
        source=PLANNING_ASSUMPTION + "; idle GPUs draw roughly 10-15 % of TDP and hosts idle higher: "
        "measure it (capplan records NVML power) and set it",
    )
    pue: float = assumption(
        1.56,
        unit="ratio",
        ge=1.0,
        le=4.0,
        description="power usage effectiveness of the data centre",
        source="Uptime Institute Global Data Center Survey 2024 (average annual PUE 1.56)",
    )
    electricity_usd_per_kwh: float = assumption(
        0.081,
        unit="USD/kWh",
        description="electricity price",
        source="US EIA Electric Power Monthly, average retail price to industrial customers, 2024 (~8.1 "
               "cents/kWh)",
    )
    rack_space_usd_per_kw_month: float = assumption(
        184.0,
        unit="USD/kW-month",
        description="colocation space and power capacity per kW of server peak power",
        source="CBRE North America Data Center Trends H1 2024 (average asking rent, 250-500 kW, primary "
               "markets)",
    )
    support_fraction_per_year: float = assumption(
        0.10,
        unit="fraction/year",
        le=1.0,
        description="hardware support/maintenance contract as a share of server capex per year",
        source=PLANNING_ASSUMPTION,
    )
    servers_per_fte: float = assumption(
        25.0,
        unit="servers/FTE",
        ge=0.1,
        description="servers one operations engineer looks after",
        source=PLANNING_ASSUMPTION,
    )
    loaded_salary_usd_per_year: float = assumption(
        136_000.0,
        unit="USD/year",
        description="loaded cost of one operations FTE",
        source="US BLS OES May 2023 median, network & computer systems administrators ($95,360) x 1.43 "
        "(BLS ECEC: wages ~70 % of private-industry compensation)",
    )
    procurement_lead_time_weeks: float = assumption(
        16.0,
        unit="weeks",
        le=260,
        description="order-to-production time for servers (per-hardware values in the plan override it)",
        source=PLANNING_ASSUMPTION,
    )
    hidden_cost_share_of_total: float = assumption(
        0.40,
        unit="fraction",
        le=0.95,
        description="integration, monitoring and retraining as a share of total on-prem cost (grosses the "
                    "total up)",
        source="industry surveys (hidden costs 40-60 % of total; low end used)",
    )
    gpu_price_multiplier: float = assumption(
        1.0,
        unit="x",
        description="scenario knob scaling every GPU purchase price",
        source="scenario/sensitivity knob",
    )

    @property
    def hidden_gross_up(self) -> float:
        """Factor turning visible cost into total cost when hidden costs are a share of the total."""
        return 1.0 / (1.0 - self.hidden_cost_share_of_total)


class ServerConfig(BaseModel):
    """One purchasable on-prem server type."""

    model_config = ConfigDict(extra="forbid")

    accelerator: str = Field(min_length=1, description="accelerator name as in the catalog")
    gpus_per_server: int = Field(8, ge=1, le=64)
    gpu_price_usd: float = Field(gt=0, allow_inf_nan=False, description="purchase price per GPU")
    server_price_usd: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="host price without GPUs; default: host capex fraction"
    )
    gpu_tdp_w: float = Field(gt=0, allow_inf_nan=False, description="GPU board power")
    price_source: str = Field(
        min_length=1, description="where the prices come from (quote, list price, catalog row)"
    )
    lead_time_weeks: float | None = Field(None, ge=0, le=260, allow_inf_nan=False)
    price_date: str | None = Field(None, description="when the price was quoted or read (YYYY-MM-DD)")


class ServerTCO(BaseModel):
    """One server's cost drivers under the assumptions (built by ``capplan.costs.engine.server_tco``).

    Money per month is derived from these by the engine; nothing here is a formula.
    """

    gpus: int
    capex_usd: float = Field(description="servers + GPUs + networking and storage shares, paid up front")
    peak_kw: float = Field(description="IT power at full load (GPUs at TDP plus host)")
    idle_kw: float = Field(description="IT power with every GPU idle")
    pue: float
    electricity_usd_per_kwh: float
    rack_usd_per_month: float
    support_usd_per_month: float
    staff_usd_per_month: float
    hidden_gross_up: float
    amortisation_years: float
    residual_value_fraction: float
    utilisation_fraction: float = Field(description="busy share of the GPUs (the assumption in force)")
    discount_rate_per_year: float
    price_source: str = ""
    price_date: str | None = None
