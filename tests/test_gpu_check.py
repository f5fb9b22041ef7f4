"""scripts/gpu-check.sh's own pieces on a CPU machine: the summary writer fed what a GPU run leaves
(figures and failures of every kind), the probe's NVML UUID check against a fake NVML, and the shell
scripts' syntax. The script end to end: `scripts/gpu-wheels.sh && bash scripts/gpu-check.sh` (README)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from capplan.hardware.inventory import CudaDevice
from capplan.harness.runner import PlannedBenchmark, RunEnvironment, run_benchmarks
from capplan.harness.spec import BenchmarkSpec
from capplan.results.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Invented figures in the shape gpu_probe.py writes: they only check the summary's wording.
PROBE = {
    "status": "ran", "torch": "2.11.0+cu130", "cuda": "13.0", "device": "cuda:0",
    "device_name": "NVIDIA H200", "compute_capability": "9.0", "cuda_device_count": 1, "nvml_driver": "580.1",
    "gemm_bf16": {"events_ms_median": 1.40, "wall_ms_mean": 1.41, "events_tflops": 785.4,
                  "wall_tflops": 779.8, "wall_over_events": 1.007, "catalog_peak_tflops": 989.5,
                  "catalog_peak_source": "catalog: NVIDIA H200 SXM"},
    "gemm_fp8": {"error": "RuntimeError: boom", "traceback": "..."},
    "uuid": {"devices": [{"cuda_ordinal": 0, "torch_uuid": "GPU-b", "found_by_uuid": True, "nvml_index": 3,
                          "nvml_index_equals_ordinal": False}], "all_found": True},
    "energy": {"seconds": 5.0, "power_samples": 100.0, "mean_power_w": 650.0, "counter_j": 3240.0,
               "mean_power_x_time_j": 3250.0, "counter_over_power_x_time": 0.997, "power_limit_w": 700.0},
}
JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_micro_kinds" name="test_gpu_micro_kinds[cuda]"/>
<testcase classname="tests.test_model_infer" name="test_infer_on_cuda[onnxruntime-fp16]">
  <skipped message="needs onnxruntime-gpu"/></testcase>
<testcase classname="tests.test_distributed" name="test_nccl_ranks_one_per_gpu">
  <failure message="AssertionError: statuses differ">tests/test_distributed.py:180: AssertionError</failure>
</testcase></testsuite></testsuites>"""


def test_summary_has_figures_and_every_failure(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "probe.json").write_text(json.dumps(PROBE))
    (work / "pytest.xml").write_text(JUNIT)
    (work / "quick-cuda.log").write_text("line 1\nTraceback: the last words of a dead step\n")
    # a real store and `bench run --json` report: one record skipped by the real runner (no CUDA here)
    env = RunEnvironment(inventory={}, software={}, fingerprint="t")
    spec = BenchmarkSpec(name="gemm-fp32-1024", kind="gemm", device="cuda:0")
    store = Store(str(work / "gpu-suite.db"))
    (event,) = run_benchmarks([PlannedBenchmark(spec, {})], store, suite="gpu", env=env)
    record = event.record
    runs = [{"benchmark": "gemm-fp32-1024", "run_id": record.run_id, "status": record.status.value,
             "error": record.error, "headline": None},
            {"benchmark": "train-bert-fp16", "run_id": None, "status": "oom", "error": "CUDA out of memory",
             "headline": None}]
    (work / "gpu-suite.json").write_text(json.dumps({"suite": "gpu", "runs": runs}))
    (work / "steps.tsv").write_text(
        f"probe\tok\t0\t20\t{work}/probe.log\tnear peak\n"
        f"quick-cuda\tfailed\t1\t3\t{work}/quick-cuda.log\tok\n"
        f"gpu-suite\tok\t0\t150\t{work}/gpu-suite.log\tok\n"
        f"pytest-gpu\tnot run: time budget spent\t-\t0\t{work}/pytest-gpu.log\tpass\n"
    )
    summary = tmp_path / "summary.md"
    _module("gpu_summary").write_summary(work, summary, "2026-11-30T00:00:00Z")
    text = summary.read_text()
    assert "785.4 TFLOP/s by CUDA events" in text and "wall/events 1.007" in text
    assert "79 % of the catalog's 989.5 (catalog: NVIDIA H200 SXM)" in text  # 785.4 / 989.5 = 0.794
    assert "gemm_fp8: ERROR RuntimeError: boom" in text
    assert "cuda:0 GPU-b found; NVML index 3 (equals the CUDA ordinal: False)" in text
    assert "counter 3240 J, mean power 650 W x time = 3250 J (ratio 0.997" in text
    assert "| gemm-fp32-1024 | skipped | requires cuda: no CUDA device visible to torch |" in text
    assert "| pytest-gpu | not run: time budget spent |" in text
    assert "1 passed, 1 failed, 0 error, 1 skipped" in text
    failures = text.split("## Failures (3)")[1]  # the dead step, the oom record, the failed test
    assert "step quick-cuda: failed (exit 1)" in failures and "the last words of a dead step" in failures
    assert "gpu-suite / train-bert-fp16: oom: CUDA out of memory" in failures
    assert "pytest failed: tests.test_distributed::test_nccl_ranks_one_per_gpu" in failures


class _Nvml:
    def __init__(self, uuids: list[str]) -> None:
        self.uuids = uuids

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        if uuid not in self.uuids:
            raise RuntimeError("NVMLError_NotFound")
        return self.uuids.index(uuid)

    def nvmlDeviceGetName(self, h: int) -> str:
        return "NVIDIA H200"

    def nvmlDeviceGetIndex(self, h: int) -> int:
        return h


def test_probe_finds_cuda_devices_in_nvml_by_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _module("gpu_probe")
    devices = [CudaDevice(ordinal=0, name="g", uuid="GPU-b", memory_gib=141, compute_capability="9.0"),
               CudaDevice(ordinal=1, name="g", uuid="GPU-gone", memory_gib=141, compute_capability="9.0")]
    monkeypatch.setattr(probe, "torch_cuda_devices", lambda: devices)
    found: dict[str, Any] = probe.uuid_check(_Nvml(["GPU-a", "GPU-b"]))  # CUDA_VISIBLE_DEVICES=1,...
    first, second = found["devices"]
    assert (first["found_by_uuid"], first["nvml_index"]) == (True, 1)
    assert first["nvml_index_equals_ordinal"] is False
    assert not second["found_by_uuid"] and "GPU-gone" in second["error"] and not found["all_found"]
    if not torch.cuda.is_available():
        assert probe.probe("cuda:0")["status"] == "skipped: no CUDA"


@pytest.mark.parametrize("script", ["gpu-check.sh", "gpu-wheels.sh"])
def test_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], check=True)


# What a bare GPU machine already has (issue 20), and what the GPU check never imports.
ON_THE_MACHINE = {"torch", "numpy", "pandas", "psutil", "scipy", "rich", "typer", "pyyaml", "pytest",
                  "hypothesis", "nvidia-ml-py", "onnx", "onnxruntime"}
NOT_USED_BY_THE_CHECK = {"pyarrow": "Parquet export", "streamlit": "dashboard",
                         "plotly": "dashboard, reports", "psycopg": "PostgreSQL stores",
                         "openpyxl": "Excel report", "httpx": "bench serve (not in the gpu suite)",
                         "starlette": "reference-server", "uvicorn": "reference-server",
                         "highspy": "planner MILP (capplan plan)"}


def test_carried_wheels_cover_every_dependency_the_check_imports() -> None:
    """A dependency added to pyproject.toml must be carried by scripts/gpu-wheels.sh or said unused."""
    import re
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    script = (ROOT / "scripts" / "gpu-wheels.sh").read_text()
    carried = {canonicalize_name(m) for m in re.findall(r"^([A-Za-z0-9_.-]+)==", script, re.MULTILINE)}
    assert needed - ON_THE_MACHINE - set(NOT_USED_BY_THE_CHECK) <= carried
    assert not carried & ON_THE_MACHINE  # never a second copy of the machine's own packages (torch!)
