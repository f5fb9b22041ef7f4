"""Shipped calibration data and the hold-out validation of the projection: counts, coverage, provenance
and the validation figures are pinned, so a change of data or model shows up as a reviewed diff."""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from capplan.catalog import load_catalog
from capplan.cli import main
from capplan.errors import UserError
from capplan.perfmodel import named_workload, project
from capplan.perfmodel.calibration import Context, PointTable, select
from capplan.perfmodel.named import WORKLOADS
from capplan.perfmodel.points import published_points
from capplan.perfmodel.roofline import peak_dtype
from capplan.perfmodel.validate import ValidationReport, check_external, validate
from capplan.results.store import Store

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "capplan" / "catalog" / "data"
# The issue's workloads and the MLPerf benchmark folders that carry them.
ISSUE_WORKLOADS = {
    "gpt-j-6b",
    "llama2-70b",
    "llama3.1-8b",
    "llama3.1-405b",
    "mixtral-8x7b",
    "retinanet",
    "stable-diffusion-xl",
    "dlrm-v2",
    "bert-99",
    "whisper",
    "resnet50",
}
SOURCE = re.compile(r"^github\.com/\S+ \(commit [0-9a-f]{8,40}\) \S+")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog(user_dir=False)


@pytest.fixture(scope="module")
def points(catalog):  # type: ignore[no-untyped-def]
    return published_points(catalog)


@pytest.fixture(scope="module")
def report(points, catalog) -> ValidationReport:  # type: ignore[no-untyped-def]
    return validate(points, catalog)


def test_shipped_inference_results_cover_the_issue() -> None:
    data = rows("published_mlperf.csv")
    assert len(data) == 497
    assert Counter(r["round"] for r in data) == {
        "v3.0": 4,
        "v3.1": 10,
        "v4.0": 26,
        "v5.0": 14,
        "v5.1": 302,
        "v6.0": 141,
    }
    assert Counter(r["scenario"] for r in data) == {"Offline": 281, "Server": 216}
    assert {int(r["accelerator_count"]) for r in data} == {1, 2, 3, 4, 8}
    vendors = Counter(r["accelerator"].split()[0] for r in data)
    assert vendors == {"NVIDIA": 426, "AMD": 63, "Intel": 4, "Google": 4}
    covered = {named_workload(r["benchmark"]).name for r in data}
    assert covered == ISSUE_WORKLOADS
    for r in data:
        assert SOURCE.match(r["source"]) and "Result VALID" in r["source"], r
        assert DATE.match(r["source_date"]), r
        assert r["dtype_source"].startswith(("published", "inferred")), r


# Shipped rows on devices whose catalog row has no cited compute peak (NVIDIA publishes the H200 NVL and
# RTX PRO 6000 tensor peaks in datasheets not yet read into the catalog): kept as data, not points.
NO_CITED_PEAK = {"NVIDIA H200 NVL": 46, "NVIDIA RTX PRO 6000 Blackwell Server Edition": 70}


def test_every_shipped_row_on_a_device_with_a_cited_peak_becomes_a_point(points, catalog) -> None:  # type: ignore[no-untyped-def]
    """Each row resolves to a catalog accelerator and a named workload; it calibrates when that
    accelerator has a cited peak; the rows that do not are exactly those of the devices without one."""
    inference = [p for p in points if p.task != "train"]
    data = rows("published_mlperf.csv")
    assert {p.accelerator for p in inference} <= {a.name for a in catalog.accelerators}
    assert Counter(p.task for p in inference) == {"generate": 286, "infer": 95}
    without = Counter(catalog.find_accelerator(r["accelerator"]).name for r in data
                      if catalog.find_accelerator(r["accelerator"]).name in NO_CITED_PEAK)
    assert without == NO_CITED_PEAK
    assert all(catalog.accelerator(name).bf16_tflops_dense is None for name in NO_CITED_PEAK)
    assert len(inference) == len(data) - sum(NO_CITED_PEAK.values())


def test_no_held_out_round_anywhere_in_the_project() -> None:
    """The round reserved for an independent check appears nowhere: no row, file path or mention."""
    banned = [f"inference_results_v4{'.'}1", f"Inference v4{'.'}1", f"v4{'.'}1,"]
    assert all(r["round"] != "v4" + ".1" for r in rows("published_mlperf.csv"))
    for path in [
        *ROOT.glob("capplan/**/*"),
        *ROOT.glob("tests/*"),
        *ROOT.glob("docs/**/*"),
        ROOT / "README.md",
    ]:
        if path.is_file() and path.suffix in {".py", ".csv", ".md", ".yaml", ".txt", ".json"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(b in text for b in banned), path


def test_shipped_training_figures() -> None:
    data = rows("published_training.csv")
    assert len(data) == 35
    assert Counter(r["accelerator"] for r in data) == {
        "NVIDIA H100 SXM": 15,
        "NVIDIA GB300": 9,
        "NVIDIA GB200": 9,
        "NVIDIA B200": 2,
    }
    for r in data:
        assert SOURCE.match(r["source"]) and DATE.match(r["source_date"]), r
        assert r["workload"] in WORKLOADS


# The figures `capplan project validate` prints (median |error| %, share inside the 80% band), pinned.
PINNED = {
    "leave-one-out": {"offline": (215, 1.416, 87.44), "server": (166, 1.441, 84.34)},
    "leave-one-system-out": {"offline": (215, 1.666, 89.30), "server": (166, 1.591, 86.14)},
    "leave-one-accelerator-out": {"offline": (215, 10.543, 94.42), "server": (166, 12.305, 86.14)},
    "leave-one-architecture-out": {"offline": (215, 22.059, 73.95), "server": (166, 27.834, 72.29)},
}
PINNED_TRAINING = {
    "leave-one-out": (10.973, 74.29),
    "leave-one-model-out": (12.537, 74.29),
    "leave-one-architecture-out": (16.959, 85.71),
}


def test_validation_figures_are_pinned(report: ValidationReport) -> None:
    assert report.inference_results == 381 and report.training_results == 35
    assert report.band_coverage_pct == 80
    for mode, by_scenario in PINNED.items():
        got = report.mode(mode).by_scenario
        for scenario, (n, error, in_band) in by_scenario.items():
            assert got[scenario].n == n, (mode, scenario)
            assert got[scenario].median_abs_error_pct == pytest.approx(error, abs=5e-4), (mode, scenario)
            assert got[scenario].in_band_pct == pytest.approx(in_band, abs=5e-3), (mode, scenario)
    for mode, (error, in_band) in PINNED_TRAINING.items():
        got = report.mode(mode, training=True).overall
        assert got.n == 35
        assert got.median_abs_error_pct == pytest.approx(error, abs=5e-4), mode
        assert got.in_band_pct == pytest.approx(in_band, abs=5e-3), mode


def test_leave_one_system_out_meets_the_issue_targets(report: ValidationReport) -> None:
    loso = report.mode("leave-one-system-out").by_scenario
    assert loso["offline"].median_abs_error_pct <= 15
    assert loso["server"].median_abs_error_pct <= 20


def test_breakdowns_cover_every_workload_and_tier(report: ValidationReport) -> None:
    for mode in report.inference:
        assert set(mode.by_workload) == ISSUE_WORKLOADS
        assert sum(s.n for s in mode.by_tier.values()) == mode.overall.n
        # Errors are measured against what was published: recompute one from its row.
        row = mode.rows[0]
        assert row.error_pct == pytest.approx(100 * (row.projected - row.measured) / row.measured)
    # Holding the architecture out leaves no point on the held device's micro-architecture.
    loao = report.mode("leave-one-architecture-out")
    assert "same workload, same accelerator" not in loao.by_tier
    assert "same workload, same architecture" not in loao.by_tier
    assert "same workload, same accelerator" not in report.mode("leave-one-accelerator-out").by_tier


def test_validation_uses_the_projection_path(report: ValidationReport, points, catalog) -> None:  # type: ignore[no-untyped-def]
    """A leave-one-system-out row is what `project` gives from the other systems' points."""
    row = next(
        r
        for r in report.mode("leave-one-system-out").rows
        if r.workload == "llama2-70b" and r.scenario == "server" and r.accelerator == "AMD Instinct MI325X"
    )
    held = next(p for p in points if p.run_id == row.run_id)
    others = [p for p in points if p.system != held.system]
    proj = project(
        held.desc.model_copy(update={"batch": 1}),
        held.accelerator,
        count=held.count,
        dtype=held.dtype,
        catalog=catalog,
        points=others,
        scenario="server",
    )
    assert proj.throughput_per_s / held.count == pytest.approx(row.projected, rel=1e-9)
    assert proj.band_low / held.count == pytest.approx(row.band_low, rel=1e-9)


def test_server_factor_is_the_median_of_published_pairs(points) -> None:  # type: ignore[no-untyped-def]
    """Recomputed here from the CSV: Server / Offline of the same system and benchmark."""
    pairs: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for r in rows("published_mlperf.csv"):  # the rows that calibrate (their device has a cited peak)
        if r["benchmark"].startswith("llama2-70b") and r["accelerator"] not in NO_CITED_PEAK:
            pairs[(r["round"], r["submitter"], r["system"], r["benchmark"])][r["scenario"]] = float(
                r["result"]
            )
    ratios = [p["Server"] / p["Offline"] for p in pairs.values() if len(p) == 2]
    context = Context(PointTable(points))
    factor, n, level = context.factors.factor("llama2-70b", "llama")
    assert (n, level) == (len(ratios), "llama2-70b pairs")
    assert factor == pytest.approx(statistics.median(ratios))
    # A Server projection with no Server point in its tier is the Offline one times that factor.
    offline_only = [p for p in points if p.scenario != "server"]
    h100 = load_catalog(user_dir=False).accelerator("H100")
    desc = named_workload("llama2-70b", dtype="fp8")
    table = Context(PointTable(offline_only), factors=context.factors)
    server = select(desc, h100, table, "server")
    offline = select(desc, h100, table, "offline")
    assert server.efficiency == pytest.approx(offline.efficiency * factor)
    assert "factor" in server.scenario_basis


def test_results_not_in_the_project_are_judged_the_same_way(points, catalog) -> None:  # type: ignore[no-untyped-def]
    """`validate --against`: results absent from the calibration set are projected from it alone."""
    held = [
        p.model_copy(update={"run_id": f"elsewhere-{p.run_id}", "system": f"elsewhere/{p.system}"})
        for p in points
        if p.workload == "retinanet"
    ][:4]
    report = check_external(held, points, catalog)
    assert report.overall.n == 4 and report.rows[0].tier == "same workload, same accelerator"
    assert report.overall.median_abs_error_pct is not None and report.overall.median_abs_error_pct < 10


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_cli_validate_json_and_against(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ["--store", str(tmp_path / "r.db")]
    Store(str(tmp_path / "r.db")).close()
    code, out, _ = cli(["project", "validate", "--json", *store], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["inference_results"] >= 150 and doc["training_results"] >= 20
    assert [m["mode"] for m in doc["inference"]] == [
        "leave-one-out",
        "leave-one-system-out",
        "leave-one-accelerator-out",
        "leave-one-architecture-out",
    ]
    # A results file that is not shipped (here: two shipped rows re-labelled as another system).
    shipped = rows("published_mlperf.csv")
    other = tmp_path / "other.csv"
    with other.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(shipped[0]))
        writer.writeheader()
        for r in shipped[:2]:
            writer.writerow({**r, "system": r["system"] + "_elsewhere"})
    code, out, _ = cli(["project", "validate", "--json", "--against", str(other), *store], capsys)
    assert code == 0 and json.loads(out)["external"]["overall"]["n"] == 2
    code, _, err = cli(
        ["project", "validate", "--against", str(DATA / "published_mlperf.csv"), *store], capsys
    )
    assert code == 2 and "--against" in err and len(err.strip().splitlines()) == 1


ISSUE_DTYPES = {
    "bert-99": "int8",
    "resnet50": "int8",
    "retinanet": "int8",
    "dlrm-v2": "int8",
    "stable-diffusion-xl": "fp8",
    "whisper": "fp16",
}


def test_every_workload_projects_on_every_catalog_gpu(points, catalog) -> None:  # type: ignore[no-untyped-def]
    """The issue's workloads on every catalog GPU with a bandwidth and a peak for the dtype: a throughput
    when it fits, else the minimum device count (which then fits)."""
    gpus = [a for a in catalog.accelerators if a.kind == "gpu" and a.mem_bw_gbps]
    assert len(gpus) >= 20
    projected = 0
    for name in sorted(ISSUE_WORKLOADS):
        dtype = ISSUE_DTYPES.get(name, "fp8")
        for acc in gpus:
            try:
                peak_dtype(acc, dtype)
            except UserError:  # no cited peak for this precision (e.g. int8 on a V100): nothing to project
                assert not acc.peak_tflops(dtype), (name, acc.name)
                continue
            try:
                proj = project(
                    name, acc.name, count=8, dtype=dtype, catalog=catalog, points=points, scenario="offline"
                )
            except Exception as exc:  # noqa: BLE001 - name the pair that failed
                raise AssertionError(f"{name} on {acc.name}: {exc}") from exc
            if not proj.fits:
                proj = project(
                    name,
                    acc.name,
                    count=proj.min_devices,
                    dtype=dtype,
                    catalog=catalog,
                    points=points,
                    scenario="offline",
                )
            assert proj.fits and proj.throughput_per_s > 0, (name, acc.name)
            assert proj.band_low <= proj.throughput_per_s <= proj.band_high, (name, acc.name)
            projected += 1
    assert projected >= 11 * 20


def test_cli_projects_named_workloads_and_explains_misfits(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        [
            "project",
            "llama2-70b",
            "--to",
            "H200",
            "--count",
            "8",
            "--dtype",
            "fp8",
            "--task",
            "generate",
            "--json",
        ],
        capsys,
    )
    doc = json.loads(out)
    assert code == 0 and doc["scenario"] == "offline" and doc["throughput_unit"] == "tokens/s"
    assert doc["calibration_tier"] == "same workload, same accelerator" and doc["fits"]
    code, out, _ = cli(["project", "llama3.1-405b", "--to", "L4", "--dtype", "fp16"], capsys)
    assert code == 0 and "does not fit on 1 x NVIDIA L4" in out and "--count 36" in out
    code, _, err = cli(["project", "llama9-1t", "--to", "H100"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "allowed:" in err and "llama3.1-405b" in err and "stable-diffusion-xl" in err
    code, _, err = cli(["project", "whisper", "--to", "H100", "--scenario", "batchy"], capsys)
    assert code == 2 and "--scenario" in err
