"""`capplan plan` and `capplan cost compare` end to end (in-process CLI), plan validation errors, reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from test_planner_support import BASE, make_plan, tiny_catalog

from capplan.cli import main
from capplan.planner import load_plan, run_plan
from capplan.reports import write_reports

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_the_five_examples_exist() -> None:
    assert {p.stem for p in EXAMPLES} == {
        "carbon-priced-training",
        "crm-realtime-inference",
        "llm-chat",
        "research-training",
        "mixed-enterprise",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_end_to_end(example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", str(example), "--out", str(tmp_path)]
    if (
        example.stem != "research-training"
    ):  # one example runs the full sensitivity analysis; it re-optimises ~14 times
        argv.append("--no-sensitivity")
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "Recommended" in out
    for name in (
        "report.md",
        "report.html",
        "result.json",
        "timeline.csv",
        "placement.csv",
        "purchases.csv",
        "alternatives.csv",
    ):
        assert (tmp_path / name).stat().st_size > 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["recommended_net_usd"] >= 0 and result["assumptions"]
    assert {a["alternative"] for a in result["alternatives"]} == {"recommended", "all_cloud", "all_onprem"}
    md = (tmp_path / "report.md").read_text()
    for section in ("Procurement", "Capacity-gap timeline", "Assumptions", "Why"):
        assert f"## {section}" in md
    with (tmp_path / "placement.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(
        r["source"] for r in rows
    )  # every placement traces to a catalog row / plan figure / run
    if example.stem == "research-training":
        assert len(result["tornado"]) == 6 and len(result["scenarios"]) == 3


def test_plan_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    example = next(p for p in EXAMPLES if p.stem == "research-training")
    code, out, _ = _run(["plan", str(example), "--json", "--no-sensitivity"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["plan_name"] == "Research training" and data["timeline"]


def _bad(tmp_path: Path, data: object, text: str | None = None) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["workloads"][0].update(type="batch"),
            "workloads[0].type: Input should be 'inference' or 'training'",
        ),
        (lambda d: d["workloads"][0]["demand"].update(now=-5), "workloads[0].demand.now"),
        (lambda d: d["workloads"][0].update(burstiness=0.5), "workloads[0].burstiness"),
        (
            lambda d: d["workloads"][0].update(colour="red"),
            "workloads[0].colour: unknown field; allowed: name, type",
        ),
        (lambda d: d.update(assumptions={"onprem": {"pue": 0.8}}), "assumptions.onprem.pue"),
        (lambda d: d["workloads"][0].update(sensitivity="region"), "needs allowed_regions"),
        (lambda d: d["workloads"][0]["demand"].update(series=[1, 2]), "demand.series needs 4 values"),
        (
            lambda d: d.update(budget={"per_year_usd": 1, "split": {"infrastructure": 0.9}}),
            "split must sum to 1",
        ),
        (lambda d: d["candidates"]["onprem"][0].pop("price_source"), "price_source is required"),
    ],
)
def test_invalid_plans_exit_2_naming_the_field(
    mutate, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(BASE))
    mutate(data)
    code, _, err = _run(["plan", str(_bad(tmp_path, data))], capsys)
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nstart: 2026-01-01\nworkloads: [{name: a, type: inference, demand: {now: .nan}}]\n",
            "finite number",
        ),
        ("name: x\nstart: 2026-01-01\nhorizon_quarters: .inf\nworkloads: []\n", "horizon_quarters"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
        (
            "!!python/object/apply:os.system ['echo hi']\n",
            "not valid YAML",
        ),  # safe_load refuses arbitrary objects
    ],
)
def test_unparseable_or_meaningless_yaml(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["plan", str(_bad(tmp_path, None, text))], capsys)
    assert code == 2 and expected in err


def test_missing_plan_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["plan", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "cannot read plan file" in err


def test_unknown_accelerator_in_plan_names_the_workload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(json.dumps(BASE))
    data["candidates"] = {"accelerators": ["NVIDIA L4"]}
    data["workloads"][0]["model"] = {
        "per_device": {"Imaginary GPU 9000": {"throughput_per_s": 1, "latency_ms": 1}}
    }
    code, _, err = _run(["plan", str(_bad(tmp_path, data))], capsys)
    assert code == 2 and "workloads[0].model" in err and "Imaginary GPU 9000" in err


def test_html_report_escapes_user_text(tmp_path: Path) -> None:
    evil = "<script>alert('x')</script> & <b>bold</b>"
    plan = make_plan(name=evil)
    write_reports(run_plan(plan, tiny_catalog(), sensitivity=False), tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in html and "<b>bold</b>" not in html  # the charts' own <script> tags stay
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# Capacity plan: <script>")  # Markdown keeps text; only HTML needs escaping


def test_load_plan_accepts_dict_and_path(tmp_path: Path) -> None:
    path = _bad(tmp_path, json.loads(json.dumps(BASE)))
    assert load_plan(path) == load_plan(json.loads(json.dumps(BASE)))


def test_cost_compare_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        [
            "cost",
            "compare",
            "-H",
            "NVIDIA L4",
            "--gpu-price",
            "NVIDIA L4=2500",
            "--price-source",
            "test quote",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["accelerator"] == "NVIDIA L4" and row["onprem_usd_per_gpu_hour"] > 0
    assert row["onprem_price_source"] == "test quote"
    assert row["cloud"] and all(c["source"] for c in row["cloud"])
    onprem = row["comparison"]["onprem"]
    series = onprem["cumulative_usd"]
    assert len(series) == 36 and all(b >= a for a, b in zip(series[:-1], series[1:-1], strict=False))
    # month 36 gets the book value back: 8 x 2500 x 1.35 x 1.15 capex, 36 of 60 months used, 10 % residual
    capex = 8 * 2500 * 1.35 * 1.15
    assert onprem["residual_credit_usd"] == pytest.approx(capex - (capex - 0.1 * capex) * 36 / 60)
    assert row["billing_mode"] == "always_on" and row["comparison"]["billing_mode"] == "always_on"
    assert onprem["monthly_carbon_kg"][0] > 0 and row["comparison"]["cloud"]["operational_carbon_kg"] > 0
    code, _, err = _run(["cost", "compare", "-H", "NVIDIA L4", "--gpu-price", "L4=-3"], capsys)
    assert code == 2 and "--gpu-price" in err
    code, _, err = _run(["cost", "compare", "-H", "NVIDIA L4", "--billing", "hourly"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--billing" in err and "always_on, autoscaled" in err
    code, _, err = _run(["cost", "compare", "-H", "Imaginary GPU"], capsys)
    assert code == 2 and "not in the catalog" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--out", "OUT", "--format", "docx"], "--format docx: unknown report format; allowed: md, html"),
        (["--format", "xlsx"], "--format needs --out DIR"),
    ],
)
def test_report_format_errors_are_one_line(argv: list[str], expected: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    example = next(p for p in EXAMPLES if p.stem == "research-training")
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    code, out, err = _run(["plan", str(example), *argv], capsys)
    assert code == 2 and out == "" and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before planning or writing anything


def test_plan_verify_adds_the_replica_the_formula_misses(tmp_path: Path) -> None:
    """M/D/c: 100 req/s, 50 ms deterministic service (20 req/s per replica, one slot each), 60 ms p99 SLO.
    The formula sizes 10 replicas (p99 56.4 ms); simulated, 10 give ~60 ms with an upper bound above the
    SLO, so --verify adds one: 11 replicas, and placement and costs use them."""
    workload = {
        "model": {"per_device": {"GPU-A": {"throughput_per_s": 20, "latency_ms": 50, "source": "test"}}},
        "demand": {"now": 100, "unit": "qps", "growth_pct_per_quarter": 0},
        "slo": {"p99_latency_ms": 60, "availability_pct": 90},
        "burstiness": 1.0,
        "service_time_cv": 0.0,
    }
    plan = make_plan(workload=workload)
    plain = run_plan(plan, tiny_catalog(), sensitivity=False)
    verified = run_plan(plan, tiny_catalog(), sensitivity=False, verify=True)
    assert plain.verification == []
    (row,) = verified.verification
    assert (row.servers_analytic, row.servers_verified, row.replicas_added, row.met) == (10, 11, 1, True)
    assert row.analytic_p99_ms == pytest.approx(56.4, abs=0.1) and row.simulated_p99_ms_at_analytic > 59
    assert row.simulated_p99_upper_ms <= 60 and row.simulated_p99_ms <= 60
    peak = {r.quarter: r.devices_peak for r in verified.sizing}
    assert all(peak[q] == p + 1 for q, p in ((r.quarter, r.devices_peak) for r in plain.sizing))
    assert any(r.topic == "verified sizing: svc on GPU-A" and "added 1 replica(s)" in r.text
               for r in verified.reasons)
    write_reports(verified, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Verified sizing (simulation at peak demand)" in md
    assert (tmp_path / "verification.csv").read_text().count("\n") == 2  # header + one fleet
