"""ONNX Runtime: the model exported with ``torch.onnx.export(dynamo=True)`` (the legacy TorchScript
exporter cannot export scaled_dot_product_attention), batch dimension dynamic.

Exports are cached under the user's cache dir by a hash of everything that determines the graph and
its weights (model, size, shape, sequence length, dtype, torch version and a digest of the weights
themselves, so an edited model definition never reuses a stale export); reruns skip the export.
Execution providers: TensorRT, then CUDA, when the device is CUDA and onnxruntime-gpu has them;
CPUExecutionProvider otherwise (and as fallback for unsupported nodes).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from capplan.harness.backends.base import LoadRequest
from capplan.harness.spec import BenchmarkSkipped
from capplan.results.schema import config_hash
from capplan.workloads.base import Inputs, cache_root

MODEL_FILE = "model.onnx"
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CPU_DTYPES = ("fp32",)  # ORT's CPU kernels are fp32 (bf16/fp16 exist for few ops)
CUDA_DTYPES = ("fp32", "fp16")


def weights_digest(model: torch.nn.Module) -> str:
    """BLAKE2 digest of every parameter and buffer (names, dtypes, shapes, bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def export_key(request: LoadRequest) -> dict[str, Any]:
    """Everything that determines the exported graph and its weights."""
    w = request.workload
    return {
        "model": w.name,
        "size": w.size,
        "shape": w.shape,
        "seq_len": w.seq_len,
        "dtype": request.dtype,
        "weights": weights_digest(w.model),
        "torch": torch.__version__,
        "inputs": [(str(t.dtype), list(t.shape[1:])) for t in request.example],
    }


def export_onnx(request: LoadRequest) -> tuple[Path, bool]:
    """Path of the cached ONNX export for ``request`` (exported now if missing) and whether it was cached."""
    target = cache_root() / "onnx" / config_hash(export_key(request))
    if (target / MODEL_FILE).exists():
        return target / MODEL_FILE, True
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        dynamic = tuple({0: torch.export.Dim.DYNAMIC} for _ in request.example)
        model = request.workload.model.cpu()
        example = tuple(t.cpu() for t in request.example)
        with _quiet_exporter():
            torch.onnx.export(model, example, str(staging / MODEL_FILE), dynamo=True, dynamic_shapes=dynamic,
                              external_data=True)
        request.workload.model.to(request.device)
        with contextlib.suppress(OSError):  # another process finished the same export first: use theirs
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / MODEL_FILE, False


@contextlib.contextmanager
def _quiet_exporter():  # type: ignore[no-untyped-def]
    """Silence the exporter's progress lines and its notices about optional torchvision ops."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def providers_for(device: str) -> list[str]:
    """GPU execution providers available for a CUDA device, always ending with the CPU provider."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    gpu = [p for p in GPU_PROVIDERS if p in available] if device.startswith("cuda") else []
    return [*gpu, "CPUExecutionProvider"]


class OrtBackend:
    name: ClassVar[str] = "onnxruntime"

    def load(self, request: LoadRequest) -> dict[str, Any]:
        import onnxruntime as ort

        allowed = CUDA_DTYPES if request.device.startswith("cuda") else CPU_DTYPES
        if request.dtype not in allowed:
            raise ValueError(
                f"onnxruntime on {request.device}: dtype {request.dtype!r}; allowed: {', '.join(allowed)}"
            )
        t0 = time.perf_counter()
        path, cached = export_onnx(request)
        export_s = time.perf_counter() - t0
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the harness pins the thread count
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.device = request.device
        self.device_id = torch.device(request.device).index or 0
        requested = providers_for(request.device)
        if request.device.startswith("cuda") and requested == ["CPUExecutionProvider"]:
            raise BenchmarkSkipped(
                f"onnxruntime on {request.device} needs onnxruntime-gpu (CUDA/TensorRT execution providers); "
                f"this onnxruntime has {', '.join(ort.get_available_providers())}"
            )
        self.session = ort.InferenceSession(str(path), options, providers=requested)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        used = self.session.get_providers()
        if requested[0] != "CPUExecutionProvider" and requested[0] not in used:
            raise RuntimeError(f"onnxruntime: {requested[0]} was requested but the session uses {used}")
        return {
            "ort_version": ort.__version__,
            "ort_providers": ",".join(used),
            "onnx_export_cached": cached,
            "onnx_export_s": round(export_s, 3),
        }

    def prepare(self, inputs: Inputs) -> Any:
        arrays = {name: t.detach().cpu().numpy() for name, t in zip(self.input_names, inputs, strict=True)}
        if not self.device.startswith("cuda"):
            return arrays
        import onnxruntime as ort

        # Inputs and outputs stay on the GPU (I/O binding): no host copies inside the timed call.
        binding = self.session.io_binding()
        for name, array in arrays.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", self.device_id))
        binding.bind_output(self.output_name, "cuda", self.device_id)
        return binding

    def warmup(self, prepared: Any) -> float:
        t0 = time.perf_counter()
        self.run_once(prepared)
        return time.perf_counter() - t0

    def run_once(self, prepared: Any) -> Any:
        if isinstance(prepared, dict):
            return self.session.run([self.output_name], prepared)[0]
        self.session.run_with_iobinding(prepared)
        return prepared

    def sync(self) -> None:
        """``session.run`` returns after the work is done; I/O-bound runs synchronise in
        run_with_iobinding."""

    def to_numpy(self, outputs: Any) -> np.ndarray:
        array = outputs if isinstance(outputs, np.ndarray) else outputs.copy_outputs_to_cpu()[0]
        return np.asarray(array, dtype=np.float32)

    def teardown(self) -> None:
        self.session = None
