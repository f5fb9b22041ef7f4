"""Carbon in the plan: a carbon price or cap moves placement, the report says why; solver failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from capplan.catalog import load_catalog
from capplan.cli import main
from capplan.planner import load_plan, run_plan
from capplan.reports import write_reports

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "carbon-priced-training.yaml"


def _plan(**carbon: float) -> dict:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["carbon"] = carbon
    return data


def _regions(result) -> set[str]:  # noqa: ANN001
    return {r.option.split()[2] for r in result.placement}


def test_carbon_price_moves_the_example_to_the_cleaner_region_and_the_report_says_why(tmp_path: Path) -> None:
    catalog = load_catalog(user_dir=False)
    priced = run_plan(load_plan(EXAMPLE), catalog, sensitivity=False)
    free = run_plan(load_plan(_plan()), catalog, sensitivity=False)
    assert _regions(free) == {"us-east-1"}  # a little cheaper: 8 x H100 at $32.00/h vs $32.40/h
    assert _regions(priced) == {"us-west-2"}  # 109 vs 403 gCO2e/kWh at $190/t
    assert priced.carbon_tonnes < free.carbon_tonnes and priced.recommended_net_usd > free.recommended_net_usd
    reason = next(r.text for r in priced.reasons if r.topic == "carbon policy")
    assert "carbon price of $190/t" in reason
    assert "us-east-1 on_demand -> AWS example-8x-h100 us-west-2 on_demand" in reason
    assert not any(r.topic == "carbon policy" for r in free.reasons)
    write_reports(priced, tmp_path)
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "carbon policy" in report and "per tonne avoided" in report and "tCO2e" in report
    # first quarter by hand: 40 runs x 200 GPU-h = 8,000 busy GPU-hours on 5 GPUs (a 200 h run in 48 h
    # needs ceil(200 / 48) = 5); autoscaled: + 10 % of the 5 x 2,191.5 - 8,000 = 2,957.5 idle fleet-hours
    billed = 8000 + 0.1 * 2957.5
    busy_kwh = 0.7 * 1.8 * 1.1  # H100 700 W x (1 + 0.8 host share) x cloud PUE 1.1, per busy GPU-hour
    operational = (8000 * busy_kwh + (billed - 8000) * busy_kwh * 0.2) * 0.109  # idle 20 %, 109 g/kWh
    embodied = billed * (164 + 3476.79 / 8) / (6 * 8766)  # (GPU + host share) over 6 years of hours
    q1 = next(r for r in priced.placement if r.quarter == priced.quarters[0])
    assert q1.carbon_kg == pytest.approx(operational + embodied, abs=0.1)
    assert q1.billing == "autoscaled"


def test_carbon_cap_moves_the_example_too_and_a_cap_too_tight_leaves_demand_unserved_visibly() -> None:
    catalog = load_catalog(user_dir=False)
    free = run_plan(load_plan(_plan()), catalog, sensitivity=False)
    clean = run_plan(load_plan(_plan(price_usd_per_tonne=190)), catalog, sensitivity=False)
    per_year_free = free.carbon_tonnes / 2  # 8 quarters
    cap = per_year_free * 0.6
    capped = run_plan(load_plan(_plan(cap_tonnes_per_year=cap)), catalog, sensitivity=False)
    # the cheapest way under the cap: as much of the cheaper, dirtier region as the cap allows
    assert _regions(capped) == {"us-east-1", "us-west-2"}
    for year in (0, 1):
        rows = [r for r in capped.costs_by_quarter if r.alternative == "recommended"][4 * year : 4 * year + 4]
        kg = sum(r.operational_carbon_kg + r.embodied_carbon_kg for r in rows)
        assert kg <= cap * 1000 * (1 + 1e-6)
    assert free.recommended_net_usd < capped.recommended_net_usd < clean.recommended_net_usd
    # like the budget, the cap outranks demand: a cap below what the work needs leaves work unserved, said so
    tight = run_plan(load_plan(_plan(cap_tonnes_per_year=1.0)), catalog, sensitivity=False)
    reason = next(r.text for r in tight.reasons if r.topic == "carbon policy")
    assert "-> unserved" in reason and tight.carbon_tonnes <= 2.0 * (1 + 1e-6)
    assert "UNSERVED" in next(r.text for r in tight.reasons if r.topic == "workload finetune")


def test_solver_time_out_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _plan()
    data["solver"] = {"time_limit_s": 0.000001}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(path), "--no-sensitivity"])
    out, err = capsys.readouterr()
    assert exc.value.code == 2
    assert err.count("\n") == 1 and "solver" in err and "time_limit_s" in err and "Traceback" not in err + out


def test_plan_json_on_stdout_is_only_json_in_a_real_process(tmp_path: Path) -> None:
    """HiGHS prints a banner on file descriptor 1 for a process's first solver: it must not reach stdout."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(EXAMPLE.parents[1])}
    out = subprocess.run(
        [sys.executable, "-m", "capplan", "plan", str(EXAMPLE), "--no-sensitivity", "--json"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=True,
    ).stdout
    result = json.loads(out)
    assert result["solver_gap"] <= 0.01 and result["carbon_price_usd_per_tonne"] == 190
