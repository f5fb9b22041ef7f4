"""ONNX Runtime: the model exported with ``torch.onnx.export(dynamo=True)`` (the legacy TorchScript
exporter cannot export scaled_dot_product_attention), batch dimension dynamic.

The example inputs are cast to the model's dtype before export (an fp32 input into an fp16 model is
an invalid graph), and every export is checked (``onnx.checker`` with full type inference) before it
enters the cache, so a broken export is never reused. Exports are cached under the user's cache dir
by a hash of everything that determines the graph and its weights (model, size, shape, sequence
length, dtype, torch version and a digest of the weights themselves, so an edited model definition
never reuses a stale export); reruns skip the export.

Execution providers: backend ``onnxruntime`` uses the CUDA EP on a CUDA device (onnxruntime-gpu,
``pip install 'capplan[gpu]'``), with the spec's ``device_id`` and TF32 off (``use_tf32=0``), so an
fp32 run computes in true fp32 like the eager reference it is checked against; backend
``onnxruntime-tensorrt`` opts in to the TensorRT EP (CUDA EP for the nodes TensorRT does not take)
and is skipped when TensorRT's libraries cannot load. CPUExecutionProvider runs on the CPU.
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
from capplan.harness.device import cuda_index
from capplan.harness.spec import BenchmarkSkipped
from capplan.results.schema import config_hash
from capplan.workloads import torch_dtype
from capplan.workloads.base import Inputs, cache_root, float_inputs_to

MODEL_FILE = "model.onnx"
# Bumped when the export procedure changes, so exports made by an older procedure are not reused.
EXPORT_FORMAT = 2
CUDA_EP, TENSORRT_EP, CPU_EP = "CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"
# ORT's CPU EP has fp16 kernels for the ops of capplan's workloads (MatMul, Gemm, Conv,
# LayerNormalization, Softmax); bf16 has too few on either EP.
CPU_DTYPES = ("fp32", "fp16")
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
        "inputs": [(str(t.dtype), list(t.shape[1:])) for t in export_example(request)],
        "export_format": EXPORT_FORMAT,
    }


def export_example(request: LoadRequest) -> tuple[torch.Tensor, ...]:
    """The example inputs on the CPU, floating ones in the model's dtype (token ids stay integer)."""
    return float_inputs_to(request.example, "cpu", torch_dtype(request.dtype))


def check_export(path: Path) -> None:
    """ValueError unless the exported graph passes ONNX's checker with full type inference."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # onnx raises ValidationError or InferenceError (and more) here
        raise ValueError(f"onnx export is not a valid graph: {str(exc).strip().splitlines()[0]}") from None


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
        try:
            with _quiet_exporter():
                torch.onnx.export(model, export_example(request), str(staging / MODEL_FILE), dynamo=True,
                                  dynamic_shapes=dynamic, external_data=True)
        finally:
            request.workload.model.to(request.device)
        check_export(staging / MODEL_FILE)  # a broken export must never enter the cache
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


def import_onnxruntime() -> Any:
    """The onnxruntime module; BenchmarkSkipped naming the extras when neither wheel is installed."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BenchmarkSkipped(
            f"onnxruntime is not installed ({exc}): pip install 'capplan[ort]' (CPU) or 'capplan[gpu]' "
            "(onnxruntime-gpu, CUDA)"
        ) from None
    return onnxruntime


def providers_for(device: str, tensorrt: bool = False) -> list[Any]:
    """Execution providers (with options) for ``device``: CUDA EP on a CUDA device (TensorRT first when
    ``tensorrt``), always ending with the CPU EP for nodes no GPU EP takes. BenchmarkSkipped when this
    onnxruntime has no CUDA EP (the CPU wheel) or, with ``tensorrt``, no TensorRT EP."""
    ort = import_onnxruntime()

    index = cuda_index(device)
    if index is None:
        return [CPU_EP]
    available = ort.get_available_providers()
    wanted = [TENSORRT_EP, CUDA_EP] if tensorrt else [CUDA_EP]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise BenchmarkSkipped(
            f"onnxruntime on {device} needs {' and '.join(missing)} (onnxruntime-gpu: pip install "
            f"'capplan[gpu]'); this onnxruntime has {', '.join(available)}"
        )
    cuda = (CUDA_EP, {"device_id": index, "use_tf32": 0})  # true fp32, like the eager reference
    trt = (TENSORRT_EP, {"device_id": index})
    return [trt, cuda, CPU_EP] if tensorrt else [cuda, CPU_EP]


class OrtBackend:
    name: ClassVar[str] = "onnxruntime"
    tensorrt: ClassVar[bool] = False

    def load(self, request: LoadRequest) -> dict[str, Any]:
        ort = import_onnxruntime()

        allowed = CUDA_DTYPES if request.device.startswith("cuda") else CPU_DTYPES
        if request.dtype not in allowed:
            raise ValueError(
                f"onnxruntime on {request.device}: dtype {request.dtype!r}; allowed: {', '.join(allowed)}"
            )
        requested = providers_for(request.device, self.tensorrt)  # skip before spending an export
        t0 = time.perf_counter()
        path, cached = export_onnx(request)
        export_s = time.perf_counter() - t0
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the harness pins the thread count
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.device = request.device
        self.device_id = cuda_index(request.device) or 0
        self.float_dtype = torch_dtype(request.dtype)
        self.session = ort.InferenceSession(str(path), options, providers=requested)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        used = self.session.get_providers()
        self._check_providers([p if isinstance(p, str) else p[0] for p in requested], used)
        return {
            "ort_version": ort.__version__,
            "ort_providers": ",".join(used),
            "ort_cuda_tf32": False if CUDA_EP in used else None,
            "onnx_export_cached": cached,
            "onnx_export_s": round(export_s, 3),
        }

    def _check_providers(self, requested: list[str], used: list[str]) -> None:
        """ORT drops an EP whose libraries fail to load and silently runs the rest on the next one."""
        if self.tensorrt and TENSORRT_EP not in used:
            raise BenchmarkSkipped(
                f"onnxruntime-tensorrt: the TensorRT EP could not load (TensorRT libraries missing?); "
                f"the session has {', '.join(used)}"
            )
        if CUDA_EP in requested and CUDA_EP not in used:
            raise RuntimeError(f"onnxruntime: {CUDA_EP} is installed but could not load (CUDA/cuDNN "
                               f"libraries?); the session has {', '.join(used)}")

    def prepare(self, inputs: Inputs) -> Any:
        cast = float_inputs_to(inputs, "cpu", self.float_dtype)  # the graph's input dtype
        arrays = {name: t.detach().numpy() for name, t in zip(self.input_names, cast, strict=True)}
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


class OrtTensorrtBackend(OrtBackend):
    """ONNX Runtime with the TensorRT EP first (opt-in: engine builds take minutes per shape)."""

    name: ClassVar[str] = "onnxruntime-tensorrt"
    tensorrt: ClassVar[bool] = True
