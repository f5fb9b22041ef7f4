"""`capplan plan diff OLD.json NEW.json`: two revisions of the LLM chat example, one price and one demand
figure changed, compared end to end through the CLI; and bad input refused with one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from harness_cli_helper import cli

from capplan.cli import main
from capplan.planner.result import RESULT_FORMAT_VERSION, PlanResult
from capplan.planner.result_file import read_result_file
from capplan.views.plan_diff import diff_results

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "llm-chat.yaml"
H100_SERVER = "on-prem NVIDIA H100 SXM (8-GPU server)"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return cli(capsys, *argv)


def _plan(plan: Path, out: Path) -> Path:
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(plan), "--no-sensitivity", "--out", str(out), "--format", "json"])
    assert exc.value.code in (0, None)
    return out / "result.json"


@pytest.fixture(scope="module")
def revisions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """result.json of examples/llm-chat.yaml and of a revision with the H100 price cut from $25,000 to
    $20,000 per GPU and the demand now raised from 400M to 600M tokens per day."""
    base = tmp_path_factory.mktemp("revisions")
    data = yaml.safe_load(EXAMPLE.read_text())
    data["candidates"]["onprem"][0]["gpu_price_usd"] = 20_000  # was 25,000
    data["workloads"][0]["demand"]["now"] = 600_000_000  # was 400,000,000 tokens/day
    revised = base / "llm-chat-revised.yaml"
    revised.write_text(yaml.safe_dump(data))
    return _plan(EXAMPLE, base / "old"), _plan(revised, base / "new")


def test_result_json_round_trips_with_its_inputs(revisions: tuple[Path, Path]) -> None:
    old = json.loads(revisions[0].read_text())
    assert old["format"] == "capplan.plan_result" and old["format_version"] == RESULT_FORMAT_VERSION == 3
    assert read_result_file(revisions[0]) == PlanResult.model_validate(old)
    assert old["plan_inputs"]["workloads"][0]["demand"]["now"] == 400_000_000
    # 8 quarters of demand growing 20 % a quarter from 400M tokens/day: quarter 3 = 400M x 1.2^2 = 576M
    assert [d["quarter"] for d in old["demand"]] == old["quarters"]
    assert old["demand"][2]["demand"] == pytest.approx(576_000_000)
    h100 = next(p for p in old["prices"] if p["option"] == H100_SERVER)
    assert (h100["price_usd"], h100["unit"]) == (25_000, "USD per GPU")


def test_diff_finds_exactly_the_changed_price_and_demand_and_their_effects(revisions) -> None:
    old_json, new_json = (json.loads(p.read_text()) for p in revisions)
    d = diff_results(read_result_file(revisions[0]), read_result_file(revisions[1]))
    # inputs: one price, one workload's demand (all 8 quarters x 1.5), nothing else
    assert d.prices[["option", "old_usd", "new_usd"]].values.tolist() == [[H100_SERVER, 25_000, 20_000]]
    assert d.prices["change_pct"].tolist() == [pytest.approx(-20.0)]
    assert set(d.demand["workload"]) == {"chat-assistant"}
    assert d.demand["quarter"].tolist() == old_json["quarters"]
    assert (d.demand["new"] / d.demand["old"]).tolist() == pytest.approx([1.5] * 8)
    assert d.assumptions.empty and d.settings.empty
    # effects: headline figures are the two files' own, purchases are exactly the symmetric difference
    figures = d.figures.set_index("figure")
    for figure, key in (("recommended plan, net cost", "recommended_net_usd"),
                        ("all-cloud, net cost", "all_cloud_net_usd"),
                        ("break-even vs all-cloud", "break_even_month")):
        shown = [_none(figures.loc[figure, "old"]), _none(figures.loc[figure, "new"])]
        assert shown == [old_json[key], new_json[key]]
    assert new_json["recommended_net_usd"] > old_json["recommended_net_usd"]  # 50 % more demand costs more
    assert new_json["all_cloud_net_usd"] > old_json["all_cloud_net_usd"]  # (the H100 cut can't offset it)

    def purchases(doc: dict) -> set[tuple]:
        return {(p["what"], p["in_service"], p["units"]) for p in doc["purchases"]}

    gone, came = purchases(old_json) - purchases(new_json), purchases(new_json) - purchases(old_json)
    assert gone or came  # the revision changes what to buy
    shown_old = {(r.what, r.old_in_service, int(r.old_units)) for r in d.purchases.itertuples()
                 if r.change != "added"}
    shown_new = {(r.what, r.new_in_service, int(r.new_units)) for r in d.purchases.itertuples()
                 if r.change != "removed"}
    assert (shown_old, shown_new) == (gone, came)
    for r in d.purchases.itertuples():
        if r.change == "moved":
            assert r.old_in_service != r.new_in_service
        if r.change == "resized":
            assert r.old_in_service == r.new_in_service and r.old_units != r.new_units
    # where the net cost moved: the categories add up to the change in net cost
    costs = d.costs.set_index("category")["change_usd"]
    assert costs["net"] == pytest.approx(new_json["recommended_net_usd"] - old_json["recommended_net_usd"])
    by_category = costs.drop(["net", "residual credit (subtracted)"]).sum()
    assert by_category - costs["residual credit (subtracted)"] == pytest.approx(costs["net"], abs=0.05)
    assert any(line.startswith("Inputs changed: demand of chat-assistant in 8 quarter(s) (+50.0 %); price of "
                               f"{H100_SERVER}: $25,000.00 -> $20,000.00 per GPU.") for line in d.summary)


def _none(value: object) -> object:
    return None if isinstance(value, float) and value != value else value


def test_cli_diff_prints_the_changes_and_json(revisions, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["plan", "diff", str(revisions[0]), str(revisions[1])], capsys)
    assert code == 0, err
    for text in ("Net cost of the recommended plan:", "Prices changed", "Demand changed", H100_SERVER,
                 "chat-assistant", "Purchases added, removed, moved or resized"):
        assert text in out
    assert "Assumptions changed" not in out and "Other plan settings changed" not in out
    code, out, err = _run(["plan", "diff", str(revisions[0]), str(revisions[1]), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["plan_name"] == "LLM chat service" and len(doc["demand"]) == 8 and len(doc["prices"]) == 1
    assert doc["assumptions"] == [] and doc["settings"] == []
    code, out, _ = _run(["plan", "diff", str(revisions[0]), str(revisions[0])], capsys)
    assert code == 0 and "No input changed" in out and "Purchases: unchanged." in out


def test_a_settings_change_is_named_by_workload(revisions, tmp_path: Path) -> None:
    old = json.loads(revisions[0].read_text())
    new = json.loads(revisions[0].read_text())
    new["plan_inputs"]["workloads"][0]["slo"]["tpot_p99_ms"] = 40.0  # the example's TPOT SLO is 50 ms
    d = diff_results(PlanResult.model_validate(old), PlanResult.model_validate(new))
    setting = "workloads[chat-assistant].slo.tpot_p99_ms"
    assert d.settings.values.tolist() == [[setting, "50.0", "40.0"]]
    assert d.demand.empty and d.prices.empty and d.purchases.empty


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda ok, tmp: _write(tmp / "export.json", json.dumps([{"run_id": "abc", "benchmark": "gemm"}])),
         "not a capplan plan result"),
        (lambda ok, tmp: _write(tmp / "other.json", json.dumps({"format": "optimum-benchmark", "x": {}})),
         "not a capplan plan result (format 'optimum-benchmark'"),
        (lambda ok, tmp: _write(tmp / "cut.json", ok.read_text()[: len(ok.read_text()) // 2]),
         "not valid JSON at line"),
        (lambda ok, tmp: _write(tmp / "empty.json", ""), "not valid JSON at line 1 column 1"),
        (lambda ok, tmp: _write(tmp / "binary.json", b"\x89PNG\r\n\x1a\n\x00\xff"), "not UTF-8 text"),
        (lambda ok, tmp: _write(tmp / "v1.json", json.dumps(
            {k: v for k, v in json.loads(ok.read_text()).items() if not k.startswith("format")})),
         "a plan result from an older capplan (before format_version 3)"),
        (lambda ok, tmp: _write(tmp / "v2.json",
                                json.dumps(json.loads(ok.read_text()) | {"format_version": 2})),
         "plan result format_version 2 is out of date: re-run `capplan plan"),
        (lambda ok, tmp: _write(tmp / "v9.json",
                                json.dumps(json.loads(ok.read_text()) | {"format_version": 9})),
         "format_version 9 is from a newer capplan"),
        (lambda ok, tmp: _write(tmp / "broken.json", json.dumps(
            json.loads(ok.read_text()) | {"purchases": [{"what": "x"}]})),
         "not a valid plan result: purchases.0.kind: Field required"),
        (lambda ok, tmp: _write(tmp / "surrogate.json", json.dumps(  # written as the escape \ud800
            json.loads(ok.read_text()) | {"plan_name": "\ud800"})),
         "holds a string that is not valid Unicode"),
        (lambda ok, tmp: tmp / "missing.json", "cannot read result file"),
        (lambda ok, tmp: tmp, "cannot read result file"),
    ],
    ids=["another-tools-list", "another-tools-object", "truncated", "empty", "binary", "old-format",
         "out-of-date-format", "newer-format", "wrong-rows", "lone-surrogate", "missing",
         "directory"],
)
def test_bad_result_files_get_one_line_and_exit_2(make, expected: str, revisions, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = make(revisions[1], tmp_path)
    good = revisions[0]
    for argv in (["plan", "diff", str(bad), str(good)], ["plan", "diff", str(good), str(bad)]):
        code, out, err = _run(argv, capsys)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"error: {bad}: " in err and expected in err, err


def test_results_of_different_plans_are_refused(revisions, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    other = _plan(ROOT / "examples" / "crm-realtime-inference.yaml", tmp_path / "crm")
    capsys.readouterr()  # the plan run's own output
    code, out, err = _run(["plan", "diff", str(revisions[0]), str(other)], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "are results of different plans ('LLM chat service' vs 'CRM real-time inference')" in err
