"""Workload descriptions for projection: FLOPs, parameters and bytes moved, per sample.

Named workloads are described in closed form from their published shapes (a multiply-add counts
2 FLOPs, as torch.utils.flop_counter does); records from the harness carry measured counts in
their config (``flops_per_sample``, ``param_count``, ``activation_bytes_per_sample``...) and are
described from those.
"""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, Field

from capplan.errors import UserError
from capplan.harness.registry import record_kind_task
from capplan.harness.spec import WorkloadTask
from capplan.results.schema import RunRecord

Task = WorkloadTask  # the tasks a workload can be projected for (a harness kind's task, less micro)
WORKLOAD_TASKS: tuple[str, ...] = get_args(Task)
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
# MLPerf Offline lets the system pick its (large, throughput-oriented) batch and publishes no batch
# size with the result; 256 is assumed so weight traffic is amortised as it is at large batch.
OFFLINE_NOMINAL_BATCH = 256
# New tokens per request when a generate workload does not say (a typical chat/summary answer length).
DEFAULT_GEN_TOKENS = 128
DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}


def canonical_dtype(dtype: str) -> str:
    """fp32/tf32/bf16/fp16/fp8/int8 from common spellings; UserError otherwise."""
    name = DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
    if name not in DTYPE_BYTES:
        raise UserError(f"dtype {dtype!r} is not supported; allowed: {', '.join(DTYPE_BYTES)}")
    return name


class WorkloadDesc(BaseModel):
    """What the roofline needs to know about one workload at one batch size and dtype."""

    name: str
    family: str = Field(
        description="model family used to match calibration points: bert, resnet, gpt, llama..."
    )
    task: Task = "infer"
    dtype: str = "fp32"
    batch: int = Field(1, ge=1)
    seq_len: int | None = Field(None, ge=1, description="tokens per sample (prompt length for generate)")
    gen_tokens: int | None = Field(None, ge=1, description="new tokens per sequence (generate)")
    flops_per_sample: float = Field(gt=0, description="forward FLOPs for one sample")
    train_flops_per_sample: float | None = Field(
        None, gt=0, description="forward+backward FLOPs; default 3x forward"
    )
    param_count: float = Field(gt=0)
    io_elems_per_sample: float = Field(
        0, ge=0, description="activation elements read+written per sample, forward"
    )
    live_elems_per_sample: float = Field(
        0, ge=0, description="largest activation working set per sample (inference)"
    )
    saved_elems_per_sample: float = Field(
        0, ge=0, description="activations kept for backward per sample (training)"
    )
    kv_elems_per_token: float | None = Field(None, ge=0, description="KV-cache elements per token (decoders)")
    source: str = Field(description="where the figures come from")

    @property
    def train_flops(self) -> float:
        """Training FLOPs per sample: measured, or 3x forward (backward costs about twice the forward)."""
        return self.train_flops_per_sample or 3.0 * self.flops_per_sample

    @property
    def decode_tokens(self) -> int:
        """New tokens per sequence (``gen_tokens`` or DEFAULT_GEN_TOKENS)."""
        return self.gen_tokens or DEFAULT_GEN_TOKENS

    @property
    def decode_flops_per_token(self) -> float:
        """FLOPs for one new token: the forward cost per token of a full-length sample."""
        return self.flops_per_sample / (self.seq_len or 1)


# -- closed forms ---------------------------------------------------------------------------------
def transformer(name: str, family: str, *, layers: int, d_model: int, d_ff: int, vocab: int, seq_len: int,
                positions: int = 0, kv_dim: int | None = None, gated_ffn: bool = False, lm_head: bool = False,
                tied_head: bool = True, source: str) -> WorkloadDesc:
    """Encoder/decoder stack: per layer Q,O (d x d), K,V (d x kv_dim), FFN 2 (or 3 gated) d x d_ff
    matrices."""
    kv = kv_dim or d_model
    layer_params = 2 * d_model * d_model + 2 * d_model * kv + (3 if gated_ffn else 2) * d_model * d_ff
    matmul_params = layers * layer_params + (vocab * d_model if lm_head else 0)
    embed_params = vocab * d_model * (2 if lm_head and not tied_head else 1) + positions * d_model
    attn_flops = 4 * layers * seq_len * seq_len * d_model  # QK^T and AV over the full S x S matrix
    # Per token per layer, read+write of: input, Q/K/V, attention output, projection, FFN hidden, FFN output.
    io_per_token = layers * 2 * (5 * d_model + 2 * kv + d_ff)
    return WorkloadDesc(
        name=name, family=family, seq_len=seq_len,
        flops_per_sample=2 * matmul_params * seq_len + attn_flops,
        param_count=layers * layer_params + embed_params,
        io_elems_per_sample=io_per_token * seq_len,
        live_elems_per_sample=seq_len * (4 * d_model + d_ff) + seq_len * seq_len,
        saved_elems_per_sample=io_per_token * seq_len / 2,
        kv_elems_per_token=2 * layers * kv if family in {"gpt", "llama"} else None,
        source=source,
    )


def resnet(name: str, *, blocks: tuple[int, ...] = (3, 4, 6, 3), stem: int = 64, side: int = 224,
           classes: int = 1000, source: str) -> WorkloadDesc:
    """Bottleneck ResNet (v1.5: stride on the 3x3 conv), counted layer by layer."""
    macs = params = io = 0.0
    live = 0.0

    def conv(cin: int, cout: int, k: int, hw_out: int, hw_in: int) -> None:
        nonlocal macs, params, io, live
        macs += cin * cout * k * k * hw_out * hw_out
        params += cin * cout * k * k
        elems = cin * hw_in * hw_in + cout * hw_out * hw_out
        io += elems
        live = max(live, elems)

    hw = side // 2
    conv(3, stem, 7, hw, side)
    hw //= 2  # max-pool
    cin = stem
    for stage, count in enumerate(blocks):
        width = stem * 2**stage
        for b in range(count):
            stride = 2 if stage > 0 and b == 0 else 1
            out_hw = hw // stride
            conv(cin, width, 1, hw, hw)
            conv(width, width, 3, out_hw, hw)
            conv(width, 4 * width, 1, out_hw, out_hw)
            if b == 0:
                conv(cin, 4 * width, 1, out_hw, hw)
            cin, hw = 4 * width, out_hw
    macs += cin * classes
    params += cin * classes + classes
    return WorkloadDesc(name=name, family="resnet", flops_per_sample=2 * macs, param_count=params,
                        io_elems_per_sample=io, live_elems_per_sample=live, saved_elems_per_sample=io / 2,
                        source=source)


_BERT = "BERT (Devlin et al. 2019) shapes"
_GPT2 = "GPT-2 (Radford et al. 2019) shapes"
_LLAMA2 = "Llama 2 (Touvron et al. 2023) shapes"
_RESNET = "ResNet v1.5 (He et al. 2016; torchvision resnet50/101) shapes"
WORKLOADS: dict[str, Any] = {
    "bert-base": lambda seq: transformer(
        "bert-base",
        "bert",
        layers=12,
        d_model=768,
        d_ff=3072,
        vocab=30522,
        positions=512,
        seq_len=seq or 128,
        source=_BERT,
    ),
    "bert-large": lambda seq: transformer(
        "bert-large",
        "bert",
        layers=24,
        d_model=1024,
        d_ff=4096,
        vocab=30522,
        positions=512,
        seq_len=seq or 384,
        source=_BERT,
    ),
    "gpt2": lambda seq: transformer(
        "gpt2",
        "gpt",
        layers=12,
        d_model=768,
        d_ff=3072,
        vocab=50257,
        positions=1024,
        lm_head=True,
        seq_len=seq or 512,
        source=_GPT2,
    ),
    "gpt2-medium": lambda seq: transformer(
        "gpt2-medium",
        "gpt",
        layers=24,
        d_model=1024,
        d_ff=4096,
        vocab=50257,
        positions=1024,
        lm_head=True,
        seq_len=seq or 512,
        source=_GPT2,
    ),
    "llama-7b": lambda seq: transformer(
        "llama-7b",
        "llama",
        layers=32,
        d_model=4096,
        d_ff=11008,
        vocab=32000,
        gated_ffn=True,
        lm_head=True,
        tied_head=False,
        seq_len=seq or 1024,
        source=_LLAMA2,
    ),
    "llama-70b": lambda seq: transformer(
        "llama-70b",
        "llama",
        layers=80,
        d_model=8192,
        d_ff=28672,
        vocab=32000,
        kv_dim=1024,
        gated_ffn=True,
        lm_head=True,
        tied_head=False,
        seq_len=seq or 1024,
        source=_LLAMA2 + " (grouped-query attention, 8 KV heads)",
    ),
    "resnet50": lambda seq: resnet("resnet50", source=_RESNET),
    "resnet101": lambda seq: resnet("resnet101", blocks=(3, 4, 23, 3), source=_RESNET),
}
# Harness model names (capplan.workloads presets) and MLPerf benchmark names -> closed forms above.
ALIASES = {
    "bert-99": "bert-large",
    "bert-99.9": "bert-large",
    "gpt-base": "gpt2",
    "gpt-large": "gpt2-medium",
    "resnet-base": "resnet50",
    "resnet-large": "resnet101",
    "llama2-7b": "llama-7b",
    "llama2-70b": "llama-70b",
    "llama2-70b-99": "llama-70b",
    "llama2-70b-99.9": "llama-70b",
}


def named_workload(name: str, *, task: Task = "infer", dtype: str = "fp32", batch: int = 1,
                   seq_len: int | None = None, gen_tokens: int | None = None) -> WorkloadDesc:
    """Closed-form description of a named workload; UserError listing known names otherwise."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in WORKLOADS:
        known = sorted([*WORKLOADS, *ALIASES])
        close = difflib.get_close_matches(name.lower(), known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserError(
            f"workload {name!r} is unknown{hint}; allowed: {', '.join(sorted(WORKLOADS))} or a stored run id"
        )
    desc: WorkloadDesc = WORKLOADS[key](seq_len)
    return desc.model_copy(
        update={"task": task, "dtype": canonical_dtype(dtype), "batch": batch, "gen_tokens": gen_tokens}
    )


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else values


def describe_record(config: dict[str, Any], task: str | None) -> WorkloadDesc | None:
    """WorkloadDesc from a run's config: measured counts when present, else the closed form; None if neither.

    ``task`` is what the record's kind declares (capplan.harness.registry.record_kind_task); a record
    whose kind measures no workload task (micro, or unknown) describes no workload.

    Keys read (as the harness's model kinds store them): model, size, dtype, best_batch/batch, seq_len or
    prompt_lens, output_lens/gen_tokens, flops_per_sample, train_flops_per_sample, param_count,
    activation_bytes_per_sample, model_shape.
    """
    # The runner stores the spec (with ``params``) and puts the kind's facts under ``facts``.
    config = {**(config.get("params") or {}), **config, **(config.get("facts") or {})}
    if task not in WORKLOAD_TASKS:
        return None
    model = str(config.get("model") or config.get("workload") or "")
    size = config.get("size")
    name = f"{model}-{size}" if size else model
    key = ALIASES.get(name.lower(), name.lower())
    if not config.get("flops_per_sample") and key not in WORKLOADS:
        return None  # not a model workload (a gemm or membw micro-benchmark, say): checked before its dtype
    dtype = canonical_dtype(str(config.get("dtype", "fp32")))
    offline = OFFLINE_NOMINAL_BATCH if config.get("scenario") == "Offline" else 1
    # The headline throughput is at the best batch of a sweep; without ``best_batch`` the largest swept one.
    swept = max(config.get("batches") or [0])
    batch = int(
        config.get("best_batch") or config.get("batch") or config.get("batch_size") or swept or offline
    )
    seq = config.get("seq_len") or _first(config.get("prompt_lens"))
    gen = config.get("gen_tokens") or _first(config.get("output_lens")) or config.get("max_new_tokens")
    if config.get("flops_per_sample"):
        desc = _measured(config, name or "record", model, dtype)
    else:
        desc = WORKLOADS[key](int(seq) if seq else None)
    return desc.model_copy(update={"task": task, "dtype": dtype, "batch": batch,
                                   "gen_tokens": int(gen) if gen else None})


def describe_run(record: RunRecord) -> WorkloadDesc | None:
    """The workload a stored run measured, classified by what its kind declares (never by its name)."""
    return describe_record(record.config, record_kind_task(record.kind, record.config))


# capplan.workloads.flops counts parameter and activation bytes on the fp32 model it builds.
FACTS_DTYPE_BYTES = 4


def _measured(config: dict[str, Any], name: str, family: str, dtype: str) -> WorkloadDesc:
    params = float(
        config.get("param_count") or float(config.get("param_bytes", 0)) / FACTS_DTYPE_BYTES or 1.0
    )
    saved = float(config.get("activation_bytes_per_sample") or 0) / FACTS_DTYPE_BYTES
    shape = config.get("model_shape") or config.get("shape")
    shape = shape if isinstance(shape, dict) else {}
    layers, d_model = shape.get("layers"), shape.get("d_model")
    kv = 2 * layers * d_model if layers and d_model and family in {"gpt", "llama"} else None
    seq = config.get("seq_len") or _first(config.get("prompt_lens"))
    return WorkloadDesc(
        name=name,
        family=family or "other",
        dtype=dtype,
        seq_len=int(seq) if seq else None,
        flops_per_sample=float(config["flops_per_sample"]),
        train_flops_per_sample=float(config["train_flops_per_sample"])
        if config.get("train_flops_per_sample")
        else None,
        param_count=params,
        # Forward traffic ~ twice the saved activations (each written once, read once); live set ~ saved.
        io_elems_per_sample=2 * saved,
        live_elems_per_sample=saved,
        saved_elems_per_sample=saved,
        kv_elems_per_token=kv,
        source="measured counts stored with the run (torch.utils.flop_counter)",
    )
