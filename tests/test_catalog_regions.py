"""The region table: provider-qualified regions with ISO 3166 country, economic area, source and date; every
catalog instance's (provider, region) has a row; user rows override; bad rows are one line and exit 2."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pycountry
import pytest
from test_planner_cli import _run

from capplan.catalog import load_catalog, missing_instance_regions
from capplan.catalog.check import check_catalog
from capplan.catalog.regions import economic_areas, economic_areas_of
from capplan.errors import UserError

CAT = load_catalog(user_dir=False)

# (provider, region) of every instance row in the refreshed catalog that issue 12 ships (AWS, GCP, Azure,
# Lambda, Nebius and OCI rows, /work/data/prices/instances.csv of 2026-11-30): they must all have a
# jurisdiction before that catalog merges.
REFRESHED_CATALOG_REGIONS = [
    ("AWS", "eu-central-1"), ("AWS", "eu-north-1"), ("AWS", "eu-west-2"), ("AWS", "us-east-1"),
    ("AWS", "us-east-2"), ("AWS", "us-west-2"), ("Azure", "eastus"), ("GCP", "europe-west4"),
    ("GCP", "us-central1"), ("GCP", "us-east4"), ("Lambda", "europe-central-1"), ("Lambda", "us-east-1"),
    ("Nebius", "eu-north1"), ("Nebius", "us-central1"), ("OCI", "us-phoenix-1"),
]


def test_shipped_region_counts_are_pinned() -> None:
    assert len(CAT.regions) == 138
    assert Counter(r.provider for r in CAT.regions) == {
        "GCP": 29, "CoreWeave": 23, "Azure": 22, "AWS": 19, "Lambda": 18, "OCI": 17, "Nebius": 10,
    }
    assert {a: len(m) for a, m in economic_areas().items()} == {"EU": 27, "EEA": 30}


def test_every_instance_region_has_a_row() -> None:
    assert missing_instance_regions(CAT) == []
    assert [p for p in REFRESHED_CATALOG_REGIONS if CAT.find_region(*p) is None] == []


def test_every_row_has_an_iso_country_source_and_date() -> None:
    for r in CAT.regions:
        assert pycountry.countries.get(alpha_2=r.country_iso2) is not None, r.qualified
        assert r.source and r.location
        assert date.fromisoformat(r.source_date) <= date(2026, 11, 30), r.qualified
        assert r.economic_area == list(economic_areas_of(r.country_iso2)), r.qualified


@pytest.mark.parametrize(
    ("provider", "region", "location", "country", "areas"),
    [
        # hand-checked against the providers' pages (see each row's notes)
        ("aws", "us-east-1", "US East (N. Virginia)", "US", []),
        ("Lambda", "us-east-1", "Virginia, USA", "US", []),  # same id, another company's data centre
        ("AWS", "us-west-2", "US West (Oregon)", "US", []),
        ("lambda", "US-WEST-2", "Arizona, USA", "US", []),  # same id, another state
        ("gcp", "europe-west4", "Eemshaven, Netherlands", "NL", ["EU", "EEA"]),
        ("nebius", "us-central1", "Kansas City, US", "US", []),  # GCP's us-central1 is Council Bluffs, Iowa
        ("coreweave", "EU-NORTH-02A", "Kristiansand, Norway", "NO", ["EEA"]),  # EEA, not EU
        ("azure", "uksouth", "London", "GB", []),  # the UK left the EU: no economic area
        ("oci", "us-phoenix-1", "US West (Phoenix), Arizona", "US", []),
    ],
)
def test_hand_checked_regions(
    provider: str, region: str, location: str, country: str, areas: list[str]
) -> None:
    r = CAT.region(provider, region)
    assert (r.location, r.country_iso2, r.economic_area) == (location, country, areas)


def test_name_collisions_are_exactly_the_known_ones_and_marked() -> None:
    names = Counter(r.region.lower() for r in CAT.regions)
    shared = {n for n, k in names.items() if k > 1}
    assert shared == {"us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-central1", "me-west1"}
    for name in shared:
        rows = CAT.regions.named(name)
        assert len({r.provider for r in rows}) == 2
        assert all("NAME COLLISION" in (r.notes or "") for r in rows)


def test_lambda_rows_say_their_source_is_a_third_party_copy() -> None:
    lam = [r for r in CAT.regions if r.provider == "Lambda"]
    assert lam and all(r.source.startswith("third-party copy of Lambda's region list") for r in lam)


def test_region_lookup_names_close_matches() -> None:
    with pytest.raises(UserError, match=r"aws:us-east-9 is not in the catalog; close matches: aws:us-east-"):
        CAT.region("aws", "us-east-9")


def test_list_regions_shows_the_qualified_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["catalog", "list", "regions", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and len(rows) == 138
    assert {"aws:us-east-1", "lambda:us-east-1", "gcp:us-central1", "nebius:us-central1"} <= {
        r["qualified"] for r in rows
    }


def test_user_rows_add_and_override_regions(tmp_path: Path) -> None:
    extra = tmp_path / "regions.csv"
    extra.write_text(
        "provider,region,location,country_iso2,source,source_date\n"
        "AcmeCloud,fra-1,Frankfurt,DE,acme region page,2026-10-01\n"
        "AWS,us-east-1,Ashburn,US,my reading of the AWS page,2026-11-01\n"
    )
    cat = load_catalog([extra], user_dir=False)
    assert len(cat.regions) == 139
    assert cat.region("acmecloud", "FRA-1").economic_area == ["EU", "EEA"]  # filled from the membership table
    assert cat.region("aws", "us-east-1").location == "Ashburn"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("X,r1,London,UK,src,2026-01-01", "field 'country_iso2'"),
        ("X,r1,London,UK,src,2026-01-01", "write GB (United Kingdom)"),
        ("X,r1,Oslo,NO,src,2026-01",  "field 'source_date'"),
        ("X,r1,Oslo,NO,src,2099-01-01", "lies in the future"),
    ],
)
def test_bad_region_rows_are_one_line_and_exit_2(
    row: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("provider,region,location,country_iso2,source,source_date\n" + row + "\n")
    code, _, err = _run(["catalog", "list", "regions", "--catalog", str(bad)], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert "regions row 1" in err


def test_economic_area_that_disagrees_with_membership_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "regions:\n  - {provider: X, region: r1, location: Oslo, country_iso2: 'NO', economic_area: EU;EEA,\n"
        "     source: src, source_date: 2026-01-01}\n"
    )
    with pytest.raises(UserError, match=r"economic_area 'EU;EEA' disagrees with NO's membership 'EEA'"):
        load_catalog([bad], user_dir=False)


def test_an_instance_in_an_unknown_region_is_reported(tmp_path: Path) -> None:
    extra = tmp_path / "inst.csv"
    extra.write_text(
        "provider,instance,region,gpu_name,gpu_count,on_demand_usd_per_hour,price_date,source\n"
        "AWS,g6.xlarge,us-east-9,NVIDIA L4,1,0.8,2026-11-01,my quote\n"
    )
    assert [i.key for i in missing_instance_regions(load_catalog([extra], user_dir=False))] == [
        ("aws", "g6.xlarge", "us-east-9")
    ]
    _, findings = check_catalog([extra], user_dir=False)
    assert [f.line() for f in findings if f.severity == "error"] == [
        f"{extra}: instances row 1: field 'region': AWS g6.xlarge us-east-9: instance region not in "
        "regions.csv (add a regions row with country_iso2, source and source_date)"
    ]


def test_a_bare_yaml_no_is_norway_not_false(tmp_path: Path) -> None:
    row = ("regions:\n  - {provider: X, region: r1, location: Oslo, country_iso2: NO, source: s,\n"
           "     source_date: 2026-01-01}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(row)
    with pytest.raises(UserError, match=r"YAML reads a bare NO \(Norway\) as false; quote the code: 'NO'"):
        load_catalog([bad], user_dir=False)
    bad.write_text(row.replace("country_iso2: NO", "country_iso2: 'NO'"))
    assert load_catalog([bad], user_dir=False).region("x", "r1").economic_area == ["EEA"]
