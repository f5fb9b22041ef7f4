"""Validation: project every calibration point from the others and compare with what was measured.

Three ways of holding results out, from easiest to hardest:
- leave-one-out: the result itself (its twin in the other scenario and its system's other results stay);
- leave-one-system-out: every result of the same system (round, submitter, system name);
- leave-one-accelerator-out: every result on the same accelerator model (an H200 NVL predicted from
  other Hopper devices, never from itself);
- leave-one-architecture-out: every result on the same micro-architecture (a Hopper result is predicted
  with no Hopper point at all).
The held-out results also leave the Server/Offline factors and the band's pooled spread. Training
results are validated the same way, with leave-one-model-out in place of leave-one-system-out.
Errors are (projected - measured) / measured per device; the band's stated coverage is BAND_COVERAGE.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, Field

from capplan.catalog import Catalog
from capplan.perfmodel.calibration import BAND_COVERAGE, CalibrationPoint, Context, PointTable, select
from capplan.perfmodel.roofline import peak_dtype

INFERENCE_MODES = ("leave-one-out", "leave-one-system-out", "leave-one-accelerator-out",
                   "leave-one-architecture-out")
TRAINING_MODES = ("leave-one-out", "leave-one-model-out", "leave-one-architecture-out")


class ValidationRow(BaseModel):
    """One held-out result: what was measured, what the rest predict, and the error."""

    run_id: str
    origin: str
    workload: str
    scenario: str | None
    accelerator: str
    arch: str | None
    system: str
    count: int
    dtype: str
    measured: float = Field(description="per device")
    projected: float = Field(description="per device")
    band_low: float
    band_high: float
    unit: str
    error_pct: float
    in_band: bool
    tier: str
    points_used: int
    source_date: str | None = None


class Summary(BaseModel):
    """Errors of a set of held-out results."""

    n: int
    median_abs_error_pct: float | None
    median_error_pct: float | None = Field(description="signed: positive = projections too high")
    in_band_pct: float | None


class ModeReport(BaseModel):
    """One hold-out mode over one set of results, broken down."""

    mode: str
    overall: Summary
    by_scenario: dict[str, Summary]
    by_workload: dict[str, Summary]
    by_tier: dict[str, Summary]
    by_accelerator: dict[str, Summary]
    rows: list[ValidationRow]


class ValidationReport(BaseModel):
    """Inference and training validation; ``band_coverage_pct`` is what the bands claim."""

    band_coverage_pct: float
    inference_results: int
    training_results: int
    inference: list[ModeReport]
    training: list[ModeReport]

    def mode(self, name: str, *, training: bool = False) -> ModeReport:
        return next(m for m in (self.training if training else self.inference) if m.mode == name)


def summarise(rows: Sequence[ValidationRow]) -> Summary:
    if not rows:
        return Summary(n=0, median_abs_error_pct=None, median_error_pct=None, in_band_pct=None)
    return Summary(
        n=len(rows),
        median_abs_error_pct=statistics.median(abs(r.error_pct) for r in rows),
        median_error_pct=statistics.median(r.error_pct for r in rows),
        in_band_pct=100.0 * sum(r.in_band for r in rows) / len(rows),
    )


def _by(rows: Sequence[ValidationRow], key: Callable[[ValidationRow], str]) -> dict[str, Summary]:
    groups: dict[str, list[ValidationRow]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return {k: summarise(v) for k, v in sorted(groups.items())}


def hold_out(points: Sequence[CalibrationPoint], catalog: Catalog, mode: str) -> ModeReport:
    """Project each point from the points ``mode`` leaves in (see module docstring)."""
    table = PointTable(points)
    group_of: Callable[[CalibrationPoint], str] = {
        "leave-one-out": lambda p: p.run_id,
        "leave-one-system-out": lambda p: p.system,
        "leave-one-accelerator-out": lambda p: p.accelerator,
        "leave-one-model-out": lambda p: p.workload,
        "leave-one-architecture-out": lambda p: p.arch or p.accelerator,
    }[mode]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(points):
        groups[group_of(p)].append(i)
    rows = []
    for members in groups.values():
        keep = np.ones(len(points), bool)
        keep[members] = False
        context = Context(table, keep)
        for i in members:
            rows.append(_row(points[i], catalog, context))
    return _report(mode, rows)


def _row(held: CalibrationPoint, catalog: Catalog, context: Context) -> ValidationRow:
    acc = catalog.accelerator(held.accelerator)
    cal = select(
        held.desc, acc, context, held.scenario, native_peak=peak_dtype(acc, held.dtype) == held.dtype
    )
    projected = held.ideal_per_device * cal.efficiency
    low, high = held.ideal_per_device * cal.low, held.ideal_per_device * cal.high
    return ValidationRow(
        run_id=held.run_id,
        origin=held.origin,
        workload=held.workload,
        scenario=held.scenario,
        accelerator=held.accelerator,
        arch=held.arch,
        system=held.system,
        count=held.count,
        dtype=held.dtype,
        measured=held.measured_per_device,
        projected=projected,
        band_low=low,
        band_high=high,
        unit=held.unit,
        error_pct=100.0 * (projected - held.measured_per_device) / held.measured_per_device,
        in_band=low <= held.measured_per_device <= high,
        tier=cal.tier,
        points_used=len(cal.points),
        source_date=held.source_date,
    )


def validate(points: Sequence[CalibrationPoint], catalog: Catalog) -> ValidationReport:
    """Every inference point under INFERENCE_MODES and every training point under TRAINING_MODES."""
    inference = [p for p in points if p.task != "train"]
    training = [p for p in points if p.task == "train"]
    return ValidationReport(
        band_coverage_pct=100 * BAND_COVERAGE,
        inference_results=len(inference),
        training_results=len(training),
        inference=[hold_out(inference, catalog, m) for m in INFERENCE_MODES] if inference else [],
        training=[hold_out(training, catalog, m) for m in TRAINING_MODES] if training else [],
    )


def check_external(
    held_out: Sequence[CalibrationPoint], calibration: Sequence[CalibrationPoint], catalog: Catalog
) -> ModeReport:
    """Project results that are not in the calibration set (a round the project does not ship) from the
    calibration set alone, and report the same errors as the hold-out modes."""
    table = PointTable([*calibration, *held_out])
    keep = np.zeros(len(table), bool)
    keep[: len(calibration)] = True
    context = Context(table, keep)
    rows = [_row(p, catalog, context) for p in held_out]
    return _report("results not in the calibration set", rows)


def _report(mode: str, rows: list[ValidationRow]) -> ModeReport:
    return ModeReport(
        mode=mode,
        overall=summarise(rows),
        by_scenario=_by(rows, lambda r: r.scenario or "fixed batch"),
        by_workload=_by(rows, lambda r: r.workload),
        by_tier=_by(rows, lambda r: r.tier),
        by_accelerator=_by(rows, lambda r: r.accelerator),
        rows=rows,
    )


def leave_one_out(points: Sequence[CalibrationPoint], catalog: Catalog) -> ModeReport:
    """Leave-one-out over all ``points`` (inference and training together)."""
    return hold_out(points, catalog, "leave-one-out")
