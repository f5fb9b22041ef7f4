"""Cost and carbon arithmetic against hand-computed cases (each expected value is written out)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from capplan.catalog import CloudInstance, GridIntensity
from capplan.costs import (
    HOURS_PER_MONTH,
    HOURS_PER_QUARTER,
    CarbonAssumptions,
    CloudAssumptions,
    OnPremAssumptions,
    ServerConfig,
    break_even_period,
    break_even_utilisation,
    cloud_gpu_hour_cost_usd,
    cloud_price,
    compare_onprem_cloud,
    engine,
    npv_usd,
    onprem_gpu_hour_cost_usd,
    per_unit_of_work,
    server_tco,
    usd,
)
from capplan.costs.engine import Flows, OnPremCarbon, capital_recovery_factor

A = OnPremAssumptions(
    networking_fraction_of_capex=0.10,
    storage_fraction_of_capex=0.05,
    amortisation_years=4,
    discount_rate_per_year=0.0,
    residual_value_fraction=0.2,
    utilisation_fraction=0.5,
    host_power_fraction_of_gpu_tdp=1.0,
    idle_power_fraction_of_peak=0.25,
    pue=1.5,
    electricity_usd_per_kwh=0.10,
    rack_space_usd_per_kw_month=200,
    support_fraction_per_year=0.12,
    servers_per_fte=20,
    loaded_salary_usd_per_year=120_000,
    hidden_cost_share_of_total=0.5,
)
SERVER = ServerConfig(
    accelerator="X",
    gpus_per_server=8,
    gpu_price_usd=10_000,
    server_price_usd=20_000,
    gpu_tdp_w=500,
    price_source="t",
)
# One server, by hand (HOURS_PER_MONTH = 365.25 x 24 / 12 = 730.5):
CAPEX = (8 * 10_000 + 20_000) * (1 + 0.10 + 0.05)  # 115,000
PEAK_KW = 8 * 500 * (1 + 1.0) / 1000  # 8 kW at full load
IDLE_KW = 0.25 * PEAK_KW  # 2 kW with every GPU idle
ENERGY_AT_HALF = (2 + 0.5 * (8 - 2)) * 1.5 * 730.5 * 0.10  # 5 kW x PUE x hours x tariff = $1,095.75/month
RACK = 8 * 200  # $1,600 per month
SUPPORT = 0.12 * 100_000 / 12  # $1,000 per month
STAFF = 120_000 / 20 / 12  # $500 per month
AMORTISED = 115_000 / 48  # $2,395.83 per month over 4 years
RUNNING = ENERGY_AT_HALF + RACK + SUPPORT + STAFF  # $4,195.75 visible
MONTH = RUNNING + (2 - 1) * (AMORTISED + RUNNING)  # hidden = half the total: gross-up 2 -> $10,787.33


def test_server_tco_matches_hand_computation() -> None:
    t = server_tco(SERVER, A)
    assert t.capex_usd == pytest.approx(CAPEX)
    assert (t.peak_kw, t.idle_kw) == pytest.approx((PEAK_KW, IDLE_KW))
    assert engine.energy_usd_per_month(t) == pytest.approx(ENERGY_AT_HALF)  # $1,095.75
    assert (t.rack_usd_per_month, t.support_usd_per_month, t.staff_usd_per_month) == pytest.approx(
        (RACK, SUPPORT, STAFF)
    )
    assert t.hidden_gross_up == pytest.approx(1 / (1 - 0.5))


def test_idle_power_is_paid_and_utilisation_rescales_energy() -> None:
    t = server_tco(SERVER, A)
    # idle: 2 kW x 1.5 x 730.5 h x $0.10 = $219.15; busy all month: 8 kW x ... = $876.60
    assert engine.energy_usd_per_month(t, 0.0) == pytest.approx(2 * 1.5 * 730.5 * 0.10)
    assert engine.energy_usd_per_month(t, 1.0) == pytest.approx(8 * 1.5 * 730.5 * 0.10)
    # the $/busy GPU-hour at 100 % differs from 50 % by fixed costs spread over twice the hours AND by the
    # energy busy hours add: (fixed + energy(u)) x gross-up / (8 GPUs x 730.5 h x u)
    crf_month = (CAPEX - CAPEX * 0.2) / 4 / 12  # at 0 % capital recovery is straight line: $1,916.67
    fixed = crf_month + RACK + SUPPORT + STAFF
    for u in (0.5, 1.0):
        energy = (2 + u * 6) * 1.5 * 730.5 * 0.10
        expected = (fixed + energy) * 2.0 / (8 * 730.5 * u)
        assert onprem_gpu_hour_cost_usd(t, utilisation=u) == pytest.approx(expected)


def test_owned_flows_credit_the_residual_book_value() -> None:
    t = server_tco(SERVER, A)
    f = engine.owned_flows(t, 1, 36)
    # straight line from 115,000 to the 20 % residual (23,000) over 48 months: after 36 months
    # 115,000 - (115,000 - 23,000) x 36 / 48 = 46,000 is still on the books and comes back in month 36
    assert f.residual_usd == pytest.approx(46_000)
    assert f.monthly_usd[0] == pytest.approx(CAPEX + MONTH)  # capex paid at the start of month 1
    assert f.monthly_usd[17] == pytest.approx(MONTH)
    assert f.monthly_usd[-1] == pytest.approx(MONTH - 46_000)
    assert f.net_usd == pytest.approx(115_000 + 36 * MONTH - 46_000)
    # past the amortisation period the book value stays at the residual and hidden costs stop accruing
    # on capex: month 49 carries RUNNING x 2 only
    long = engine.owned_flows(t, 1, 60)
    assert long.residual_usd == pytest.approx(23_000)
    assert long.running_usd[48].sum() == pytest.approx(2 * RUNNING)


def test_npv_discounts_capex_from_month_start_and_running_costs_from_month_end() -> None:
    f = Flows(np.array([100.0] + [0.0] * 11), np.zeros((12, 3)), residual_usd=50.0)
    f.running_usd[:, 0] = 10.0
    rate = 1.01**12 - 1  # exactly 1 % a month
    expected = 100.0 + sum(10.0 / 1.01**m for m in range(1, 13)) - 50.0 / 1.01**12  # capex not discounted
    assert npv_usd(f, rate) == pytest.approx(expected)
    assert capital_recovery_factor(0.0, 4) == pytest.approx(0.25)
    r, n = 0.08, 5
    assert capital_recovery_factor(r, n) == pytest.approx(r * (1 + r) ** n / ((1 + r) ** n - 1))
    assert break_even_period([10, 12, 14], [5, 10, 15]) == 3
    assert break_even_period([1, 2], [5, 6]) == 1
    assert break_even_period([10, 12], [5, 10]) is None
    assert break_even_period([1, 20], [5, 10]) is None  # crossing back above counts as no break-even


def _instance(**prices: float) -> CloudInstance:
    return CloudInstance(
        provider="P", instance="i", region="r", gpu_name="X", gpu_count=4, price_date="2026-01-01",
        source="s", **prices,
    )


def test_billing_modes_by_hand() -> None:
    a = CloudAssumptions(monitoring_retraining_share_of_ops=0.0, autoscale_floor_fraction=0.1)
    price = cloud_price(_instance(on_demand_usd_per_hour=40.0), "on_demand", a)  # $10 per GPU-hour
    assert price is not None and price.price_date == "2026-01-01"
    fleet, busy = 8 * 730.5, 8 * 730.5 * 0.5  # 8 GPUs for a month, busy half the time
    always = engine.billed_gpu_hours("always_on", fleet, busy, a.autoscale_floor_fraction)
    auto = engine.billed_gpu_hours("autoscaled", fleet, busy, a.autoscale_floor_fraction)
    assert float(always) == pytest.approx(5844.0)  # every fleet hour: 8 x 730.5
    assert float(auto) == pytest.approx(2922.0 + 0.1 * 2922.0)  # busy hours + 10 % of the idle fleet-hours
    f = engine.rented_flows(price, a, np.array([float(always), float(auto)]))
    assert f.monthly_usd.tolist() == pytest.approx([58_440.0, 32_142.0])
    with pytest.raises(ValueError, match="billing mode"):
        engine.billed_gpu_hours("hourly", fleet, busy, 0.1)  # type: ignore[arg-type]


def test_compare_series_hand_computed_with_residual_and_billing() -> None:
    t = server_tco(SERVER, A)
    cloud_a = CloudAssumptions(monitoring_retraining_share_of_ops=0.0, autoscale_floor_fraction=0.1)
    price = cloud_price(_instance(on_demand_usd_per_hour=40.0), "on_demand", cloud_a)
    assert price is not None
    cmp = compare_onprem_cloud(
        t, price, cloud_a, gpus=8, months=36, billing="autoscaled", label_onprem="X"
    )
    assert cmp.onprem.residual_credit_usd == pytest.approx(46_000)
    assert cmp.onprem.cumulative_usd[-1] == pytest.approx(115_000 + 36 * MONTH - 46_000)  # $437,343.75
    cloud_month = (2922.0 + 292.2) * 10.0  # autoscaled: $32,142
    assert cmp.cloud.monthly_usd[3] == pytest.approx(cloud_month)
    # break-even: first month m with 115,000 + m x MONTH <= m x cloud_month
    assert cmp.break_even_month == math.ceil(115_000 / (cloud_month - MONTH))  # 6
    # at 0 % the NPV of owning is the difference of the totals, residual credit included
    assert cmp.npv_savings_usd == pytest.approx(36 * cloud_month - (115_000 + 36 * MONTH - 46_000))
    always = compare_onprem_cloud(t, price, cloud_a, gpus=8, months=36, billing="always_on", label_onprem="X")
    assert always.cloud.monthly_usd[0] == pytest.approx(8 * 730.5 * 10.0)  # 24 h a day: $58,440
    assert "24 h" in always.billing_note and always.billing_mode == "always_on"


def test_break_even_utilisation_equalises_owning_and_autoscaled_renting() -> None:
    t = server_tco(SERVER, A)
    a = CloudAssumptions(monitoring_retraining_share_of_ops=0.0, autoscale_floor_fraction=0.1)
    price = cloud_price(_instance(on_demand_usd_per_hour=12.0), "on_demand", a)  # $3 per GPU-hour
    assert price is not None
    u = break_even_utilisation(t, price, a)
    assert u is not None and 0 < u < 1
    # at u, owning one GPU for a month costs what renting it autoscaled costs: $3 x 730.5 x (u + 0.1 (1-u))
    owned = onprem_gpu_hour_cost_usd(t, utilisation=u) * 730.5 * u
    assert owned == pytest.approx(3.0 * 730.5 * (u + 0.1 * (1 - u)), rel=1e-9)
    cheap = cloud_price(_instance(on_demand_usd_per_hour=0.04), "on_demand", a)
    assert cheap is not None and break_even_utilisation(t, cheap, a) is None  # cloud beats power alone


def test_carbon_by_hand() -> None:
    t = server_tco(SERVER, A)
    c = CarbonAssumptions(
        onprem_grid_gco2e_per_kwh=400, embodied_kg_per_server_host=1000, cloud_pue=1.1,
        cloud_hardware_life_years=6,
    )
    footprint = engine.onprem_carbon(t, c, None)  # no cited figure: 150 kg per GPU default
    f = engine.owned_flows(t, 1, 3, carbon=footprint)
    # operational: 5 kW x 1.5 x 730.5 h = 5,478.75 kWh x 0.4 kg = 2,191.5 kg a month
    assert f.carbon_kg[0, 0] == pytest.approx(5 * 1.5 * 730.5 * 0.4)
    # embodied: (8 x 150 + 1,000) kg amortised over 48 months = 45.83 kg a month
    assert f.carbon_kg[0, 1] == pytest.approx((8 * 150 + 1000) / 48)
    grid = GridIntensity(
        provider="P", region="r", grid_gco2e_per_kwh=300, basis="test", year=2024, source="s",
        source_date="2025-01-01",
    )
    cloud_a = CloudAssumptions()
    price = cloud_price(_instance(on_demand_usd_per_hour=40.0), "on_demand", cloud_a)
    assert price is not None
    fp = engine.cloud_carbon(price, 500, A, c, grid, None)
    kg = fp.kg(np.array([100.0]), np.array([60.0]))[0]
    # a rented GPU: 0.5 kW x (1 + 1.0 host) = 1 kW busy, 0.25 kW idle, x PUE 1.1; 60 busy + 40 idle hours
    assert kg[0] == pytest.approx((60 * 1.0 + 40 * 0.25) * 1.1 * 0.3)
    # embodied: (150 kg GPU + 1,000 kg host / 4 GPUs) over 6 x 8,766 h, per billed hour
    assert kg[1] == pytest.approx(100 * (150 + 1000 / 4) / (6 * 8766))


def test_reserved_price_is_derived_only_when_allowed_and_says_so() -> None:
    a = CloudAssumptions(reserved_1y_discount_fraction=0.3)
    p = cloud_price(_instance(on_demand_usd_per_hour=20.0), "reserved_1y", a)
    assert p is not None and p.derived
    assert p.usd_per_hour == pytest.approx(20.0 * (1 - 0.3))
    assert p.usd_per_gpu_hour == pytest.approx(14.0 / 4)
    assert "derived" in p.source and "reserved_1y_discount_fraction" in p.source
    no_derive = CloudAssumptions(derive_reserved_from_on_demand=False)
    assert cloud_price(_instance(on_demand_usd_per_hour=20.0), "reserved_1y", no_derive) is None
    both = _instance(on_demand_usd_per_hour=20.0, reserved_1y_usd_per_hour=15.0)
    cited = cloud_price(both, "reserved_1y", a)
    assert cited is not None and not cited.derived and cited.usd_per_hour == 15.0
    assert cloud_price(_instance(on_demand_usd_per_hour=20.0), "spot", a) is None  # never invented


def test_all_in_cloud_gpu_hour() -> None:
    a = CloudAssumptions(spot_interruption_overhead_fraction=0.1, monitoring_retraining_share_of_ops=0.2)
    spot = cloud_price(_instance(spot_usd_per_hour=8.0), "spot", a)
    assert spot is not None
    assert cloud_gpu_hour_cost_usd(spot, a) == pytest.approx(8.0 / 4 * 1.1 * 1.2)


def test_per_unit_of_work() -> None:
    u = per_unit_of_work(3.6, inferences_per_s_per_gpu=100, tokens_per_s_per_gpu=1000, gpu_hours_per_run=50)
    assert u.per_1k_inferences == pytest.approx(3.6 / (100 * 3600) * 1000)  # $0.01
    assert u.per_1m_tokens == pytest.approx(3.6 / (1000 * 3600) * 1e6)  # $1
    assert u.per_training_run == pytest.approx(180.0)
    assert per_unit_of_work(1.0).per_1k_inferences is None


def test_one_usd_formatter_puts_the_sign_first() -> None:
    assert usd(-1234.4) == "-$1,234"
    assert usd(1234.5678, 2) == "$1,234.57"
    assert usd(-0.2) == "$0"  # rounds to zero: no "-$0"


def test_assumption_table_has_units_sources_and_marks_plan_values() -> None:
    rows = OnPremAssumptions(pue=1.3).table("onprem")
    assert all(r["unit"] and r["source"] and r["description"] for r in rows)
    pue = next(r for r in rows if r["name"] == "pue")
    assert pue["value"] == 1.3 and pue["source"].startswith("set in the plan file")
    hidden = next(r for r in rows if r["name"] == "hidden_cost_share_of_total")
    assert "industry surveys" in hidden["source"]
    assert math.isclose(HOURS_PER_QUARTER, 2191.5) and math.isclose(HOURS_PER_MONTH, 730.5)


@pytest.mark.parametrize(
    ("field", "value"), [("pue", 0.9), ("electricity_usd_per_kwh", -0.1), ("pue", float("nan"))]
)
def test_assumptions_reject_meaningless_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        OnPremAssumptions(**{field: value})


def test_quarterly_and_monthly_flows_round_trip() -> None:
    t = server_tco(SERVER, A)
    carbon = OnPremCarbon(grid_kg_per_kwh=0.4, embodied_kg=2200, grid_source="g", embodied_source="e")
    f = engine.owned_flows(t, 2, 12, start_month=3, carbon=carbon)
    cash, upfront, kg = f.quarterly()
    back = Flows.from_quarters(cash, upfront, f.residual_usd, kg)
    assert back.monthly_usd == pytest.approx(f.monthly_usd)
    assert back.carbon_kg == pytest.approx(f.carbon_kg)
