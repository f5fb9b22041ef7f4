"""Catalog rows: accelerators (peak figures per dtype) and cloud instances (prices per hour).

Every row carries ``source`` and ``source_date``/``price_date``; empty figures mean "no cited value".
Dense peaks: NVIDIA datasheets list tensor figures with 2:4 sparsity; the catalog stores them halved.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

PriceModel = Literal["on_demand", "reserved_1y", "reserved_3y", "spot"]
PRICE_MODELS: tuple[PriceModel, ...] = get_args(PriceModel)  # the one list of pricing models

# dtype spelling -> Accelerator field holding its dense peak (TFLOP/s, or TOP/s for int8).
DTYPE_PEAK_FIELDS: dict[str, str] = {
    "fp32": "fp32_tflops",
    "float32": "fp32_tflops",
    "tf32": "tf32_tflops",
    "fp16": "fp16_tflops_dense",
    "float16": "fp16_tflops_dense",
    "half": "fp16_tflops_dense",
    "bf16": "bf16_tflops_dense",
    "bfloat16": "bf16_tflops_dense",
    "fp8": "fp8_tflops_dense",
    "int8": "int8_tops_dense",
}


def normalise_name(name: str) -> str:
    """Lower-case name with vendor prefix, punctuation and spaces dropped: 'NVIDIA A100-80GB' ->
    'a10080gb'."""
    text = name.lower().strip()
    text = re.sub(r"^(nvidia|amd|intel)\s+", "", text)
    text = text.replace("instinct ", "")
    return re.sub(r"[^a-z0-9]", "", text)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Accelerator(_Row):
    """One device: GPU, CPU socket or other accelerator, with dense peaks per dtype."""

    name: str = Field(min_length=1, description="canonical name, e.g. 'NVIDIA H100 SXM'")
    vendor: str = Field(min_length=1)
    kind: Literal["gpu", "cpu", "accelerator"] = "gpu"
    arch: str | None = Field(
        None, description="micro-architecture (Hopper, Ampere, Zen 4...); groups similar devices"
    )
    form_factor: str | None = None
    memory_gib: float | None = Field(
        None, gt=0, description="device memory as the vendor publishes it (GB figure)"
    )
    mem_bw_gbps: float | None = Field(None, gt=0, description="peak memory bandwidth, GB/s")
    fp32_tflops: float | None = Field(None, gt=0, description="FP32 peak, TFLOP/s (non-tensor unless noted)")
    tf32_tflops: float | None = Field(None, gt=0, description="TF32 tensor dense peak, TFLOP/s")
    fp16_tflops_dense: float | None = Field(None, gt=0, description="FP16 tensor dense peak, TFLOP/s")
    bf16_tflops_dense: float | None = Field(None, gt=0, description="BF16 tensor dense peak, TFLOP/s")
    fp8_tflops_dense: float | None = Field(None, gt=0, description="FP8 tensor dense peak, TFLOP/s")
    int8_tops_dense: float | None = Field(None, gt=0, description="INT8 tensor dense peak, TOP/s")
    tdp_w: float | None = Field(None, gt=0, description="board/socket power, W")
    interconnect_gbps: float | None = Field(
        None, gt=0, description="device-to-device aggregate, GB/s bidirectional"
    )
    pcie_gen: int | None = Field(None, ge=1, le=7)
    approx_list_price_usd: float | None = Field(
        None, gt=0, description="approximate purchase price per device, USD"
    )
    price_note: str | None = Field(None, description="what the price is (list, street, range) and its source")
    aliases: list[str] = Field(default_factory=list, description="other names this device is known by")
    source: str = Field(min_length=1, description="datasheet or page the figures come from")
    source_date: str = Field(min_length=1, description="when the source was published or read")
    notes: str | None = None

    def peak_tflops(self, dtype: str) -> float | None:
        """Dense peak for ``dtype`` (fp32, tf32, fp16, bf16, fp8, int8) in TFLOP/s (TOP/s for int8)."""
        field = DTYPE_PEAK_FIELDS.get(dtype.lower())
        return None if field is None else getattr(self, field)

    def names(self) -> list[str]:
        """Canonical name plus aliases."""
        return [self.name, *self.aliases]


class CloudInstance(_Row):
    """One cloud instance type in one region with its hourly prices (USD, whole instance)."""

    provider: str = Field(min_length=1)
    instance: str = Field(min_length=1)
    region: str = Field(min_length=1)
    gpu_name: str | None = Field(None, description="accelerator name as in the catalog (None for CPU-only)")
    gpu_count: int = Field(0, ge=0)
    vcpus: int | None = Field(None, gt=0)
    ram_gib: float | None = Field(None, gt=0)
    on_demand_usd_per_hour: float | None = Field(None, gt=0)
    reserved_1y_usd_per_hour: float | None = Field(None, gt=0)
    reserved_3y_usd_per_hour: float | None = Field(None, gt=0)
    spot_usd_per_hour: float | None = Field(None, gt=0)
    price_date: str = Field(min_length=1, description="when the prices were read")
    source: str = Field(min_length=1)
    notes: str | None = Field(None, description="caveats, e.g. prices that look inconsistent")

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity used to merge rows: (provider, instance, region), case-insensitive."""
        return (self.provider.lower(), self.instance.lower(), self.region.lower())

    def price_usd_per_hour(self, model: PriceModel = "on_demand") -> float | None:
        """Whole-instance price per hour under ``model``; None when no cited price exists."""
        if model not in PRICE_MODELS:
            raise ValueError(f"price model {model!r}; allowed: {', '.join(PRICE_MODELS)}")
        return getattr(self, f"{model}_usd_per_hour")

    def price_per_gpu_usd_per_hour(self, model: PriceModel = "on_demand") -> float | None:
        """Instance price divided by its GPU count (host share included); None without GPUs or price."""
        price = self.price_usd_per_hour(model)
        return None if price is None or not self.gpu_count else price / self.gpu_count
