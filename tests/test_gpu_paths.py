"""GPU code paths, checked on a CPU machine: the real code runs up to the one CUDA, NVML or ONNX Runtime
GPU call that cannot run here, and only that call is faked (torch's ``_cuda_setDevice`` and allocator
counters, a fake NVML module, ORT's provider list). Everything else is real: kinds, the runner's
subprocesses, a gloo process group, ONNX export and ORT's CPU execution provider."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import onnx
import pytest
import torch
import torch.distributed as dist

from capplan.hardware import inventory, telemetry
from capplan.hardware.inventory import cuda_uuids, onnxruntime_versions, torch_cuda_devices
from capplan.hardware.nvml import handle_by_uuid
from capplan.hardware.telemetry import sample_telemetry
from capplan.harness import device as device_module
from capplan.harness import launch
from capplan.harness.backends import onnxrt
from capplan.harness.backends.base import LoadRequest
from capplan.harness.backends.onnxrt import OrtBackend, OrtTensorrtBackend, export_onnx, providers_for
from capplan.harness.child import _device_peak_mb
from capplan.harness.device import cuda_index, device_sync, torch_device
from capplan.harness.dist_worker import collective_under_group
from capplan.harness.kinds import copy as copy_kind
from capplan.harness.kinds import gemm as gemm_kind
from capplan.harness.kinds.collective import CollectiveParams, free_port, run_collective
from capplan.harness.kinds.copy import CopyKind, CopyParams
from capplan.harness.kinds.ddp import DdpKind, DdpParams
from capplan.harness.kinds.gemm import CUDA_DTYPES, GemmKind, GemmParams
from capplan.harness.kinds.infer import InferKind, InferParams
from capplan.harness.kinds.model_common import PeakMemory
from capplan.harness.launch import LaunchOptions, rank_gpu_uuids
from capplan.harness.registry import KINDS, kind_info
from capplan.harness.runner import PlannedBenchmark, RunEnvironment, run_benchmarks
from capplan.harness.spec import BenchmarkSkipped, BenchmarkSpec, Budget, RunContext
from capplan.harness.suite import load_suite
from capplan.results.schema import Status
from capplan.results.store import Store
from capplan.workloads import TORCH_DTYPES, WorkloadParams, build_workload

TINY = Budget(warmup_min_iters=1, warmup_max_s=0.1, min_iters=3, max_iters=50, min_time_s=0.0, max_time_s=0.2)


def _spec(kind: str, **kw: Any) -> BenchmarkSpec:
    return BenchmarkSpec(name=f"t-{kind}", kind=kind, budget=TINY, **kw)


class _Reached(Exception):
    """Raised by a stand-in for the first allocation on the GPU: the code got that far."""


def _stop(*_args: Any, **_kw: Any) -> Any:
    raise _Reached


# --- 1. the documented `--device cuda` selects an indexed device -------------------------------------


@pytest.fixture
def set_device_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """torch.cuda.set_device runs for real (its argument checks included); only the driver call that
    the CPU build lacks records the ordinal instead."""
    calls: list[int] = []
    monkeypatch.setattr(torch._C, "_cuda_setDevice", calls.append, raising=False)
    return calls


@pytest.mark.parametrize(("device", "ordinal"), [("cuda", 0), ("cuda:0", 0), ("cuda:3", 3)])
def test_gemm_and_copy_select_the_named_gpu(
    device: str, ordinal: int, set_device_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch.cuda.set_device(torch.device("cuda")) raised ValueError before the first kernel
    monkeypatch.setattr(gemm_kind, "gemm_operands", _stop)
    with pytest.raises(_Reached):
        GemmKind().run(_spec("gemm", device=device), GemmParams(), RunContext(spec=_spec("gemm")))
    monkeypatch.setattr(copy_kind, "_copy_call", _stop)
    with pytest.raises(_Reached):
        CopyKind().run(_spec("copy", device=device), CopyParams(), RunContext(spec=_spec("copy")))
    assert set_device_calls == [ordinal, ordinal]


def test_device_names_map_to_cuda_ordinals(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [cuda_index(d) for d in ("cpu", "cuda", "cuda:0", "cuda:7")] == [None, 0, 0, 7]
    assert str(torch_device("cuda")) == "cuda:0" and str(torch_device("cpu")) == "cpu"
    synced: list[Any] = []
    monkeypatch.setattr(torch.cuda, "synchronize", synced.append)
    assert device_sync("cpu") is None
    device_sync("cuda:2")()  # dispatch, generate, train and DDP synchronise the spec's GPU, not GPU 0
    device_sync("cuda")()
    assert synced == [2, 0]


# --- 2. collectives over more than 64 ranks ----------------------------------------------------------


@pytest.fixture
def one_rank_group() -> Any:
    """A real single-rank gloo process group on 127.0.0.1."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_a_torchrun_group_of_128_ranks_is_not_capped_at_64(one_rank_group: Any) -> None:
    params = CollectiveParams(ops=["all_reduce"], sizes_bytes=[2**20], world_size=2, warmup_iters=0, iters=1)
    spec = _spec("collective")
    # The sizes are checked against the torchrun group (2**20 = 4 * 128 * 2048); the next check is
    # run_collective's own: this 1-rank group is not the 128 ranks the call claims.
    with pytest.raises(ValueError, match="process group is rank 0 of 1, not 0 of 128"):
        collective_under_group(spec, params, 0, 128, "cpu")
    odd = params.model_copy(update={"sizes_bytes": [4 * 64]})
    with pytest.raises(ValueError, match=r"multiple of 4 \* world_size = 512 \(torchrun group of 128\)"):
        collective_under_group(spec, odd, 0, 128, "cpu")


@pytest.mark.filterwarnings("ignore:`torch.distributed.*` is deprecated:FutureWarning")  # the older names
@pytest.mark.parametrize("newer_api", [True, False])
def test_gather_and_scatter_on_either_torch_api(
    newer_api: bool, one_rank_group: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """all_gather_single/reduce_scatter_single where this torch has them (2.13 here), else the older
    all_gather_into_tensor/reduce_scatter_tensor: both branches run on a real gloo group."""
    if not newer_api:
        monkeypatch.delattr(dist, "all_gather_single")
        monkeypatch.delattr(dist, "reduce_scatter_single")
    gathered = run_collective("all_gather", [4096], 1, 0, warmup_iters=0, iters=2)
    scattered = run_collective("reduce_scatter", [4096], 1, 0, warmup_iters=0, iters=2)
    assert len(gathered[4096]) == len(scattered[4096]) == 2


# --- 3. ONNX Runtime fp16 -----------------------------------------------------------------------------


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAPPLAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fp16_mlp_request(dtype: str = "fp16") -> LoadRequest:
    w = build_workload(WorkloadParams(model="mlp"), 0)
    w.model.to(dtype=torch.float16).eval()
    example = w.make_inputs(2, torch.Generator().manual_seed(0))  # fp32, as load_backend makes them
    return LoadRequest(w, "cpu", dtype, example)


def test_fp16_export_takes_fp16_inputs_and_is_a_valid_graph(cache_dir: Path) -> None:
    path, cached = export_onnx(_fp16_mlp_request())
    model = onnx.load(str(path), load_external_data=False)
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.FLOAT16]
    onnx.checker.check_model(str(path), full_check=True)  # "Gemm bound to float and float16" before
    assert not cached and export_onnx(_fp16_mlp_request())[1] is True


def test_a_broken_export_is_refused_and_never_cached(cache_dir: Path) -> None:
    # fp16 weights declared as an fp32 model: the graph mixes float and float16, as the old export did
    with pytest.raises(ValueError, match="onnx export is not a valid graph"):
        export_onnx(_fp16_mlp_request(dtype="fp32"))
    assert not list(cache_dir.glob("onnx/*/model.onnx"))


def test_fp16_onnxruntime_inference_runs_and_matches_eager(cache_dir: Path) -> None:
    spec = _spec("infer", backend="onnxruntime", dtype="fp16", params={"model": "mlp", "batches": [1, 4]})
    params = InferParams.model_validate(spec.params)
    result = InferKind().run(spec, params, RunContext(spec=spec, log=lambda _: None))
    # prepare() casts the fp32 inputs to the graph's fp16; the output check passed before timing
    assert result.config["dtype"] == "fp16" and result.config["ort_providers"] == "CPUExecutionProvider"
    assert result.config["verify_max_abs_diff"] <= result.config["verify_atol"] + result.config["verify_rtol"]
    assert result.metrics[0].name == "throughput_samples_per_s" and result.metrics[0].value > 0


# --- 4 and 6. ONNX Runtime on CUDA: skipped without onnxruntime-gpu, CUDA EP options ---------------------


def test_ort_on_cuda_without_gpu_providers_is_skipped_before_exporting(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ort = onnxrt.import_onnxruntime()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])  # the CPU wheel
    request = _fp16_mlp_request()
    request = LoadRequest(request.workload, "cuda:0", "fp16", request.example)
    with pytest.raises(BenchmarkSkipped, match="needs CUDAExecutionProvider .*capplan\\[gpu\\]"):
        OrtBackend().load(request)
    assert not cache_dir.exists()  # nothing exported for a benchmark that cannot run


def test_cuda_ep_gets_the_device_id_and_true_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    ort = onnxrt.import_onnxruntime()
    gpu_wheel = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: gpu_wheel)  # what onnxruntime-gpu lists
    cuda = ("CUDAExecutionProvider", {"device_id": 3, "use_tf32": 0})
    assert providers_for("cuda:3") == [cuda, "CPUExecutionProvider"]  # TensorRT only when asked for
    assert providers_for("cuda:3", tensorrt=True) == [
        ("TensorrtExecutionProvider", {"device_id": 3}), cuda, "CPUExecutionProvider"
    ]
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    # TensorRT listed but its libraries missing: ORT falls back to CUDA; that is a skip, not a failure
    with pytest.raises(BenchmarkSkipped, match="TensorRT EP could not load"):
        OrtTensorrtBackend()._check_providers(
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        )
    with pytest.raises(RuntimeError, match="CUDAExecutionProvider is installed but could not load"):
        OrtBackend()._check_providers(["CUDAExecutionProvider", "CPUExecutionProvider"],
                                      ["CPUExecutionProvider"])


def test_inventory_names_the_onnxruntime_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = onnxruntime_versions()
    assert real["onnxruntime_dist"] == "onnxruntime" and real["onnxruntime"]
    info = tmp_path / "onnxruntime_gpu-1.99.0.dist-info"  # a second wheel providing `onnxruntime`
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.99.0\n")
    (info / "top_level.txt").write_text("onnxruntime\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    both = onnxruntime_versions()
    assert "onnxruntime-gpu 1.99.0" in both["onnxruntime"]
    assert both["onnxruntime_dist"] == "onnxruntime + onnxruntime-gpu (conflicting wheels)"


# --- 5. NVML by UUID ---------------------------------------------------------------------------------


class FakeNvml:
    """The NVML calls telemetry makes, for GPUs given as {uuid: watts}, in NVML (PCI) order."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __init__(self, gpus: dict[str, float]) -> None:
        self.gpus = list(gpus.items())
        self.t0 = time.monotonic()

    def nvmlInit(self) -> None: ...

    def nvmlShutdown(self) -> None: ...

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index >= len(self.gpus):
            raise RuntimeError("NVMLError_InvalidArgument")
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        for index, (known, _) in enumerate(self.gpus):
            if known == uuid:
                return index
        raise RuntimeError("NVMLError_NotFound")

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return int(self.gpus[h][1] * 1000)  # mW

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        return int(self.gpus[h][1] * (time.monotonic() - self.t0) * 1000)  # mJ

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(gpu=50 + 40 * h)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(used=(1 + h) * 10**9)

    def nvmlDeviceGetTemperature(self, h: int, _sensor: int) -> int:
        return 60 + h

    def nvmlDeviceGetClockInfo(self, h: int, _clock: int) -> int:
        return 1500

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return 0


A, B = "GPU-aaaaaaaa-0000-0000-0000-000000000000", "GPU-bbbbbbbb-0000-0000-0000-000000000000"


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    """Two GPUs: NVML index 0 is A (100 W), index 1 is B (300 W)."""
    nvml = FakeNvml({A: 100.0, B: 300.0})

    import contextlib

    @contextlib.contextmanager
    def session() -> Any:
        yield nvml

    monkeypatch.setattr(telemetry, "nvml_session", session)
    return nvml


def test_telemetry_reads_the_gpu_named_by_uuid_not_by_index(fake_nvml: FakeNvml) -> None:
    # CUDA_VISIBLE_DEVICES=1 makes B CUDA's ordinal 0; NVML's index 0 is still A
    with sample_telemetry(gpu_uuids=[B], interval_s=0.02) as summary:
        time.sleep(0.2)
    assert summary["gpu_count"] == 1 and summary["gpu_power_w_mean"] == 300.0
    assert summary["gpu_energy_from_counter"] == 1.0
    # NVML's own energy counter against mean power x time: 300 W over the window
    assert summary["gpu_energy_j"] == pytest.approx(300.0 * summary["duration_s"], rel=0.2)
    assert handle_by_uuid(fake_nvml, B.removeprefix("GPU-")) == 1  # torch's spelling has no prefix


def test_two_gpus_sum_power_and_energy(fake_nvml: FakeNvml) -> None:
    with sample_telemetry(gpu_uuids=[A, B], interval_s=0.02) as summary:
        time.sleep(0.1)
    assert summary["gpu_count"] == 2 and summary["gpu_power_w_mean"] == 400.0  # 100 W + 300 W
    assert summary["gpu_util_pct_mean"] == 70.0 and summary["gpu_mem_used_mb_max"] == 2000.0  # mean, max
    assert summary["gpu_temp_c_max"] == 61


class OlderNvml(FakeNvml):
    """nvidia-ml-py before 12.535 names the clock-reason query 'throttle reasons'."""

    nvmlDeviceGetCurrentClocksEventReasons = None  # type: ignore[assignment]

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: int) -> int:
        return 0x4  # HW slowdown


def test_clock_reasons_on_either_nvml_binding(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    older = OlderNvml({B: 300.0})
    import contextlib

    monkeypatch.setattr(telemetry, "nvml_session", lambda: contextlib.nullcontext(older))
    with sample_telemetry(gpu_uuids=[B]) as summary:
        pass
    assert summary["gpu_throttle_reasons_mask"] == 4.0 and summary["gpu_power_w_mean"] == 300.0


def test_a_gpu_nvml_cannot_open_means_no_gpu_telemetry(fake_nvml: FakeNvml) -> None:
    with sample_telemetry(gpu_uuids=["GPU-not-there"]) as summary:
        pass
    with sample_telemetry(gpu_uuids=[A, "GPU-not-there"]) as partial:
        pass
    assert "gpu_count" not in summary and "gpu_count" not in partial
    assert "rss_mb_mean" in summary and "rss_mb_mean" in partial  # the rest is still recorded


def test_runner_maps_cuda_ordinals_to_nvml_by_uuid(fake_nvml: FakeNvml, tmp_path: Path) -> None:
    """A 1-GPU host as CUDA sees it (ordinal 0 = B) with NVML seeing two GPUs: cuda:0 reads B,
    cuda:1 is recorded as skipped (it used to raise NVMLError out of run_isolated)."""
    env = RunEnvironment(
        inventory={"cuda_devices": [{"ordinal": 0, "name": "fake", "uuid": B, "memory_gib": 80.0,
                                     "compute_capability": "9.0"}]},
        software={}, fingerprint="fake-host",
    )
    planned = [PlannedBenchmark(BenchmarkSpec(name=f"on-{d[-1]}", kind="gemm", device=d, budget=TINY), {})
               for d in ("cuda:0", "cuda:1")]
    # a collective's local ranks use GPUs 0..world_size-1: two ranks need a second visible GPU
    planned += [PlannedBenchmark(BenchmarkSpec(name=f"ranks-{n}", kind="collective", device="cuda:0",
                                               params={"world_size": n}), {"world_size": n}) for n in (1, 2)]
    events = run_benchmarks(planned, Store(str(tmp_path / "r.db")), suite="t", env=env)
    on0, on1, ranks1, ranks2 = (e.record for e in events)
    assert ranks1.telemetry["gpu_power_w_mean"] == 300.0 and "gpu_count" not in ranks2.telemetry
    if not torch.cuda.is_available():
        assert on0.status == on1.status == Status.skipped  # torch sees no CUDA device here
    assert on0.telemetry["gpu_power_w_mean"] == 300.0 and on0.telemetry["gpu_count"] == 1.0
    assert "gpu_count" not in on1.telemetry


def test_cuda_devices_carry_nvml_uuids(monkeypatch: pytest.MonkeyPatch) -> None:
    props = SimpleNamespace(name="NVIDIA H200", uuid="bbbbbbbb-0000-0000-0000-000000000000",
                            total_memory=141 * 2**30, major=9, minor=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    (dev,) = torch_cuda_devices()
    assert (dev.ordinal, dev.uuid, dev.compute_capability) == (0, B, "9.0")
    devices = [dev.model_dump()]
    assert cuda_uuids(devices, [0]) == [B] and cuda_uuids(devices, [0, 1]) == []
    assert inventory.Inventory.model_fields["cuda_devices"].default_factory() == []  # old records load


def test_torchrun_ranks_get_their_gpus_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = [inventory.CudaDevice(ordinal=i, name="g", uuid=u, memory_gib=1, compute_capability="9.0")
               for i, u in enumerate((B, A))]
    monkeypatch.setattr(launch, "torch_cuda_devices", lambda: devices)
    cuda_item = [PlannedBenchmark(_spec("collective", device="cuda"), {})]
    cpu_item = [PlannedBenchmark(_spec("collective"), {})]
    assert rank_gpu_uuids(cuda_item, LaunchOptions(nproc=2)) == [B, A]  # local rank i on cuda:i
    assert rank_gpu_uuids(cuda_item, LaunchOptions(nproc=3)) == []  # more ranks than GPUs
    assert rank_gpu_uuids(cpu_item, LaunchOptions(nproc=2)) == []


# --- 7. memory and smaller items ----------------------------------------------------------------------


class FakeAllocator:
    """torch.cuda's allocator counters, which the CPU build cannot provide."""

    def __init__(self) -> None:
        self.allocated = self.peak = 0

    def alloc(self, nbytes: int) -> None:
        self.allocated += nbytes
        self.peak = max(self.peak, self.allocated)

    def free(self, nbytes: int) -> None:
        self.allocated -= nbytes

    def reset_peak(self, _device: Any = None) -> None:
        self.peak = self.allocated


def test_process_peak_covers_every_segment_a_kind_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAllocator()
    monkeypatch.setattr(device_module, "_PEAK_BEFORE_RESET", {})  # process-wide state: this test's own
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda _d=None: fake.allocated)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda _d=None: fake.peak)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", fake.reset_peak)
    memory = PeakMemory("cuda:0")
    memory.baseline()
    memory.reset()
    fake.alloc(500 * 10**6)  # batch 32: 500 MB
    fake.free(500 * 10**6)
    assert memory.peak_mb() == 500.0
    memory.reset()
    fake.alloc(200 * 10**6)  # batch 8: 200 MB
    assert memory.peak_mb() == 200.0  # the kind's per-segment figure
    assert _device_peak_mb("cuda:0") == 500.0  # the record's peak_device_mem_mb: the whole benchmark


GROW = """
print(resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY, flush=True)
block = bytearray(300 * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(2)
print("survived", flush=True)
"""


def _capped_child(device: str) -> subprocess.CompletedProcess[str]:
    """A real process that caps itself as a benchmark child on ``device`` would, then grows by 300 MiB."""
    code = ("import resource, time\nfrom capplan.harness.child import cap_memory\n"
            "from capplan.harness.spec import BenchmarkSpec\n"
            f"cap_memory(BenchmarkSpec(name='x', kind='gemm', device='{device}', memory_limit_mb=100))"
            + GROW)
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # its own session: the watchdog kills the whole process group, which must not be pytest's
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                          start_new_session=True)


def test_cuda_memory_cap_watches_the_resident_set() -> None:
    """RLIMIT_AS breaks CUDA's start-up; on CUDA the cap is a resident-set watchdog that kills the
    benchmark's process group (the runner records that SIGKILL under a cap as oom)."""
    cuda = _capped_child("cuda")
    assert cuda.stdout.split() == ["True"] and cuda.returncode == -9  # no RLIMIT_AS; killed, not survived
    assert "exceeded the cap" in cuda.stderr
    cpu = _capped_child("cpu")
    assert cpu.stdout.split() == ["False"] and "MemoryError" in cpu.stderr  # RLIMIT_AS as before


def test_ddp_is_skipped_when_gpus_are_too_few() -> None:
    spec = _spec("ddp", device="cuda")
    gpus = torch.cuda.device_count()  # 0 here: the torchrun job used to start and fail
    params = DdpParams(model="mlp", world_size=gpus + 1)
    message = f"world_size {gpus + 1} needs one GPU per rank; {gpus} visible"
    with pytest.raises(BenchmarkSkipped, match=message):
        DdpKind().run(spec, params, RunContext(spec=spec))


# --- the GPU suite of scripts/gpu-check.sh ----------------------------------------------------------------


def test_gpu_suite_covers_every_kind_and_cuda_dtype() -> None:
    suite = load_suite("gpu")
    specs = [p.spec for p in suite.benchmarks]
    assert len(specs) == 18 and all(s.device == "cuda:0" for s in specs)
    # a client kind (serve) measures an endpoint over HTTP, not this device: the gpu suite leaves it out
    assert {s.kind for s in specs} == {k for k in KINDS if kind_info(k).role != "client"}
    gemm_dtypes = [s.dtype for s in specs if s.kind == "gemm"]
    assert sorted(set(gemm_dtypes)) == sorted(CUDA_DTYPES) and gemm_dtypes.count("fp8") == 2  # both accums
    model_dtypes = {s.dtype for s in specs if kind_info(s.kind).role == "model"}
    assert model_dtypes == set(TORCH_DTYPES)  # fp32, tf32, bf16, fp16 across train/infer/generate/loadgen
    fast = [p.params.get("fp8_fast_accum") for p in suite.benchmarks if p.spec.dtype == "fp8"]
    assert sorted(fast) == [False, True]
