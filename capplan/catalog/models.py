"""Catalog rows: accelerators (peak figures per dtype), cloud instances (prices per hour) and purchase
prices (dated street/list ranges).

Every row carries ``source`` and a ``YYYY-MM-DD`` date (``source_date``/``price_date``, never in the
future; see capplan.catalog.freshness); empty figures mean "no cited value". Dense peaks: NVIDIA
datasheets list tensor figures with 2:4 sparsity; the catalog stores them halved.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from capplan.catalog.freshness import DateBasis, PriceAge, check_iso_date, price_age

# YYYY-MM-DD, not in the future; a YAML date value is accepted as such.
IsoDate = Annotated[
    str,
    BeforeValidator(lambda v: v.isoformat() if isinstance(v, date) else v),
    AfterValidator(check_iso_date),
]

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
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class Accelerator(_Row):
    """One device: GPU, CPU socket or other accelerator, with dense peaks per dtype."""

    name: str = Field(min_length=1, description="canonical name, e.g. 'NVIDIA H100 SXM'")
    vendor: str = Field(min_length=1)
    kind: Literal["gpu", "cpu", "tpu", "accelerator"] = "gpu"
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
    source_date: IsoDate = Field(description="YYYY-MM-DD the source was published or read")
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
    price_date: IsoDate = Field(description="YYYY-MM-DD of the prices (what it is: price_date_basis)")
    price_date_basis: DateBasis = Field(
        "published",
        description="commit (snapshot commit date), published (source's date) or read (day read; "
        "the price may be older)",
    )
    snapshot_commit: str | None = Field(
        None, pattern=r"^[0-9a-f]{7,40}$", description="git commit of the catalog snapshot read"
    )
    reserved_source: str | None = Field(
        None, description="where the reserved prices come from, when not from the row's source"
    )
    reserved_price_date: IsoDate | None = Field(None, description="YYYY-MM-DD of the reserved prices")
    source: str = Field(min_length=1)
    notes: str | None = Field(None, description="caveats, e.g. prices that look inconsistent")

    @model_validator(mode="after")
    def _reserved_provenance(self) -> CloudInstance:
        cited = self.reserved_1y_usd_per_hour is not None or self.reserved_3y_usd_per_hour is not None
        if (self.reserved_source or self.reserved_price_date) and not cited:
            raise ValueError("reserved_source/reserved_price_date given without a reserved_1y/3y price")
        return self

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

    def price_age(
        self, model: PriceModel = "on_demand", *, max_age_days: int | None = None, today: date | None = None
    ) -> PriceAge:
        """Age of the price under ``model``: reserved prices may carry their own date and source."""
        if model.startswith("reserved") and self.reserved_price_date:
            return price_age(self.reserved_price_date, "published", max_age_days=max_age_days, today=today)
        return price_age(
            self.price_date,
            self.price_date_basis,
            self.snapshot_commit,
            max_age_days=max_age_days,
            today=today,
        )

    def price_source(self, model: PriceModel = "on_demand") -> str:
        """Where the price under ``model`` comes from."""
        if model.startswith("reserved") and self.reserved_source:
            return self.reserved_source
        return self.source


class PurchasePriceRow(_Row):
    """One dated public purchase price (range) for an accelerator, per GPU or per server."""

    accelerator: str = Field(min_length=1, description="catalog accelerator name or alias")
    unit: Literal["gpu", "server"] = Field("gpu", description="gpu: one device; server: a whole server")
    gpus_per_unit: int = Field(1, ge=1, le=144, description="GPUs in one unit (1 for unit=gpu)")
    low_usd: float = Field(gt=0, description="low end of the quoted range, USD per unit")
    high_usd: float = Field(gt=0, description="high end of the quoted range, USD per unit")
    source: str = Field(min_length=1, description="page or document the range comes from")
    source_date: IsoDate = Field(description="YYYY-MM-DD the range was published or read")
    date_basis: DateBasis = Field("published", description="published or read (publication date unknown)")
    notes: str | None = None

    def price_age(self, *, max_age_days: int | None = None, today: date | None = None) -> PriceAge:
        return price_age(self.source_date, self.date_basis, max_age_days=max_age_days, today=today)

    @model_validator(mode="after")
    def _range(self) -> PurchasePriceRow:
        if self.high_usd < self.low_usd:
            raise ValueError(f"high_usd {self.high_usd:g} is below low_usd {self.low_usd:g}")
        if self.unit == "gpu" and self.gpus_per_unit != 1:
            raise ValueError("gpus_per_unit must be 1 when unit is gpu")
        return self


class PurchasePrice(BaseModel):
    """The purchase price the tools use for one accelerator: the range over its cited rows and the
    midpoint of that range. Replace it with your own quote (an override row or --gpu-price)."""

    accelerator: str
    unit: Literal["gpu", "server"]
    gpus_per_unit: int
    low_usd: float
    high_usd: float
    mid_usd: float = Field(description="(low + high) / 2: the figure used when no quote is given")
    source: str = Field(description="the cited sources, '; '-separated")
    source_date: str = Field(description="oldest date among the cited rows (YYYY-MM-DD)")
    date_basis: DateBasis
    from_override: bool = Field(description="True when the rows come from a user override file")
    rows: list[PurchasePriceRow]

    def price_age(self, *, max_age_days: int | None = None, today: date | None = None) -> PriceAge:
        return price_age(self.source_date, self.date_basis, max_age_days=max_age_days, today=today)

    def describe(self, *, max_age_days: int | None = None, today: date | None = None) -> str:
        """One line: midpoint, range, sources, date and the reminder to use a real quote."""
        span = (
            f"${self.low_usd:,.0f}"
            if self.low_usd == self.high_usd
            else f"midpoint of ${self.low_usd:,.0f}-${self.high_usd:,.0f}"
        )
        what = "per GPU" if self.unit == "gpu" else f"per {self.gpus_per_unit}-GPU server"
        age = self.price_age(max_age_days=max_age_days, today=today).label()
        hint = "your quote" if self.from_override else "replace with your quote"
        return f"purchase price ${self.mid_usd:,.0f} {what} ({span}; {self.source}; {age}) - {hint}"
