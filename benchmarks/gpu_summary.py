"""Write the one summary file of scripts/gpu-check.sh: machine, steps, figures and every failure.

Reads what the script left in its work folder: steps.tsv (one line per step: name, status, exit code,
seconds, log file, expectation), hw.json (`capplan hw --json`), probe.json (benchmarks/gpu_probe.py),
<step>.json (`capplan bench run --json`) with <step>.db (the step's store, for telemetry) and
pytest.xml (JUnit XML of `pytest -m gpu`). Anything missing is reported as missing, never invented.
"""

from __future__ import annotations

import argparse
import json
import platform
import xml.etree.ElementTree as ET  # noqa: S405  (parses the JUnit file pytest just wrote here)
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG_TAIL_LINES = 40
TELEMETRY = ("gpu_power_w_mean", "gpu_energy_j", "peak_device_mem_mb", "gpu_count")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def read_steps(work: Path) -> list[dict[str, str]]:
    rows = []
    for line in (work / "steps.tsv").read_text().splitlines() if (work / "steps.tsv").exists() else []:
        name, status, rc, seconds, log, expect = (line.split("\t") + [""] * 6)[:6]
        rows.append(
            {"name": name, "status": status, "rc": rc, "seconds": seconds, "log": log, "expect": expect}
        )
    return rows


def machine_section(work: Path) -> list[str]:
    hw = _load_json(work / "hw.json")
    out = ["## Machine", ""]
    if not isinstance(hw, dict):
        return [*out, "`capplan hw --json` gave no inventory (see the steps below).", ""]
    sw = hw.get("software", {})
    out.append(f"- host {hw.get('hostname')}, {hw.get('os')}, CPU {hw['cpu']['model']} "
               f"({hw['cpu']['logical_cores']} threads), {hw['memory']['total_gib']} GiB")
    out.append(f"- software: python {sw.get('python')}, torch {sw.get('torch')}, CUDA {sw.get('cuda')}, "
               f"cuDNN {sw.get('cudnn')}, driver {sw.get('nvidia_driver')}, "
               f"onnxruntime {sw.get('onnxruntime')} ({sw.get('onnxruntime_dist')})")
    for g in hw.get("gpus", []):
        out.append(f"- NVML GPU {g['index']}: {g['name']} {g['uuid']}, {g['memory_gib']} GiB, "
                   f"cc {g['compute_capability']}, {g['power_limit_w']} W, "
                   f"PCIe gen{g['pcie_gen']} x{g['pcie_width']}, NVLink links {g['nvlink_links']}")
    for d in hw.get("cuda_devices", []):
        out.append(f"- CUDA cuda:{d['ordinal']}: {d['name']} {d['uuid']}")
    if not hw.get("gpus") and not hw.get("cuda_devices"):
        out.append("- no GPU: NVML and CUDA see none")
    return [*out, ""]


def steps_section(steps: list[dict[str, str]]) -> list[str]:
    out = ["## Steps", "", "| step | status | exit | seconds | expected |", "| --- | --- | --- | --- | --- |"]
    out += [f"| {s['name']} | {s['status']} | {s['rc']} | {s['seconds']} | {s['expect'] or '-'} |"
            for s in steps]
    return [*out, ""]


def probe_section(work: Path) -> list[str]:
    probe = _load_json(work / "probe.json")
    out = ["## Raw-API probe (benchmarks/gpu_probe.py)", ""]
    if not isinstance(probe, dict):
        return [*out, "no probe output", ""]
    if probe.get("status") != "ran":
        return [*out, f"{probe.get('status')}", ""]
    out.append(f"{probe['device_name']} (cc {probe['compute_capability']}), torch {probe['torch']}, "
               f"CUDA {probe['cuda']}, {probe['cuda_device_count']} CUDA device(s)")
    out.append("")
    for key in ("gemm_bf16", "gemm_fp8", "gemm_fp8_fast_accum", "gemm_int8"):
        sec = probe.get(key, {})
        if "error" in sec:
            out.append(f"- {key}: ERROR {sec['error']}")
        elif sec:
            peak = sec.get("catalog_peak_tflops")
            of_peak = (f"; {100 * sec['events_tflops'] / peak:.0f} % of the catalog's {peak:g} "
                       f"({sec.get('catalog_peak_source')})" if peak else "; no catalog peak for this GPU")
            out.append(f"- {key} 8192^3: {sec['events_tflops']:.1f} TFLOP/s by CUDA events (median call "
                       f"{sec['events_ms_median']:.3f} ms), {sec['wall_tflops']:.1f} by the wall clock "
                       f"(wall/events {sec['wall_over_events']:.3f}){of_peak}")
    uuid = probe.get("uuid", {})
    for row in uuid.get("devices", []):
        found = "found" if row.get("found_by_uuid") else f"NOT FOUND ({row.get('error')})"
        same = _fmt(row.get("nvml_index_equals_ordinal"))
        out.append(f"- NVML by UUID: cuda:{row['cuda_ordinal']} {row['torch_uuid']} {found}; "
                   f"NVML index {_fmt(row.get('nvml_index'))} (equals the CUDA ordinal: {same})")
    if "error" in uuid:
        out.append(f"- NVML UUID check: ERROR {uuid['error']}")
    energy = probe.get("energy", {})
    if "error" in energy:
        out.append(f"- NVML energy: ERROR {energy['error']}")
    elif energy:
        out.append(f"- NVML energy over {energy['seconds']:.2f} s of bf16 GEMMs: "
                   f"counter {_fmt(energy['counter_j'])} J, mean power {_fmt(energy['mean_power_w'])} W "
                   f"x time = {_fmt(energy['mean_power_x_time_j'])} J "
                   f"(ratio {_fmt(energy['counter_over_power_x_time'])}; "
                   f"power limit {_fmt(energy['power_limit_w'])} W)")
    if "nvml" in probe:
        out.append(f"- NVML: {probe['nvml']['error']}")
    return [*out, ""]


def _telemetry(store_path: Path) -> dict[str, dict[str, Any]]:
    """run_id -> the GPU telemetry figures of each record in a step's store."""
    if not store_path.exists():
        return {}
    from capplan.results.store import Store

    return {r.run_id: r.telemetry for r in Store(str(store_path), create=False).query()}


def runs_section(work: Path, steps: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """Per bench step: a table of its records; and the failures among them."""
    out: list[str] = ["## Benchmark records", ""]
    failures: list[str] = []
    for step in steps:
        report = _load_json(work / f"{step['name']}.json")
        if not isinstance(report, dict) or "runs" not in report:
            continue
        telemetry = _telemetry(work / f"{step['name']}.db")
        out += [f"### {step['name']} (suite {report.get('suite')})", "",
                "| benchmark | status | headline or reason | GPU W mean | GPU J | peak GPU MB |",
                "| --- | --- | --- | --- | --- | --- |"]
        for run in report["runs"]:
            t = telemetry.get(run.get("run_id") or "", {})
            text = run.get("headline") or run.get("error") or ""
            out.append(f"| {run['benchmark']} | {run['status']} | {text} | "
                       f"{_fmt(t.get('gpu_power_w_mean'))} | {_fmt(t.get('gpu_energy_j'))} | "
                       f"{_fmt(t.get('peak_device_mem_mb'))} |")
            if run["status"] in ("failed", "timeout", "oom"):
                failures.append(f"- {step['name']} / {run['benchmark']}: {run['status']}: {run.get('error')}")
        out.append("")
    return out, failures


def pytest_section(work: Path) -> tuple[list[str], list[str]]:
    out = ["## pytest -m gpu", ""]
    failures: list[str] = []
    path = work / "pytest.xml"
    if not path.exists():
        return [*out, "no JUnit report (the step did not run)", ""], failures
    root = ET.parse(path).getroot()  # noqa: S314
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    skipped: list[str] = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
            continue
        kind = {"failure": "failed"}.get(outcome.tag, outcome.tag)
        counts[kind] += 1
        message = (outcome.get("message") or "").strip().splitlines()
        if kind == "skipped":
            skipped.append(f"- {name}: {message[0] if message else ''}")
        else:
            detail = (outcome.text or "").strip().splitlines()[-15:]
            failures.append(f"- pytest {kind}: {name}: {message[0] if message else ''}\n\n```\n"
                            + "\n".join(detail) + "\n```")
    out.append(", ".join(f"{v} {k}" for k, v in counts.items()))
    if skipped:
        out += ["", "Skipped:", *skipped]
    return [*out, ""], failures


def harness_vs_bare(work: Path) -> list[str]:
    """The GPU self-check: harness bf16 GEMM (GPU suite record) against the probe's bare loop."""
    probe = _load_json(work / "probe.json") or {}
    bare = (probe.get("gemm_bf16") or {}).get("events_tflops")
    store = work / "gpu-suite.db"
    harness = None
    if store.exists() and bare:
        from capplan.results.store import RunFilter, Store

        runs = Store(str(store), create=False).query(RunFilter(benchmark="gemm-bf16-8192", status="ok"))
        metric = runs[0].metric("tflops_8192x8192x8192") if runs else None
        harness = metric.value if metric else None
    if not (bare and harness):
        return ["## Harness vs bare loop", "",
                "not measured (needs the probe and the GPU suite's gemm-bf16-8192)", ""]
    return ["## Harness vs bare loop", "",
            f"bf16 8192^3: harness {harness:.1f} TFLOP/s (runner subprocess, CUDA events, adaptive "
            f"rounds) vs bare loop {bare:.1f} TFLOP/s (probe, same call) = {harness / bare:.3f}x", ""]


def write_summary(work: Path, dest: Path, started: str) -> None:
    steps = read_steps(work)
    runs, run_failures = runs_section(work, steps)
    tests, test_failures = pytest_section(work)
    step_failures = [
        f"- step {s['name']}: {s['status']} (exit {s['rc']})\n\n```\n{_tail(Path(s['log']))}\n```"
        for s in steps if s["status"].startswith(("failed", "timed out"))
    ]
    failures = step_failures + run_failures + test_failures
    lines = [
        "# capplan GPU check",
        "",
        f"Written by `scripts/gpu-check.sh` (benchmarks/gpu_summary.py), started {started}, finished "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}, on {platform.node()}.",
        "",
        *machine_section(work),
        *steps_section(steps),
        *probe_section(work),
        *harness_vs_bare(work),
        *runs,
        *tests,
        f"## Failures ({len(failures)})",
        "",
        *(failures or ["none"]),
        "",
    ]
    dest.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True, help="the script's work folder")
    parser.add_argument("--out", type=Path, required=True, help="summary file to write (Markdown)")
    parser.add_argument("--started", default="", help="when the check started (ISO 8601)")
    args = parser.parse_args()
    write_summary(args.work, args.out, args.started)
    print(f"gpu-check: summary written to {args.out}")


if __name__ == "__main__":
    main()
