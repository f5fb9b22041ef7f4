"""Property tests: more demand never needs fewer devices or less money; dearer cloud is never cheaper;
no cost is ever negative."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_planner_support import make_plan, tiny_catalog

from capplan.planner.placement import solve_placement
from capplan.planner.run import prepare

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CAT = tiny_catalog()


def _fit_and_cost(now: float, burstiness: float, cv: float, mode: str = "recommended", **plan_changes):  # type: ignore[no-untyped-def]
    plan = make_plan(
        workload={
            "demand": {"now": now, "unit": "qps", "growth_pct_per_quarter": 10},
            "burstiness": burstiness,
            "service_time_cv": cv,
        },
        **plan_changes,
    )
    cands, sizing = prepare(plan, CAT)
    return sizing.fits[("svc", "GPU-A")], solve_placement(plan, cands, sizing, mode)  # type: ignore[arg-type]


@SETTINGS
@given(
    now=st.floats(5, 3000),
    factor=st.floats(1.0, 3.0),
    burstiness=st.floats(1.0, 4.0),
    cv=st.sampled_from([0.0, 0.3, 0.7]),
)
def test_more_demand_never_fewer_devices_or_lower_cost(
    now: float, factor: float, burstiness: float, cv: float
) -> None:
    fit1, sol1 = _fit_and_cost(now, burstiness, cv)
    fit2, sol2 = _fit_and_cost(now * factor, burstiness, cv)
    assert np.all(fit2.owned_peak >= fit1.owned_peak)
    assert np.all(fit2.owned_avg >= fit1.owned_avg)
    assert np.all(fit2.gpu_hours >= fit1.gpu_hours - 1e-6)
    assert sol2.net_usd >= sol1.net_usd - 1e-6 * max(sol1.net_usd, 1.0)


@SETTINGS
@given(now=st.floats(5, 2000), m=st.floats(0.2, 3.0), k=st.floats(1.0, 2.0))
def test_higher_cloud_price_never_makes_cloud_cheaper(now: float, m: float, k: float) -> None:
    cheap = {"assumptions": {"cloud": {"derive_reserved_from_on_demand": False, "price_multiplier": m}}}
    dear = {"assumptions": {"cloud": {"derive_reserved_from_on_demand": False, "price_multiplier": m * k}}}
    _, a = _fit_and_cost(now, 2.0, 0.5, "all_cloud", **cheap)
    _, b = _fit_and_cost(now, 2.0, 0.5, "all_cloud", **dear)
    assert b.net_usd >= a.net_usd - 1e-6 * a.net_usd
    cloud_a = sorted(o.standalone_usd for o in a.options if o.cloud)
    cloud_b = sorted(o.standalone_usd for o in b.options if o.cloud)
    assert all(y >= x - 1e-6 for x, y in zip(cloud_a, cloud_b, strict=True))
    # and the recommended plan never puts more of the demand in the cloud when the cloud gets dearer
    _, ra = _fit_and_cost(now, 2.0, 0.5, **cheap)
    _, rb = _fit_and_cost(now, 2.0, 0.5, **dear)
    assert rb.cloud_share <= ra.cloud_share + 1e-6


@SETTINGS
@given(
    now=st.floats(0, 3000),
    pue=st.floats(1.0, 3.0),
    kwh=st.floats(0.0, 0.5),
    util=st.floats(0.05, 1.0),
    hidden=st.floats(0.0, 0.9),
    residual=st.floats(0.0, 1.0),
    years=st.floats(0.5, 10),
    mode=st.sampled_from(["recommended", "all_cloud", "all_onprem"]),
)
def test_costs_are_never_negative(
    now: float, pue: float, kwh: float, util: float, hidden: float, residual: float, years: float, mode: str
) -> None:
    onprem = {
        "pue": pue,
        "electricity_usd_per_kwh": kwh,
        "utilisation_fraction": util,
        "hidden_cost_share_of_total": hidden,
        "residual_value_fraction": residual,
        "amortisation_years": years,
    }
    _, sol = _fit_and_cost(
        now,
        2.0,
        0.5,
        mode,
        assumptions={"onprem": onprem, "cloud": {"derive_reserved_from_on_demand": False}},
    )
    assert np.all(sol.cash >= -1e-9)
    assert sol.residual_usd >= 0 and sol.net_usd >= -1e-6
    for o in sol.options:
        assert np.all(o.cash >= 0) and o.standalone_usd >= 0 and np.all(o.devices >= 0)
    for p in sol.pools:
        assert np.all(p.unit_cash >= 0) and np.all(p.residual_usd >= 0) and p.gpu_quarter_usd >= 0
        # the credit for what is left at the end never exceeds what was paid for it
        assert np.all(p.residual_usd <= p.unit_cash.sum(axis=(1, 2)) + 1e-9)
