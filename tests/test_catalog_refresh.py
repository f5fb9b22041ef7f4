"""The refreshed catalog: pinned row counts, spot checks against the committed SkyPilot snapshot excerpts
(tests/data/skypilot-catalog, see its SOURCES.txt), and `capplan catalog import-skypilot` with its diff."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from capplan.catalog import load_catalog
from capplan.cli import main

EXCERPTS = Path(__file__).parent / "data" / "skypilot-catalog"
SNAPSHOT_FILES = {
    "AWS": "catalogs/v8/aws/vms.csv",
    "GCP": "catalogs/v8/gcp/vms.csv",
    "Lambda": "catalogs/v8/lambda/vms.csv",
    "Nebius": "catalogs/v8/nebius/vms.csv",
    "OCI": "catalogs/v8/oci/vms.csv",
    "Azure": "catalogs/v6/azure/vms.csv",
}


pytestmark = pytest.mark.usefixtures("isolated_config")  # tests/conftest.py: imports land in a temp dir


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def excerpt(provider: str) -> list[dict[str, str]]:
    with (EXCERPTS / SNAPSHOT_FILES[provider]).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def shipped(provider: str, instance: str, region: str):  # noqa: ANN201 - CloudInstance
    cat = load_catalog(user_dir=False)
    return next(i for i in cat.instances if i.key == (provider.lower(), instance.lower(), region.lower()))


def test_shipped_row_counts_are_pinned() -> None:
    """A change to the shipped catalog shows here as a reviewed diff."""
    cat = load_catalog(user_dir=False)
    assert len(cat.accelerators) == 42
    assert len(cat.instances) == 134
    assert Counter(i.provider for i in cat.instances) == {
        "AWS": 42, "GCP": 39, "Lambda": 16, "Azure": 14, "OCI": 14, "Nebius": 9
    }
    assert len(cat.purchase_rows) == 17


def test_cli_lists_meet_the_issue_and_every_row_is_sourced_and_dated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    iso = re.compile(r"\d{4}-\d{2}-\d{2}")
    code, out, _ = run_cli(["catalog", "list", "accelerators", "--json"], capsys)
    accs = json.loads(out)
    assert code == 0 and len(accs) >= 40
    assert all(a["source"].strip() and iso.fullmatch(a["source_date"]) and a["arch"] for a in accs)
    code, out, _ = run_cli(["catalog", "list", "instances", "--json"], capsys)
    insts = json.loads(out)
    assert code == 0 and len(insts) >= 90
    assert all(i["source"].strip() and iso.fullmatch(i["price_date"]) for i in insts)
    snapshot_rows = [i for i in insts if "skypilot-catalog" in i["source"]]
    assert len(snapshot_rows) == 134
    # The snapshot commit dates could not be read (see SOURCES.txt): the output says "read", never "commit".
    assert all(i["snapshot_commit"] and i["price_date_basis"] == "read" for i in snapshot_rows)
    p5 = next(i for i in insts if (i["instance"], i["region"]) == ("p5.48xlarge", "us-east-1"))
    assert p5["price_label"].startswith("read 2026-11-30 from snapshot 00148f2a")  # "; STALE" from 2027-05-30


def test_refreshed_rows_match_the_snapshot_excerpts() -> None:
    """Eleven rows, each compared with the excerpt's own cells (derivation rules: SOURCES.txt there)."""
    aws = excerpt("AWS")
    for itype in ("p5.48xlarge", "p5en.48xlarge", "p4d.24xlarge", "g6e.xlarge", "p6-b200.48xlarge"):
        cells = [r for r in aws if (r["InstanceType"], r["Region"]) == (itype, "us-east-1")]
        row = shipped("AWS", itype, "us-east-1")
        assert row.on_demand_usd_per_hour == float(cells[0]["Price"]), itype
        # spot: the cell of the zone the row's source names as the lowest
        zone = re.search(r"lowest us-east-1 AZ \((use1-az\d)\)", row.source)
        assert zone is not None, row.source
        cell = next(r for r in cells if r["AvailabilityZone"] == zone.group(1))
        assert row.spot_usd_per_hour == float(cell["SpotPrice"])
        assert row.snapshot_commit == "00148f2af3672e2229b4f7bf8157d5a3f36e3c35"
    for provider, itype, region in [
        ("Lambda", "gpu_8x_h100_sxm5", "us-east-1"),
        ("Lambda", "gpu_8x_b200_sxm6", "us-east-1"),
        ("Nebius", "gpu-h200-sxm_8gpu-128vcpu-1600gb", "eu-north1"),
        ("OCI", "BM.GPU.MI300X.8", "us-phoenix-1"),
        ("Azure", "Standard_ND96isr_H100_v5", "eastus"),
    ]:
        cells = next(r for r in excerpt(provider) if (r["InstanceType"], r["Region"]) == (itype, region))
        assert shipped(provider, itype, region).on_demand_usd_per_hour == float(cells["Price"]), itype
    nebius = next(r for r in excerpt("Nebius") if r["InstanceType"] == "gpu-h200-sxm_8gpu-128vcpu-1600gb")
    assert shipped("Nebius", "gpu-h200-sxm_8gpu-128vcpu-1600gb", "eu-north1").spot_usd_per_hour == float(
        nebius["SpotPrice"]
    )
    # GCP bills the GPUs apart from the host: the row's price is host row + 8 x H100 GPU-only row.
    gcp = excerpt("GCP")
    host = next(r for r in gcp if (r["InstanceType"], r["Region"]) == ("a3-highgpu-8g", "us-east4"))
    gpus = next(
        r for r in gcp
        if (r["AcceleratorName"], r["AcceleratorCount"], r["Region"]) == ("H100", "8", "us-east4")
    )
    row = shipped("GCP", "a3-highgpu-8g", "us-east4")
    assert row.on_demand_usd_per_hour == pytest.approx(float(host["Price"]) + float(gpus["Price"]), abs=1e-9)
    spot = float(host["SpotPrice"]) + float(gpus["SpotPrice"])
    assert row.spot_usd_per_hour == pytest.approx(spot, abs=1e-9)


def test_known_caveats_stay_flagged() -> None:
    """The GCP us-central1 H100 GPU row (4.20/GPU) looks like a placeholder, Azure v6 prices are below a newer
    list and AWS p5e/trn2 have no on-demand price in the snapshot: each row says so."""
    assert "SUSPECT" in (shipped("GCP", "a3-highgpu-8g", "us-central1").notes or "")
    assert "SUSPECT" in (shipped("Azure", "Standard_NC80adis_H100_v5", "eastus").notes or "")
    for itype, region in (("p5e.48xlarge", "us-east-2"), ("trn2.48xlarge", "us-east-2")):
        row = shipped("AWS", itype, region)
        assert row.on_demand_usd_per_hour is None and row.spot_usd_per_hour
        assert "NO ON-DEMAND PRICE" in (row.notes or "")


def test_import_of_the_excerpts_reproduces_the_shipped_prices(capsys: pytest.CaptureFixture[str]) -> None:
    """The converter, run over the committed excerpts, finds every shipped row at its shipped prices."""
    code, out, err = run_cli(["catalog", "import-skypilot", str(EXCERPTS), "--dry-run", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert {s["provider"]: s["file"] for s in summary["snapshots"]} == SNAPSHOT_FILES
    assert summary["changed"] == [] and summary["added"] == [] and summary["removed"] == []
    assert summary["unchanged"] == 134 and summary["skipped"] == [] and summary["written"] is None


def _git(repo: Path, *args: str) -> str:
    when = "2026-10-05T12:00:00Z"
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    argv = ["git", "-C", str(repo), *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    return done.stdout.strip()


def test_import_from_a_git_checkout_diffs_and_writes_an_override(
    tmp_path: Path, isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkout whose Lambda file has one price raised, one row gone, one new type and one unknown GPU."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to test snapshot commits")
    repo = tmp_path / "skypilot-catalog"
    target = repo / SNAPSHOT_FILES["Lambda"]
    target.parent.mkdir(parents=True)
    rows = excerpt("Lambda")
    fields = list(rows[0])
    a10 = next(r for r in rows if r["InstanceType"] == "gpu_1x_a10")
    a10["Price"] = "1.50"  # shipped 1.29
    rows = [r for r in rows if r["InstanceType"] != "gpu_1x_a6000"]
    h100 = next(r for r in rows if r["InstanceType"] == "gpu_1x_h100_sxm5")
    rows.append({**h100, "InstanceType": "gpu_2x_h100_sxm5", "AcceleratorCount": "2", "Price": "8.58"})
    rows.append({**h100, "InstanceType": "gpu_1x_mystery", "AcceleratorName": "MI999", "Price": "1.00"})
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "snapshot")
    head = _git(repo, "rev-parse", "HEAD")

    code, out, err = run_cli(["catalog", "import-skypilot", str(repo), "--dry-run", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["snapshots"] == [
        {"provider": "Lambda", "file": SNAPSHOT_FILES["Lambda"], "commit": head, "commit_date": "2026-10-05"}
    ]
    (change,) = summary["changed"]
    assert change["instance"] == "gpu_1x_a10"
    assert (change["on-demand"]["old"], change["on-demand"]["new"]) == (1.29, 1.5)
    assert change["on-demand"]["pct"] == pytest.approx(16.28, abs=0.01)  # (1.50 - 1.29) / 1.29 = 16.28 %
    assert summary["added"] == ["Lambda gpu_2x_h100_sxm5 us-east-1"]
    assert summary["removed"] == ["Lambda gpu_1x_a6000 us-east-1"]
    assert len(summary["skipped"]) == 1 and "'MI999' is not in the capplan catalog" in summary["skipped"][0]
    assert not isolated_config.exists()  # dry run: nothing written

    code, out, err = run_cli(["catalog", "import-skypilot", str(repo)], capsys)
    assert code == 0, err
    written = isolated_config / "skypilot-import.csv"
    assert f"wrote 16 rows to {written}" in " ".join(out.split())  # 16 Lambda rows - 1 removed + 1 added
    cat = load_catalog()  # the override file is read by every later command
    a10_row = next(i for i in cat.instances if i.key == ("lambda", "gpu_1x_a10", "us-east-1"))
    assert a10_row.on_demand_usd_per_hour == 1.5 and a10_row.price_date == "2026-10-05"
    assert a10_row.price_age().label().startswith(f"snapshot {head[:8]} committed 2026-10-05")
    new = next(i for i in cat.instances if i.key == ("lambda", "gpu_2x_h100_sxm5", "us-east-1"))
    assert (new.gpu_name, new.gpu_count) == ("NVIDIA H100 SXM", 2)
    # a row the import keeps curated: name and notes of the shipped row survive the refresh
    assert next(i for i in cat.instances if i.key == ("lambda", "gpu_8x_h100_sxm5", "us-east-1")).notes
    code, out, err = run_cli(["catalog", "check"], capsys)
    assert code == 0 and "0 error(s)" in out, err
