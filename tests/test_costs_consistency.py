"""One scenario, three doors: `capplan plan`, `capplan cost compare` and the dashboard's Costs page view give
the same monthly cash and emissions to the cent (and gram), and the same break-even month and NPV.

Scenario: 16 GPUs of a test accelerator (2 x 8-GPU servers, list price $12,000, 400 W), busy 50 % of the
time, 36 months, against an 8-GPU instance at $20/h in Lambda us-east-1 (a shipped grid row, 403 g/kWh).
The plan's training workload needs exactly 16 devices: one 17,532 GPU-hour run a quarter at 50 %
schedulable utilisation = 17,532 / (2,191.5 h x 0.5) = 16.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from capplan.catalog import load_catalog
from capplan.cli import main
from capplan.costs import CarbonAssumptions, CloudAssumptions, OnPremAssumptions
from capplan.views.costs import CostScenario, evaluate

ACC = {
    "name": "CONSISTENCY-GPU", "vendor": "Test", "memory_gib": 80, "bf16_tflops_dense": 300, "tdp_w": 400,
    "approx_list_price_usd": 12000, "price_note": "test figure", "source": "test fixture",
    "source_date": "2026-01-01",
}
INST = {
    "provider": "Lambda", "instance": "consistency-8x", "region": "us-east-1", "gpu_name": "CONSISTENCY-GPU",
    "gpu_count": 8, "on_demand_usd_per_hour": 20.0, "price_date": "2026-01-01", "source": "test fixture",
}
GPUS, MONTHS, UTILISATION = 16, 36, 0.5


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    d = tmp_path / "catalog"
    d.mkdir()
    (d / "accelerators.yaml").write_text(yaml.safe_dump({"accelerators": [ACC]}), encoding="utf-8")
    (d / "instances.yaml").write_text(yaml.safe_dump({"instances": [INST]}), encoding="utf-8")
    return d


def _plan(tmp_path: Path, billing: str) -> Path:
    plan = {
        "name": "consistency",
        "start": "2026-01-01",
        "horizon_quarters": MONTHS // 3,
        "candidates": {
            "accelerators": ["CONSISTENCY-GPU"],
            "onprem": [{"accelerator": "CONSISTENCY-GPU", "gpus_per_server": 8, "lead_time_weeks": 0}],
            "cloud": {"providers": ["Lambda"], "pricing_models": ["on_demand"]},
        },
        "assumptions": {
            "onprem": {"utilisation_fraction": UTILISATION},
            "planning": {"training_max_utilisation_fraction": UTILISATION},
        },
        "workloads": [
            {
                "name": "train",
                "type": "training",
                "billing": billing,
                "model": {"gpu_hours_per_run": {"CONSISTENCY-GPU": 17532}},
                "demand": {"now": 1, "unit": "runs_per_quarter"},
            }
        ],
    }
    path = tmp_path / f"plan-{billing}.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return path


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    assert (exc.value.code or 0) == 0, err
    return json.loads(out)


def _cents(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


@pytest.mark.parametrize("billing", ["always_on", "autoscaled"])
def test_planner_cost_compare_and_costs_page_agree_to_the_cent(
    billing: str, tmp_path: Path, catalog_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = _plan(tmp_path, billing)
    plan = _cli(["plan", str(plan_file), "--catalog", str(catalog_dir), "--no-sensitivity", "--json"], capsys)
    (compare,) = _cli(["cost", "compare", "-H", "CONSISTENCY-GPU", "--gpus", str(GPUS), "--gpus-per-server",
                       "8", "--months", str(MONTHS), "--utilisation", str(UTILISATION), "--billing", billing,
                       "--catalog", str(catalog_dir), "--json"], capsys)
    cat = load_catalog([catalog_dir], user_dir=False)
    acc = cat.accelerator("CONSISTENCY-GPU")
    view = evaluate(
        CostScenario(
            acc, GPUS, 8, 12000.0, "catalog", cat.instances_for(acc.name)[0], "on_demand", MONTHS,
            OnPremAssumptions(utilisation_fraction=UTILISATION), CloudAssumptions(),
            billing,  # type: ignore[arg-type]
            CarbonAssumptions(), cat,
        )
    )
    assert view is not None
    page = view.comparison
    cli = compare["comparison"]
    assert _cents(cli["onprem"]["monthly_usd"]) == _cents(page.onprem.monthly_usd)
    assert _cents(cli["cloud"]["monthly_usd"]) == _cents(page.cloud.monthly_usd)
    assert _cents(cli["onprem"]["monthly_carbon_kg"]) == _cents(page.onprem.monthly_carbon_kg)
    assert _cents(cli["cloud"]["monthly_carbon_kg"]) == _cents(page.cloud.monthly_carbon_kg)

    rows = plan["cumulative"]
    alts = ("all_onprem", "all_cloud")
    series = {alt: [r["monthly_usd"] for r in rows if r["alternative"] == alt] for alt in alts}
    carbon = {alt: [r["carbon_kg"] for r in rows if r["alternative"] == alt] for alt in alts}
    assert _cents(series["all_onprem"]) == _cents(page.onprem.monthly_usd)
    assert _cents(series["all_cloud"]) == _cents(page.cloud.monthly_usd)
    assert _cents(carbon["all_onprem"]) == _cents(page.onprem.monthly_carbon_kg)
    assert _cents(carbon["all_cloud"]) == _cents(page.cloud.monthly_carbon_kg)
    # the month-36 credit is the book value of 2 servers: capex 8 x 12,000 x 1.35 x 1.15 each, 36 of 60
    # months used, 10 % residual
    capex = 8 * 12000 * 1.35 * 1.15
    assert page.onprem.residual_credit_usd == pytest.approx(2 * (capex - 0.9 * capex * 36 / 60))

    # owning 2 servers is the cheapest plan under both billing modes here, so the plan's break-even and NPV
    # vs all-cloud compare the same two series as the Costs page and the CLI
    assert [p["gpus"] for p in plan["purchases"]] == [GPUS] and plan["cloud_share"] == 0
    assert plan["break_even_month"] == page.break_even_month == cli["break_even_month"]
    assert page.break_even_month is not None
    assert round(plan["npv_savings_vs_all_cloud_usd"], 2) == round(page.npv_savings_usd, 2)
    assert round(cli["npv_savings_usd"], 2) == round(page.npv_savings_usd, 2)
    assert billing in " ".join(plan["billing"]) and compare["billing_mode"] == billing
