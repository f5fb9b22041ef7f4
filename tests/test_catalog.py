"""Catalog: shipped rows carry sources and dates, lookups by alias, user overrides, bad rows, SkyPilot
import."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from capplan.catalog import PRICE_MODELS, load_catalog
from capplan.cli import main
from capplan.errors import UserError

pytestmark = pytest.mark.usefixtures("isolated_config")  # tests/conftest.py: no developer overrides


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_shipped_catalog_meets_coverage_and_provenance() -> None:
    cat = load_catalog()
    assert len(cat.accelerators) >= 40
    assert len(cat.instances) >= 90
    assert {"AWS", "GCP", "Azure", "Lambda", "Nebius", "OCI"} <= {i.provider for i in cat.instances}
    kinds = {a.kind for a in cat.accelerators}
    assert {"gpu", "cpu", "accelerator"} <= kinds
    for row in [*cat.accelerators, *cat.instances]:
        assert row.source.strip()
    assert all(a.source_date.strip() for a in cat.accelerators)
    assert all(i.price_date.strip() for i in cat.instances)
    # Every instance's GPU resolves to a catalog accelerator, so cost and projection can join them.
    assert all(cat.find_accelerator(i.gpu_name) is not None for i in cat.instances if i.gpu_name)


def test_reference_caveats_stay_flagged() -> None:
    """shared/reference/README.md warns about GCP us-central1 A100-80GB and H100 prices; the rows keep
    that."""
    cat = load_catalog()
    suspect = {(i.instance, i.region) for i in cat.instances if i.notes and "SUSPECT" in i.notes}
    assert ("a2-ultragpu-8g", "us-central1") in suspect
    assert ("a3-highgpu-1g", "us-central1") in suspect


def test_dense_peaks_are_consistent() -> None:
    """Tensor peaks never fall below the FP32 peak, and a 16-bit peak is at least the TF32 peak."""
    for acc in load_catalog().accelerators:
        fp32, tf32, bf16 = acc.peak_tflops("fp32"), acc.peak_tflops("tf32"), acc.peak_tflops("bf16")
        if tf32 and fp32:
            assert tf32 >= fp32 * 0.99, acc.name
        if bf16 and tf32:
            assert bf16 >= tf32, acc.name


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("H100", "NVIDIA H100 SXM"),
        ("h100-sxm-80gb", "NVIDIA H100 SXM"),
        ("A100-80GB", "NVIDIA A100 80GB SXM"),
        ("L4", "NVIDIA L4"),
        ("Tesla T4", "NVIDIA T4"),
        ("MI300X", "AMD Instinct MI300X"),
        ("nvidia l40s", "NVIDIA L40S"),
    ],
)
def test_accelerator_lookup_accepts_aliases(alias: str, canonical: str) -> None:
    assert load_catalog().accelerator(alias).name == canonical


def test_unknown_accelerator_lists_close_matches() -> None:
    with pytest.raises(UserError, match="close matches: .*H100"):
        load_catalog().accelerator("H110")


def test_instances_for_and_per_gpu_prices() -> None:
    cat = load_catalog()
    rows = cat.instances_for("H100")
    assert rows and all(cat.accelerator(r.gpu_name).name == "NVIDIA H100 SXM" for r in rows)
    prices = [r.on_demand_usd_per_hour for r in rows]
    assert prices == sorted(prices)
    p5 = next(r for r in rows if r.instance == "p5.48xlarge")
    assert p5.price_per_gpu_usd_per_hour("on_demand") == pytest.approx(p5.on_demand_usd_per_hour / 8)
    assert p5.price_usd_per_hour("reserved_3y") is None  # no cited reserved price: empty, not invented
    assert set(PRICE_MODELS) == {"on_demand", "reserved_1y", "reserved_3y", "spot"}


def test_yaml_override_changes_price_in_catalog_list(
    isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolated_config.mkdir(parents=True)
    (isolated_config / "prices.yaml").write_text(
        "instances:\n"
        "  - {provider: AWS, instance: g6.xlarge, region: us-east-1, on_demand_usd_per_hour: 0.5,\n"
        "     reserved_1y_usd_per_hour: 0.4, price_date: 2026-11-01, source: our AWS enterprise agreement}\n"
    )
    code, out, _ = run_cli(["catalog", "list", "instances", "--json"], capsys)
    assert code == 0
    row = next(r for r in json.loads(out) if r["instance"] == "g6.xlarge" and r["region"] == "us-east-1")
    assert row["on_demand_usd_per_hour"] == 0.5
    assert row["reserved_1y_usd_per_hour"] == 0.4
    assert row["source"] == "our AWS enterprise agreement"
    assert row["price_label"].startswith("published 2026-11-01")
    shipped = next(i for i in load_catalog(user_dir=False).instances if i.key == ("aws", "g6.xlarge", "us-east-1"))
    assert row["spot_usd_per_hour"] == shipped.spot_usd_per_hour  # fields the override leaves out keep shipped values


def test_csv_override_via_option_adds_accelerator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = tmp_path / "mine.csv"
    extra.write_text("name,vendor,kind,memory_gib,mem_bw_gbps,fp32_tflops,source,source_date,aliases\n"
                     "Lab CPU,AMD,cpu,,460.8,7.37,our lab sheet,2026-11-28,labcpu;zen4-lab\n")
    code, out, _ = run_cli(["catalog", "list", "accelerators", "--json", "--catalog", str(extra)], capsys)
    assert code == 0
    added = next(a for a in json.loads(out) if a["name"] == "Lab CPU")
    assert added["aliases"] == ["labcpu", "zen4-lab"]
    assert load_catalog([extra]).accelerator("zen4-lab").mem_bw_gbps == 460.8


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "bad.csv",
            "provider,instance,region,on_demand_usd_per_hour,price_date,source\nAWS,x1,us-east-1,-3,2026-01-02,me\n",
            r"bad\.csv: instances row 1: field 'on_demand_usd_per_hour'",
        ),
        (
            "bad.yaml",
            "accelerators:\n  - {name: H100, memory_gb: 80}\n",
            r"bad\.yaml: accelerators row 1: field 'memory_gb': not a known field; allowed: .*memory_gib",
        ),
        (
            "new.yaml",
            "accelerators:\n  - {name: Brand New, vendor: X}\n",
            r"new\.yaml: accelerators row 1: field 'source'",
        ),
        ("shape.yaml", "gpus: []\n", r"shape\.yaml: expected one top-level key"),
    ],
)
def test_bad_override_rows_name_file_row_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, expected: str
) -> None:
    bad = tmp_path / name
    bad.write_text(text)
    code, out, err = run_cli(["catalog", "list", "instances", "--catalog", str(bad)], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert __import__("re").search(expected, err), err


# Rows in SkyPilot's catalog layouts (column orders from shared/reference/README.md). Prices are the
# rows the reference cites: AWS g5.xlarge us-east-1 (spot 0.397 in use1-az2, 0.418 elsewhere); GCP
# a2-highgpu-1g host 0.73948 (spot 0.29576) + the GPU-only A100 x1 row 2.93391 (spot 1.1472).
AWS_CSV = """InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone
g5.xlarge,A10G,1,4,16,"{'Gpus': []}",1.006,0.418,us-east-1,use1-az1
g5.xlarge,A10G,1,4,16,"{'Gpus': []}",1.006,0.397,us-east-1,use1-az2
m5.large,,,2,8,,0.096,0.03,us-east-1,use1-az1
"""
GCP_CSV = """InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice
a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-a,0.73948,0.29576
a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-b,0.73948,0.29576
,,,A100,1,,us-central1,us-central1-a,2.93391,1.1472
n2-standard-8,8.0,32.0,,,,us-central1,us-central1-a,0.388,0.09
"""


@pytest.mark.parametrize(("layout", "instance", "gpu", "od", "spot"), [
    (AWS_CSV, "g5.xlarge", "NVIDIA A10G", 1.006, 0.397),
    (GCP_CSV, "a2-highgpu-1g", "NVIDIA A100 40GB SXM", 3.67339, 1.44296),
])
def test_import_skypilot_matches_reference_rows(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    layout: str,
    instance: str,
    gpu: str,
    od: float,
    spot: float,
) -> None:
    src, out = tmp_path / "vms.csv", tmp_path / "converted.csv"
    src.write_text(layout)
    provider = "aws" if layout is AWS_CSV else "gcp"
    code, _, err = run_cli(
        ["catalog", "import-skypilot", str(src), "--provider", provider, "-o", str(out), "--note", "test rows"],
        capsys,
    )
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and rows[0]["instance"] == instance
    assert rows[0]["gpu_name"] == gpu
    assert float(rows[0]["on_demand_usd_per_hour"]) == pytest.approx(od)
    assert float(rows[0]["spot_usd_per_hour"]) == pytest.approx(spot)
    assert "test rows" in rows[0]["source"]
    assert load_catalog([out]).instances_for(gpu)  # the output is a valid --catalog override file


def test_import_skypilot_rejects_other_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "other.csv"
    src.write_text("a,b\n1,2\n")
    code, _, err = run_cli(["catalog", "import-skypilot", str(src), "--dry-run"], capsys)
    assert code == 2 and "does not say which cloud" in err and "--provider" in err
    code, _, err = run_cli(["catalog", "import-skypilot", str(src), "--provider", "aws", "--dry-run"], capsys)
    assert code == 2 and "not a SkyPilot AWS vms.csv; missing column(s) InstanceType" in err
