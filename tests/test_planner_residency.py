"""Data residency: provider-qualified regions (a bare name two providers use is refused), jurisdictions,
approved providers and on-prem sites; every sensitive placement and every exclusion states its rule; the CRM
example keeps PII in AWS us-east-1 or on-prem; and, over generated plans, no sensitive workload is ever placed
outside its allowed set."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_planner_cli import _run
from test_planner_support import BASE, make_plan

from capplan.catalog import Accelerator, Catalog, CloudInstance, Region, RegionTable, load_catalog
from capplan.planner import load_plan, run_plan
from capplan.planner.placement import PlacementModel
from capplan.planner.run import prepare

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = load_catalog(user_dir=False)
GPU = Accelerator(name="GPU-A", vendor="Test", memory_gib=80, mem_bw_gbps=2000, bf16_tflops_dense=500,
                  tdp_w=500, source="test fixture", source_date="2026-01-01")


def _inst(provider: str, region: str, usd_per_hour: float, name: str = "x1") -> CloudInstance:
    return CloudInstance(provider=provider, instance=name, region=region, gpu_name="GPU-A", gpu_count=1,
                         on_demand_usd_per_hour=usd_per_hour, price_date="2026-01-01", source="test fixture")


def four_cloud_catalog() -> Catalog:
    """GPU-A at AWS us-east-1 ($4/h), Lambda us-east-1 ($1/h: cheapest, same region id), GCP europe-west4
    ($2/h, Netherlands) and AWS eu-west-2 ($1.5/h, London); jurisdictions from the shipped region table."""
    insts = [_inst("AWS", "us-east-1", 4.0), _inst("Lambda", "us-east-1", 1.0),
             _inst("GCP", "europe-west4", 2.0), _inst("AWS", "eu-west-2", 1.5)]
    return Catalog([GPU], insts, [], regions=SHIPPED.regions)


CAT = four_cloud_catalog()


def _plan_file(tmp_path: Path, workload: dict[str, Any], **top: Any) -> Path:
    data = copy.deepcopy(BASE)
    data["workloads"][0].update(workload)
    data.update(top)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _result(workload: dict[str, Any], **top: Any):  # type: ignore[no-untyped-def]
    return run_plan(make_plan(workload=workload, **top), CAT, sensitivity=False)


def _clouds(result) -> set[str]:  # type: ignore[no-untyped-def]
    """'Provider region' of every cloud option and burst target the recommended plan uses."""
    used = {r.option for r in result.placement if r.kind != "onprem"}
    used |= {r.burst_via for r in result.placement if r.burst_via}
    return {" ".join(label.split()[0:3:2]) for label in used}


# --- provider-qualified names ---------------------------------------------------------------------------


def test_a_bare_region_two_providers_use_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_file(tmp_path, {"sensitivity": "region", "allowed_regions": ["us-east-1"]})
    code, out, err = _run(["plan", str(plan), "--no-sensitivity"], capsys)
    assert code == 2 and not out.strip()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "workloads[0] (svc).allowed_regions[0]: region 'us-east-1' is ambiguous" in err
    assert "aws:us-east-1 (US East (N. Virginia), US)" in err
    assert "lambda:us-east-1 (Virginia, USA, US)" in err
    assert "write it provider-qualified, e.g. aws:us-east-1" in err


def test_the_ambiguity_rule_covers_the_candidate_region_filter_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_file(tmp_path, {}, candidates={**BASE["candidates"], "cloud": {"regions": ["us-central1"]}})
    code, _, err = _run(["plan", str(plan), "--no-sensitivity"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "candidates.cloud.regions[0]: region 'us-central1' is ambiguous" in err
    assert "gcp:us-central1" in err and "nebius:us-central1" in err


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        ({"allowed_regions": ["us-east-9"]}, "no provider has a region 'us-east-9'; close matches: "),
        ({"allowed_regions": ["aws:us-east-9"]}, "aws has no region 'us-east-9'"),
        ({"allowed_regions": ["amazon:us-east-1"]}, "unknown provider 'amazon' in 'amazon:us-east-1'"),
        ({"approved_providers": ["Amazon"]}, "approved_providers[0]: unknown provider 'Amazon'"),
        ({"allowed_jurisdictions": ["UK"]},
         "'UK' is not an ISO 3166-1 alpha-2 code; write GB (United Kingdom)"),
        ({"allowed_jurisdictions": ["USA"]}, "write US (United States)"),
        ({"allowed_jurisdictions": [False]}, "YAML reads a bare NO (Norway) as false; quote the code: 'NO'"),
        ({"sensitivity": "none", "allowed_regions": ["aws:us-east-1"]},
         "applies only with sensitivity: region"),
        ({"sensitivity": "on_prem", "approved_providers": ["AWS"]},
         "sensitivity: on_prem never uses the cloud"),
    ],
)
def test_bad_residency_rules_are_one_line_and_exit_2(
    workload: dict[str, Any], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_file(tmp_path, {"sensitivity": "region", **workload})
    code, _, err = _run(["plan", str(plan), "--no-sensitivity"], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_a_bare_name_one_provider_has_is_accepted_and_reported_qualified() -> None:
    result = _result({"sensitivity": "region", "allowed_regions": ["eu-west-2"], "placement": "cloud"})
    assert _clouds(result) == {"AWS eu-west-2"}
    (row,) = result.constraints
    assert row.rules == "sensitivity: region; allowed_regions: aws:eu-west-2 (Europe (London), GB)"


# --- the rules and their sentences ----------------------------------------------------------------------


def test_jurisdiction_and_approved_provider_allow_with_the_exact_rule() -> None:
    result = _result({"sensitivity": "region", "allowed_jurisdictions": ["US"], "approved_providers": ["AWS"],
                      "placement": "cloud"})
    assert _clouds(result) == {"AWS us-east-1"}  # Lambda us-east-1 is 4x cheaper, but not approved
    (row,) = result.constraints
    assert row.placed == (
        "AWS x1 us-east-1 on_demand (placed): aws:us-east-1 is in US, and AWS is an approved provider"
    )
    rules = {r.venue: r.rule for r in result.residency if not r.allowed}
    assert rules == {
        "lambda:us-east-1": "Lambda is not an approved provider (approved_providers: AWS)",
        "gcp:europe-west4": "gcp:europe-west4 is in NL (EU/EEA), outside allowed_jurisdictions (US); GCP is "
                            "not an approved provider (approved_providers: AWS)",
        "aws:eu-west-2": "aws:eu-west-2 is in GB, outside allowed_jurisdictions (US)",
        # the on-prem site declares no country, so a jurisdiction rule cannot be confirmed there
        "on-prem": "on-prem: the plan declares no site country, so allowed_jurisdictions (US) cannot be "
                   "confirmed; add sites: [{name, country}] to the plan",
    }
    reason = next(r.text for r in result.reasons if r.topic == "workload svc")
    assert "aws:us-east-1 is in US, and AWS is an approved provider" in reason
    assert ("lambda:us-east-1 (offers: Lambda x1 us-east-1 [on_demand]): Lambda is not an approved "
            "provider") in reason


def test_an_eu_rule_keeps_data_in_the_eu() -> None:
    result = _result({"sensitivity": "region", "allowed_jurisdictions": ["EU"], "placement": "cloud"})
    assert _clouds(result) == {"GCP europe-west4"}  # London (GB) is cheaper but outside the EU
    verdicts = {r.venue: (r.allowed, r.rule) for r in result.residency}
    assert verdicts["gcp:europe-west4"] == (True, "gcp:europe-west4 is in NL, in the EU")
    assert verdicts["aws:eu-west-2"] == (False, "aws:eu-west-2 is in GB, outside allowed_jurisdictions (EU)")
    assert verdicts["lambda:us-east-1"] == (
        False, "lambda:us-east-1 is in US, outside allowed_jurisdictions (EU)"
    )


def test_allowed_regions_exclude_the_same_named_region_of_another_provider() -> None:
    result = _result({"sensitivity": "region", "allowed_regions": ["aws:us-east-1"], "placement": "cloud"})
    assert _clouds(result) == {"AWS us-east-1"}
    excluded = {r.venue: r.rule for r in result.residency if not r.allowed}
    assert excluded["lambda:us-east-1"] == (
        "lambda:us-east-1 is not listed in allowed_regions (aws:us-east-1): same region name as "
        "aws:us-east-1, but another provider's data centre"
    )


@pytest.mark.parametrize(
    ("country", "allowed", "rule"),
    [
        ("US", True, "on-prem site hq is in US"),
        ("DE", False, "on-prem site hq is in DE (EU/EEA), outside allowed_jurisdictions (US)"),
    ],
)
def test_on_prem_sites_declare_their_jurisdiction(country: str, allowed: bool, rule: str) -> None:
    rules = {"sensitivity": "region", "allowed_jurisdictions": ["US"], "approved_providers": ["AWS"]}
    result = _result(rules, sites=[{"name": "hq", "country": country}])
    onprem = next(r for r in result.residency if r.venue == "on-prem site hq")
    assert onprem.option == "on-prem GPU-A (4-GPU server) at hq"
    assert (onprem.allowed, onprem.rule) == (allowed, rule)
    placed_onprem = any(r.kind == "onprem" for r in result.placement)
    assert placed_onprem == allowed  # on-prem is the cheapest here whenever it is allowed


def test_sensitivity_on_prem_with_an_eu_site() -> None:
    result = _result({"sensitivity": "on_prem", "allowed_jurisdictions": ["EU"]},
                     sites=[{"name": "fra", "country": "DE"}])
    assert result.placement and all(r.kind == "onprem" for r in result.placement)
    (row,) = result.constraints
    assert row.placed.endswith("(placed): on-prem site fra is in DE, in the EU")
    assert "sensitivity: on_prem keeps svc's data on the organisation's own sites" in row.excluded


def test_sites_must_be_declared_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onprem = [{**BASE["candidates"]["onprem"][0], "site": "paris"}]
    plan = _plan_file(tmp_path, {}, sites=[{"name": "hq", "country": "US"}],
                      candidates={"onprem": onprem})
    code, _, err = _run(["plan", str(plan)], capsys)
    assert code == 2 and "candidates.onprem: site 'paris' is not in sites (hq)" in err


def test_report_lists_each_sensitive_workloads_constraints(tmp_path: Path) -> None:
    from capplan.reports import write_reports

    result = _result({"sensitivity": "region", "allowed_regions": ["aws:us-east-1"]})
    write_reports(result, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Data residency: constraints of each sensitive workload" in md
    assert "svc: sensitivity: region; allowed_regions: aws:us-east-1 (US East (N. Virginia), US)." in md
    rows = json.loads((tmp_path / "result.json").read_text())["residency"]
    assert {r["venue"] for r in rows} >= {"aws:us-east-1", "lambda:us-east-1", "on-prem"}
    assert (tmp_path / "residency.csv").read_text().startswith("workload,option,pricing_model,venue,")


# --- the CRM example ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm():  # type: ignore[no-untyped-def]
    return run_plan(load_plan(ROOT / "examples" / "crm-realtime-inference.yaml"), SHIPPED, sensitivity=False)


def test_crm_example_no_longer_bursts_to_another_providers_same_named_region(crm) -> None:  # type: ignore[no-untyped-def]
    # before issue 19 the peaks burst to "Lambda gpu_1x_a10 us-east-1 on_demand"
    used = [r.option for r in crm.placement] + [r.burst_via for r in crm.placement if r.burst_via]
    assert used and not [u for u in used if u.startswith("Lambda")]
    assert all(r.kind == "onprem" or r.option.startswith("AWS ") and " us-east-1 " in r.option
               for r in crm.placement)
    assert all(b.startswith("AWS ") and " us-east-1 " in b for b in (r.burst_via for r in crm.placement) if b)
    (row,) = crm.constraints
    assert row.rules == "sensitivity: region; allowed_regions: aws:us-east-1 (US East (N. Virginia), US)"
    assert row.placed and ": aws:us-east-1 is listed in allowed_regions" in row.placed
    assert ("lambda:us-east-1 (offers: Lambda gpu_1x_a10 us-east-1 [on_demand, reserved_1y, reserved_3y]): "
            "lambda:us-east-1 is not listed in allowed_regions (aws:us-east-1): same region name as "
            "aws:us-east-1, but another provider's data centre") in row.excluded


def test_crm_example_as_it_was_written_before_is_now_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    example = (ROOT / "examples" / "crm-realtime-inference.yaml").read_text()
    old = example.replace("[aws:us-east-1]", "[us-east-1]")
    path = tmp_path / "crm.yaml"
    path.write_text(old)
    code, _, err = _run(["plan", str(path), "--no-sensitivity"], capsys)
    assert code == 2 and "region 'us-east-1' is ambiguous" in err


# --- property: no sensitive placement outside the allowed set -------------------------------------------

PROVIDERS = ("P1", "P2", "P3")
NAMES = ("r1", "r2", "r3")  # the same region names at several providers: collisions on purpose
COUNTRIES = ("US", "DE", "GB", "NO", "FR")
AREAS = {"DE": {"EU", "EEA"}, "FR": {"EU", "EEA"}, "NO": {"EEA"}, "US": set(), "GB": set()}


@st.composite
def residency_cases(draw: Any) -> dict[str, Any]:
    pairs = draw(st.lists(st.tuples(st.sampled_from(PROVIDERS), st.sampled_from(NAMES)), min_size=2,
                          max_size=6, unique=True))
    country = {p: draw(st.sampled_from(COUNTRIES)) for p in pairs}
    price = {p: draw(st.sampled_from([0.5, 1.0, 2.0, 4.0])) for p in pairs}
    site = draw(st.sampled_from([None, *COUNTRIES]))
    sensitivity = draw(st.sampled_from(["region", "region", "on_prem"]))
    rules: dict[str, Any] = {}
    if sensitivity == "region":
        chosen = draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True))
        shared = {r for _, r in pairs if sum(1 for _, s in pairs if s == r) > 1}
        written = [r if r not in shared and draw(st.booleans()) else f"{p.lower()}:{r}" for p, r in chosen]
        if written:
            rules["allowed_regions"] = written
        if draw(st.booleans()):
            rules["allowed_jurisdictions"] = draw(st.lists(st.sampled_from([*COUNTRIES, "EU", "EEA"]),
                                                           min_size=1, max_size=2, unique=True))
        if draw(st.booleans()) or not rules:
            present = sorted({p for p, _ in pairs})
            rules["approved_providers"] = draw(st.lists(st.sampled_from(present), min_size=1, max_size=2,
                                                        unique=True))
    elif draw(st.booleans()):
        rules["allowed_jurisdictions"] = [draw(st.sampled_from([*COUNTRIES, "EU"]))]
    return {"pairs": pairs, "country": country, "price": price, "site": site, "sensitivity": sensitivity,
            "rules": rules, "onprem_price": draw(st.sampled_from([3000, 30000])),
            "placement": draw(st.sampled_from(["any", "cloud"]))}


def _allowed(case: dict[str, Any], venue: tuple[str, str] | None) -> bool:
    """The specification, written out: may the workload's data go to ``venue`` (None = on-prem)?"""
    rules, juris = case["rules"], set(case["rules"].get("allowed_jurisdictions", []))

    def in_juris(country: str | None) -> bool:
        return country is not None and (country in juris or bool(AREAS[country] & juris))

    if venue is None:
        return not juris or in_juris(case["site"])
    if case["sensitivity"] == "on_prem":
        return False
    provider, region = venue
    if "allowed_regions" in rules:
        listed = {w if ":" in w else next(f"{p.lower()}:{r}" for p, r in case["pairs"] if r == w)
                  for w in rules["allowed_regions"]}
        if f"{provider.lower()}:{region}" not in listed:
            return False
    if juris and not in_juris(case["country"][venue]):
        return False
    return "approved_providers" not in rules or provider in rules["approved_providers"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=residency_cases())
def test_no_sensitive_placement_ever_lands_outside_its_allowed_set(case: dict[str, Any]) -> None:
    insts = [_inst(p, r, case["price"][(p, r)], name=f"i-{p}-{r}") for p, r in case["pairs"]]
    regions = [Region(provider=p, region=r, location="test", country_iso2=case["country"][(p, r)],
                      source="test fixture", source_date="2026-01-01") for p, r in case["pairs"]]
    catalog = Catalog([GPU], insts, [], regions=RegionTable(regions))
    onprem = [{**BASE["candidates"]["onprem"][0], "gpu_price_usd": case["onprem_price"]}]
    top: dict[str, Any] = {"candidates": {"onprem": onprem}}
    if case["site"]:
        top["sites"] = [{"name": "dc", "country": case["site"]}]
    plan = make_plan(workload={"sensitivity": case["sensitivity"], "placement": case["placement"],
                               **case["rules"]}, **top)
    cands, sizing = prepare(plan, catalog)
    model = PlacementModel.build(plan, cands, sizing)
    venue_of = {f"{i.provider} {i.instance} {i.region}": (i.provider, i.region) for i in insts}
    for mode in ("recommended", "all_cloud", "all_onprem"):
        sol = model.solve(mode)  # type: ignore[arg-type]
        for (oi, _q, _w), share in sol.share.items():
            o = sol.options[oi]
            used = [o.label] + ([o.burst_via] if o.variant == "avg+burst" and o.burst_via else [])
            for label in used:
                venue = venue_of[label.rsplit(" ", 1)[0]] if not label.startswith("on-prem") else None
                assert _allowed(case, venue), (mode, label, share, case)
        # and what the rules allow is used when it is the only option: nothing allowed => all unserved
        allowed_any = _allowed(case, None) or any(_allowed(case, v) for v in case["pairs"])
        if not allowed_any:
            assert not sol.share


def test_a_plan_can_add_an_instance_and_the_region_row_that_locates_it() -> None:
    inst = {"provider": "AcmeCloud", "instance": "a1", "region": "fra-1", "gpu_name": "GPU-A", "gpu_count": 1,
            "on_demand_usd_per_hour": 0.5, "price_date": "2026-01-01", "source": "acme quote"}
    row = {"provider": "AcmeCloud", "region": "fra-1", "location": "Frankfurt", "country_iso2": "DE",
           "source": "acme contract", "source_date": "2026-01-15"}
    rules = {"sensitivity": "region", "allowed_jurisdictions": ["EU"], "placement": "cloud"}
    assert _clouds(_result(rules, instances=[inst], regions=[row])) == {"AcmeCloud fra-1"}
    without = _result(rules, instances=[inst])  # no row: its jurisdiction is unknown, so it is excluded
    assert _clouds(without) == {"GCP europe-west4"}
    assert next(r.rule for r in without.residency if r.venue == "acmecloud:fra-1").startswith(
        "acmecloud:fra-1 has no jurisdiction on record"
    )
