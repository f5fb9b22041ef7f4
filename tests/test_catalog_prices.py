"""Prices a buyer can act on: price age (one definition), `capplan catalog check`, bad override rows,
purchase prices with their range and date, and `capplan cost compare` showing price dates."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from capplan.catalog import load_catalog, price_age
from capplan.catalog.freshness import DEFAULT_MAX_PRICE_AGE_DAYS, MAX_AGE_ENV, parse_iso_date, today_utc
from capplan.cli import main

TODAY = date(2026, 11, 30)


pytestmark = pytest.mark.usefixtures("isolated_config")  # tests/conftest.py: no developer overrides/store


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_price_age_boundary_and_labels() -> None:
    # 2026-06-03 -> 2026-11-30: 27 days left of June + 31 + 31 + 30 + 31 + 30 = 180 days
    assert DEFAULT_MAX_PRICE_AGE_DAYS == 180
    edge = price_age("2026-06-03", "published", today=TODAY)
    assert (edge.age_days, edge.stale) == (180, False)
    old = price_age("2026-06-02", "published", today=TODAY)
    assert (old.age_days, old.stale) == (181, True)
    assert old.label() == "published 2026-06-02; STALE: 181 d old > 180 d"
    assert old.short_label() == "2026-06-02 (published) STALE"
    commit = "00148f2af3672e2229b4f7bf8157d5a3f36e3c35"
    read = price_age("2026-11-30", "read", commit, today=TODAY)
    assert read.label() == "read 2026-11-30 from snapshot 00148f2a"
    assert price_age("2026-10-05", "commit", "ca0e1de1aa", today=TODAY).label() == (
        "snapshot ca0e1de1 committed 2026-10-05"
    )
    assert price_age("2026-06-02", "published", max_age_days=365, today=TODAY).stale is False


@pytest.mark.parametrize("text", ["2026", "2026-11", "30/11/2026", "2026-02-30"])
def test_dates_must_be_iso_calendar_days(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD|calendar date"):
        parse_iso_date(text)


def test_a_date_after_today_is_refused() -> None:
    with pytest.raises(ValueError, match="in the future"):
        parse_iso_date("2026-12-01", today=TODAY)


ROW = "provider,instance,region,gpu_name,gpu_count,on_demand_usd_per_hour,price_date,source\n"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("AWS,x9,us-east-1,NVIDIA H1OO,8,40,2026-11-01,quote",
         "field 'gpu_name': 'NVIDIA H1OO' matches no accelerator"),
        ("AWS,x9,us-east-1,H100,8,-3,2026-11-01,quote", "field 'on_demand_usd_per_hour'"),
        ("AWS,x9,us-east-1,H100,8,nan,2026-11-01,quote", "field 'on_demand_usd_per_hour'"),
        ("AWS,x9,us-east-1,H100,8,inf,2026-11-01,quote", "field 'on_demand_usd_per_hour'"),
        ("AWS,x9,us-east-1,H100,8,40,2999-01-01,quote", "field 'price_date': 2999-01-01 is in the future"),
        ("AWS,x9,us-east-1,H100,8,40,2026,quote",
         "field 'price_date': '2026' is not a date of the form YYYY-MM-DD"),
        ("AWS,x9,us-east-1,H100,8,40,2026-11-01,", "field 'source'"),
        # changing a shipped price without saying where the new one comes from
        ("AWS,p5.48xlarge,us-east-1,H100,8,40,,", "field 'price_date': an override that changes"),
    ],
)
def test_bad_override_row_names_row_and_field_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, field: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(ROW + row + "\n")
    code, out, err = run_cli(["catalog", "list", "instances", "--catalog", str(bad)], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert f"bad.csv: instances row 1: {field}" in err, err


def test_catalog_check_passes_on_the_shipped_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["catalog", "check"], capsys)
    assert code == 0, err
    assert "0 error(s)" in out
    # the reserved price from a 2025-08-12 article is listed as stale, the suspect GCP row as suspect
    flat = " ".join(out.split())
    assert "AWS g6e.xlarge us-east-1: published 2025-08-12; STALE" in flat
    assert "GCP a3-highgpu-8g us-central1: the row's notes mark its price SUSPECT" in flat


def test_catalog_check_lists_every_bad_row_of_an_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "mine.csv"
    bad.write_text(ROW + "AWS,x1,us-east-1,NVIDIA H1OO,8,40,2026-11-01,quote\n"
                   "AWS,x2,us-east-1,H100,8,40,2026-11-01,\n"
                   "AWS,x3,us-east-1,H100,8,40,2025-01-01,old quote\n")
    code, out, err = run_cli(["catalog", "check", "--catalog", str(bad), "--json"], capsys)
    assert code == 2
    findings = json.loads(out)
    errors = [(f["row"], f["field"]) for f in findings if f["severity"] == "error"]
    assert errors == [(2, "source"), (1, "gpu_name")]
    stale = [f for f in findings if f["severity"] == "warning" and f["origin"] == str(bad)]
    assert [(f["row"], f["field"]) for f in stale] == [(3, "price_date")]


def test_price_age_limit_is_configurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recent = tmp_path / "recent.csv"
    ten_days_ago = (today_utc() - timedelta(days=10)).isoformat()
    recent.write_text(ROW + f"AWS,x4,us-east-1,H100,8,40,{ten_days_ago},our quote\n")
    argv = ["catalog", "check", "--catalog", str(recent), "--json"]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and not [f for f in json.loads(out) if f["origin"] == str(recent)]
    code, out, _ = run_cli([*argv, "--max-price-age", "9"], capsys)
    assert code == 0 and [f["field"] for f in json.loads(out) if f["origin"] == str(recent)] == ["price_date"]
    monkeypatch.setenv(MAX_AGE_ENV, "9")
    code, out, _ = run_cli([*argv, "--strict"], capsys)
    assert code == 1 and [f["field"] for f in json.loads(out) if f["origin"] == str(recent)] == ["price_date"]
    monkeypatch.setenv(MAX_AGE_ENV, "soon")
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and MAX_AGE_ENV in err and len(err.strip().splitlines()) == 1


def test_purchase_price_range_midpoint_and_your_quote(tmp_path: Path) -> None:
    cat = load_catalog(user_dir=False)
    h100 = cat.purchase_price("H100")
    assert h100 is not None and not h100.from_override
    # shipped H100 SXM rows: 25,000-30,000 and two 30,000 point figures -> range 25,000-30,000
    assert (h100.low_usd, h100.high_usd, h100.mid_usd) == (25_000, 30_000, 27_500)  # (25,000 + 30,000) / 2
    assert "replace with your quote" in h100.describe() and "read 2026-11-30" in h100.describe()
    for name in ("H100", "H200", "B200", "L40S", "L4", "MI300X"):
        assert cat.purchase_price(name) is not None, name
    assert cat.purchase_price("H100 PCIe") is None  # no dated public PCIe-specific price was found
    quote = tmp_path / "quote.yaml"
    quote.write_text("purchase_prices:\n  - {accelerator: H100, low_usd: 24000, high_usd: 24000,\n"
                     "     source: our vendor quote Q-123, source_date: 2026-11-20}\n")
    mine = load_catalog([quote], user_dir=False).purchase_price("NVIDIA H100 SXM")
    assert mine is not None and mine.from_override and mine.mid_usd == 24_000
    assert mine.describe().endswith("your quote") and "replace" not in mine.describe()


def test_bad_purchase_price_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("purchase_prices:\n  - {accelerator: H100, low_usd: 30000, high_usd: 20000, source: x,"
                   " source_date: 2026-11-01}\n")
    code, _, err = run_cli(["catalog", "list", "purchase-prices", "--catalog", str(bad)], capsys)
    assert code == 2 and "purchase_prices row 1: high_usd 20000 is below low_usd 30000" in err
    bad.write_text("purchase_prices:\n  - {accelerator: H9000, low_usd: 1, high_usd: 2, source: x,"
                   " source_date: 2026-11-01}\n")
    code, _, err = run_cli(["catalog", "list", "purchase-prices", "--catalog", str(bad)], capsys)
    assert code == 2 and "field 'accelerator': 'H9000' matches no accelerator" in err


def test_cost_compare_gives_own_vs_rent_with_price_dates(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["cost", "compare", "-H", "H100", "-H", "L40S", "-H", "MI300X", "--workload", "bert-large"]
    code, out, err = run_cli([*argv, "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["accelerator"] for r in rows] == ["NVIDIA H100 SXM", "NVIDIA L40S", "AMD Instinct MI300X"]
    cat = load_catalog(user_dir=False)
    for r in rows:
        cited = cat.purchase_price(r["accelerator"])
        assert cited is not None and r["onprem_price_usd"] == cited.mid_usd
        assert (r["onprem_price_low_usd"], r["onprem_price_high_usd"]) == (cited.low_usd, cited.high_usd)
        assert r["onprem_usd_per_gpu_hour"] > 0 and r["onprem_unit"]["per_1k_inferences"] > 0
        assert r["onprem_price_label"].startswith("read 2026-11-30")
        assert r["break_even_utilisation"] is not None or r["comparison"]["break_even_month"] is None
        short = re.compile(r"\d{4}-\d{2}-\d{2} \((read|published|commit)\)( STALE)?")
        assert r["cloud"] and all(short.fullmatch(o["price_short_label"]) for o in r["cloud"])
        assert all(o["price_label"] in o["source"] for o in r["cloud"])
    code, out, _ = run_cli(argv, capsys)
    text = " ".join(out.split())
    assert code == 0 and "price date" in text and "replace with your quote" in text
    assert "no cited purchase price" not in text


def test_dashboard_cost_views_show_price_dates_and_stale_prices() -> None:
    from capplan.costs import CloudAssumptions, OnPremAssumptions
    from capplan.views.costs import (
        CostScenario,
        evaluate,
        instance_label,
        purchase_price_default,
        stale_price_warnings,
    )

    cat = load_catalog(user_dir=False)
    acc = cat.accelerator("L40S")
    mid, help_text = purchase_price_default(cat, acc)
    assert mid == 8_500 and "midpoint of $7,000-$10,000" in help_text  # (7,000 + 10,000) / 2
    g6e = next(i for i in cat.instances if i.key == ("aws", "g6e.xlarge", "us-east-1"))
    assert instance_label(g6e) == f"AWS g6e.xlarge (us-east-1; prices {g6e.price_age().short_label()})"
    # its reserved prices come from an article dated 2025-08-12: the page warns about them
    scenario = CostScenario(acc, 8, 8, mid, help_text, g6e, "reserved_3y", 36, OnPremAssumptions(),
                            CloudAssumptions())
    result = evaluate(scenario)
    assert result is not None and result.price.usd_per_hour == 0.80  # cited, not derived
    (warning,) = stale_price_warnings(result, help_text)
    assert "published 2025-08-12; STALE" in warning
    assert stale_price_warnings(result, "published 2022-09-20; STALE: 1532 d old > 180 d")[1].startswith(
        "Purchase price is old"
    )


def test_plan_report_names_price_dates_and_counts_stale_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = Path(__file__).resolve().parents[1] / "examples" / "crm-realtime-inference.yaml"
    code, _, err = run_cli(["plan", str(plan), "--out", str(tmp_path)], capsys)
    assert code == 0, err
    result = json.loads((tmp_path / "result.json").read_text())
    rows = result["placement"] + result["purchases"]
    catalog_sources = {r["source"] for r in rows if "catalog:" in r["source"]}
    assert catalog_sources
    dated = re.compile(r"(read|published) \d{4}-\d{2}-\d{2}|snapshot \w+ committed \d{4}-\d{2}-\d{2}")
    assert all(dated.search(s) for s in catalog_sources)
    report = " ".join((tmp_path / "report.md").read_text().split())
    assert "Price dates: each catalog price in a source column names its date" in report
    sources = {r["source"] for r in rows}
    stale = [s for s in sources if "STALE" in s]
    if stale:
        assert f"{len(stale)} of the {len(sources)} price sources used are STALE" in report
    else:
        assert "price sources used are STALE" not in report
