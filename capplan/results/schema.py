"""Pydantic schema of one benchmark run: the immutable unit every later stage reads."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1


class Status(StrEnum):
    """Outcome of a run; anything but ``ok`` carries ``error`` text. Only ``ok`` records hold figures to
    use: ``infeasible`` means the benchmark's constraints cannot be met on this host (the error names the
    numbers), ``skipped`` that the host lacks what it needs (e.g. CUDA)."""

    ok = "ok"
    failed = "failed"
    timeout = "timeout"
    oom = "oom"
    skipped = "skipped"
    infeasible = "infeasible"


class Source(StrEnum):
    """Where a record came from: measured here, or imported from a published/external result."""

    local = "local"
    imported = "imported"


class Metric(BaseModel):
    """One named result value with its unit, e.g. ``throughput_samples_per_s``."""

    # NaN/inf in stats survive the JSON round trip through the store (the default writes null, which
    # then fails validation and makes every later read of the store crash).
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    name: str = Field(min_length=1, description="metric name, unit suffix included (e.g. latency_p99_ms)")
    value: float = Field(allow_inf_nan=False, description="the headline value (median unless stated)")
    unit: str = Field(min_length=1, description="unit, e.g. ms, GB/s, TFLOP/s, samples/s")
    higher_is_better: bool = True
    stats: dict[str, float] = Field(default_factory=dict, description="derived statistics of the raw samples")
    noisy: bool = Field(False, description="spread above the noise threshold; repeat before trusting")
    peak: float | None = Field(None, description="theoretical or reference peak in the same unit")
    peak_source: str | None = Field(
        None, description="where the peak comes from (catalog row, measured GEMM)"
    )

    @property
    def pct_of_peak(self) -> float | None:
        """Value as a percentage of ``peak`` when a peak is known."""
        return None if not self.peak else 100.0 * self.value / self.peak


def config_hash(config: dict[str, Any]) -> str:
    """Stable short hash of a benchmark configuration (canonical JSON, sorted keys)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RunRecord(BaseModel):
    """Everything about one benchmark execution. Records are immutable once stored."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    run_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    benchmark: str = Field(min_length=1, description="benchmark name within its suite")
    kind: str = Field(min_length=1, description="benchmark kind (registry key), e.g. gemm, membw, infer")
    suite: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    config_hash: str = ""
    host_fingerprint: str = ""
    inventory: dict[str, Any] = Field(default_factory=dict, description="hardware/software snapshot")
    software: dict[str, str] = Field(default_factory=dict)
    started_utc: datetime = Field(default_factory=_utcnow)
    ended_utc: datetime = Field(default_factory=_utcnow)
    status: Status = Status.ok
    error: str | None = None
    metrics: list[Metric] = Field(default_factory=list)
    samples: dict[str, list[float]] = Field(default_factory=dict, description="raw samples, unit in key")
    telemetry: dict[str, float | None] = Field(default_factory=dict, description="telemetry summary")
    tags: dict[str, str] = Field(default_factory=dict)
    source: Source = Source.local
    origin: str | None = Field(None, description="for imported records: file/submitter/system")
    seed: int | None = None
    schema_version: int = SCHEMA_VERSION

    @field_validator("started_utc", "ended_utc")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def model_post_init(self, __context: Any) -> None:
        if not self.config_hash:
            object.__setattr__(self, "config_hash", config_hash(self.config))

    @property
    def duration_s(self) -> float:
        return (self.ended_utc - self.started_utc).total_seconds()

    def metric(self, name: str) -> Metric | None:
        """The metric called ``name``, or None."""
        return next((m for m in self.metrics if m.name == name), None)
