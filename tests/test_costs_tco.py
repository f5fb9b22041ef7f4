"""Cost arithmetic against hand-computed cases (each expected value is written out from the formula)."""

from __future__ import annotations

import math

import pytest

from capplan.catalog import CloudInstance
from capplan.costs import (
    HOURS_PER_QUARTER,
    CloudAssumptions,
    OnPremAssumptions,
    ServerConfig,
    break_even_period,
    break_even_utilisation,
    cloud_gpu_hour_cost_usd,
    cloud_price,
    npv_usd,
    onprem_gpu_hour_cost_usd,
    server_tco,
    unit_costs,
)
from capplan.costs.finance import capital_recovery_factor, quarters_to_months

A = OnPremAssumptions(
    networking_fraction_of_capex=0.10,
    storage_fraction_of_capex=0.05,
    amortisation_years=4,
    discount_rate_per_year=0.0,
    residual_value_fraction=0.2,
    utilisation_fraction=0.5,
    host_power_fraction_of_gpu_tdp=1.0,
    pue=1.5,
    electricity_usd_per_kwh=0.10,
    rack_space_usd_per_kw_month=200,
    support_fraction_per_year=0.10,
    servers_per_fte=20,
    loaded_salary_usd_per_year=100_000,
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


def test_server_tco_matches_hand_computation() -> None:
    t = server_tco(SERVER, A)
    base = 8 * 10_000 + 20_000  # GPUs + host = 100,000
    assert t.capex_usd == pytest.approx(base * (1 + 0.10 + 0.05))  # 115,000
    peak_kw = 8 * 500 * (1 + 1.0) / 1000  # 8 kW
    assert t.energy_usd_per_quarter == pytest.approx(peak_kw * 0.5 * 1.5 * (365.25 * 24 / 4) * 0.10)  # 1314.9
    assert t.rack_usd_per_quarter == pytest.approx(peak_kw * 200 * 3)  # 4,800
    assert t.support_usd_per_quarter == pytest.approx(0.10 * base / 4)  # 2,500
    assert t.staff_usd_per_quarter == pytest.approx(100_000 / 20 / 4)  # 1,250
    assert t.hidden_gross_up == pytest.approx(1 / (1 - 0.5))  # hidden = half of the total
    # straight-line: after 8 of 16 quarters half of (capex - residual) is gone
    assert t.book_value_usd(8) == pytest.approx(115_000 - (115_000 - 23_000) * 0.5)
    assert t.book_value_usd(40) == pytest.approx(23_000)  # floored at residual value


def test_onprem_gpu_hour_cost_hand_computed() -> None:
    t = server_tco(SERVER, A)
    capex_per_year = (115_000 - 23_000) / 4  # 0 % rate: capital recovery = straight line of capex - residual
    per_quarter = (capex_per_year / 4 + t.opex_usd_per_quarter) * 2.0  # hidden gross-up 2
    busy_gpu_hours = 8 * (365.25 * 24 / 4) * 0.5
    assert onprem_gpu_hour_cost_usd(t, A) == pytest.approx(per_quarter / busy_gpu_hours)


def test_finance_helpers() -> None:
    assert npv_usd([110.0, 121.0], 0.10, 1) == pytest.approx(200.0)  # 110/1.1 + 121/1.21
    assert capital_recovery_factor(0.0, 4) == pytest.approx(0.25)
    r, n = 0.08, 5
    assert capital_recovery_factor(r, n) == pytest.approx(r * (1 + r) ** n / ((1 + r) ** n - 1))
    assert break_even_period([10, 12, 14], [5, 10, 15]) == 3
    assert break_even_period([1, 2], [5, 6]) == 1
    assert break_even_period([10, 12], [5, 10]) is None
    assert break_even_period([1, 20], [5, 10]) is None  # crossing back above counts as no break-even
    months = quarters_to_months([30.0, 60.0], upfront=[100.0, 0.0])
    assert months.tolist() == [110.0, 10.0, 10.0, 20.0, 20.0, 20.0]


def _instance(**prices: float) -> CloudInstance:
    return CloudInstance(
        provider="P",
        instance="i",
        region="r",
        gpu_name="X",
        gpu_count=4,
        price_date="2026-01-15",
        source="s",
        **prices,
    )


def test_reserved_price_is_derived_only_when_allowed_and_says_so() -> None:
    a = CloudAssumptions(reserved_1y_discount_fraction=0.3)
    p = cloud_price(_instance(on_demand_usd_per_hour=20.0), "reserved_1y", a)
    assert p is not None and p.derived
    assert p.usd_per_hour == pytest.approx(20.0 * (1 - 0.3))
    assert p.usd_per_gpu_hour == pytest.approx(14.0 / 4)
    assert "derived" in p.source and "reserved_1y_discount_fraction" in p.source
    assert (
        cloud_price(
            _instance(on_demand_usd_per_hour=20.0),
            "reserved_1y",
            CloudAssumptions(derive_reserved_from_on_demand=False),
        )
        is None
    )
    cited = cloud_price(
        _instance(on_demand_usd_per_hour=20.0, reserved_1y_usd_per_hour=15.0), "reserved_1y", a
    )
    assert cited is not None and not cited.derived and cited.usd_per_hour == 15.0
    assert cloud_price(_instance(on_demand_usd_per_hour=20.0), "spot", a) is None  # never invented


def test_all_in_cloud_gpu_hour() -> None:
    a = CloudAssumptions(spot_interruption_overhead_fraction=0.1, monitoring_retraining_share_of_ops=0.2)
    spot = cloud_price(_instance(spot_usd_per_hour=8.0), "spot", a)
    assert spot is not None
    assert cloud_gpu_hour_cost_usd(spot, a) == pytest.approx(8.0 / 4 * 1.1 * 1.2)


def test_unit_costs() -> None:
    u = unit_costs(3.6, inferences_per_s_per_gpu=100, tokens_per_s_per_gpu=1000, gpu_hours_per_run=50)
    assert u.usd_per_1k_inferences == pytest.approx(3.6 / (100 * 3600) * 1000)  # $0.01
    assert u.usd_per_1m_tokens == pytest.approx(3.6 / (1000 * 3600) * 1e6)  # $1
    assert u.usd_per_training_run == pytest.approx(180.0)
    assert unit_costs(1.0).usd_per_1k_inferences is None


def test_break_even_utilisation_equalises_cost_per_busy_hour() -> None:
    t = server_tco(SERVER, A)
    cloud = 6.0
    u = break_even_utilisation(t, A, cloud)
    assert u is not None and 0 < u < 1
    at_u = A.model_copy(update={"utilisation_fraction": u})
    assert onprem_gpu_hour_cost_usd(server_tco(SERVER, at_u), at_u) == pytest.approx(cloud, rel=1e-9)
    assert break_even_utilisation(t, A, 0.01) is None  # cloud cheaper than on-prem power alone


def test_assumption_table_has_units_sources_and_marks_plan_values() -> None:
    rows = OnPremAssumptions(pue=1.3).table("onprem")
    assert all(r["unit"] and r["source"] and r["description"] for r in rows)
    pue = next(r for r in rows if r["name"] == "pue")
    assert pue["value"] == 1.3 and pue["source"].startswith("set in the plan file")
    hidden = next(r for r in rows if r["name"] == "hidden_cost_share_of_total")
    assert "industry surveys" in hidden["source"]
    assert math.isclose(HOURS_PER_QUARTER, 2191.5)


@pytest.mark.parametrize(
    ("field", "value"), [("pue", 0.9), ("electricity_usd_per_kwh", -0.1), ("pue", float("nan"))]
)
def test_assumptions_reject_meaningless_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        OnPremAssumptions(**{field: value})


def test_compare_series_hand_computed() -> None:
    from capplan.costs import compare_onprem_cloud

    t = server_tco(SERVER, A)
    cloud_a = CloudAssumptions(monitoring_retraining_share_of_ops=0.0)
    price = cloud_price(_instance(on_demand_usd_per_hour=40.0), "on_demand", cloud_a)  # $10 per GPU-hour
    assert price is not None
    cmp = compare_onprem_cloud(t, A, price, cloud_a, gpus=8, months=60, label_onprem="X", server_source="t")
    # on-prem month: opex/3 x gross-up 2 + (2 - 1) x capex amortised over 48 months; capex itself in month 1
    month = t.opex_usd_per_quarter / 3 * 2 + 115_000 / 48
    assert cmp.onprem.monthly_usd[0] == pytest.approx(115_000 + month)
    assert cmp.onprem.monthly_usd[5] == pytest.approx(month)
    # cloud: the same busy GPU-hours (8 GPUs x 730.5 h x 50 % utilisation) at $10
    cloud_month = 8 * (365.25 * 24 / 12) * 0.5 * 10.0
    assert cmp.cloud.monthly_usd[3] == pytest.approx(cloud_month)
    # break-even: first month m with 115,000 + m x month <= m x cloud_month
    expected = math.ceil(115_000 / (cloud_month - month))
    assert cmp.break_even_month == expected
    assert cmp.cloud.cumulative_usd[-1] == pytest.approx(60 * cloud_month)
