"""Hybrid placement MILP on a tiny self-contained catalog: constraints, lead times, alternatives, reasons."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from test_planner_support import make_plan, tiny_catalog

from capplan.planner import run_plan
from capplan.planner.placement import solve_placement
from capplan.planner.run import prepare

CAT = tiny_catalog()


def _solve(plan, mode="recommended"):  # type: ignore[no-untyped-def]
    cands, sizing = prepare(plan, CAT)
    return solve_placement(plan, cands, sizing, mode)


def test_sensitive_workload_stays_on_prem() -> None:
    sol = _solve(make_plan(workload={"sensitivity": "on_prem"}))
    assert sol.share and all(not sol.options[oi].cloud for (oi, _q, _w) in sol.share)
    assert not sol.unserved


def test_region_constraint_excludes_cheaper_region() -> None:
    plan = make_plan(workload={"sensitivity": "region", "allowed_regions": ["r1"], "placement": "cloud"})
    sol = _solve(plan)
    regions = {sol.options[oi].label.split()[2] for (oi, _q, _w) in sol.share}
    assert regions == {"r1"}  # r2 is half the price but not allowed
    free = _solve(make_plan(workload={"placement": "cloud"}))
    assert {free.options[oi].label.split()[2] for (oi, _q, _w) in free.share} == {"r2"}


def test_lead_time_keeps_early_quarters_off_prem_and_sets_order_dates() -> None:
    weeks = 30  # 2026-01-01 + 30 weeks = 2026-07-30, so the first possible quarter is 2026-10-01 (q3)
    plan = make_plan(
        candidates={
            "onprem": [
                {
                    "accelerator": "GPU-A",
                    "gpus_per_server": 4,
                    "gpu_price_usd": 100,
                    "price_source": "t",
                    "lead_time_weeks": weeks,
                }
            ]
        },
        horizon_quarters=6,
    )
    result = run_plan(plan, CAT, sensitivity=False)
    onprem_quarters = {r.quarter for r in result.placement if r.kind == "onprem"}
    assert onprem_quarters and onprem_quarters.isdisjoint({"2026-Q1", "2026-Q2", "2026-Q3"})
    for p in result.purchases:
        start = {plan.quarter_label(q): plan.quarter_start(q) for q in range(plan.horizon_quarters)}[
            p.in_service
        ]
        assert date.fromisoformat(p.order_by) == start - timedelta(weeks=weeks)
        assert date.fromisoformat(p.order_by) >= plan.start
    assert any("lead time" in r.text for r in result.reasons)
    gap_rows = [t for t in result.timeline if t.resource_class == "on-prem GPU-A" and t.order_by]
    assert gap_rows and all(t.gap_gpus > 0 for t in gap_rows)


def test_max_cloud_share_is_respected() -> None:
    for share in (0.0, 0.5):
        sol = _solve(make_plan(max_cloud_share=share))
        assert sol.cloud_share <= share + 1e-6


def test_recommended_is_no_dearer_than_the_alternatives_without_limits() -> None:
    result = run_plan(make_plan(), CAT, sensitivity=False)
    alts = {a.alternative: a for a in result.alternatives}
    assert alts["recommended"].net_usd <= min(alts["all_cloud"].net_usd, alts["all_onprem"].net_usd) + 1e-6
    assert alts["all_cloud"].cloud_share == pytest.approx(1.0)
    assert alts["all_onprem"].cloud_share == 0.0


def test_tiny_budget_is_reported_not_hidden() -> None:
    result = run_plan(make_plan(budget={"per_year_usd": 1000}), CAT, sensitivity=False)
    unserved = next(
        a for a in result.alternatives if a.alternative == "recommended"
    ).unserved_workload_quarters
    over = [r for r in result.reasons if r.topic.startswith("budget") and "OVER" in r.text]
    assert unserved > 0 or over
    assert any("UNSERVED" in r.text for r in result.reasons) or over


def test_burst_goes_to_cloud_when_owning_the_peak_is_dearer() -> None:
    # cheap average capacity on-prem, long but rare peaks: owning peak capacity sits idle 23 h a day
    plan = make_plan(workload={"burstiness": 10.0, "peak_hours_per_day": 1})
    sol = _solve(plan)
    variants = {sol.options[oi].variant for (oi, _q, _w) in sol.share if sol.options[oi].kind == "onprem"}
    assert "avg+burst" in variants


def test_training_workload_uses_spot_when_allowed_and_not_when_forbidden() -> None:
    training = {
        "name": "train", "type": "training", "demand": {"now": 2, "unit": "runs_per_quarter"},
        "model": {"gpu_hours_per_run": {"GPU-A": 500}}, "placement": "cloud",
    }
    sol = _solve(make_plan(workloads=[training]))
    assert {sol.options[oi].label.split()[-1] for (oi, _q, _w) in sol.share} == {"spot"}
    sol = _solve(make_plan(workloads=[{**training, "allow_spot": False}]))
    assert "spot" not in {sol.options[oi].label.split()[-1] for (oi, _q, _w) in sol.share}


def test_result_tables_are_flat_and_traceable() -> None:
    result = run_plan(make_plan(), CAT, sensitivity=True)
    tables = result.tables()
    assert set(tables) >= {
        "timeline",
        "placement",
        "purchases",
        "alternatives",
        "reasons",
        "tornado",
        "scenarios",
    }
    assert all(
        isinstance(v, (str, int, float, bool, type(None)))
        for rows in tables.values()
        for r in rows
        for v in r.values()
    )
    assert all(r["source"] for r in tables["placement"] + tables["purchases"] + tables["sizing"])
    assert {r["name"] for r in tables["assumptions"]} >= {
        "pue",
        "electricity_usd_per_kwh",
        "hidden_cost_share_of_total",
    }
    assert len(tables["tornado"]) == 6 and [r["scenario"] for r in tables["scenarios"]] == [
        "base",
        "optimistic",
        "pessimistic",
    ]
    opt, base, pess = (
        next(r["net_usd"] for r in tables["scenarios"] if r["scenario"] == s)
        for s in ("optimistic", "base", "pessimistic")
    )
    assert opt <= base <= pess
