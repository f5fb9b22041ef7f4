"""Leave-one-out validation: project each calibration point from all the others and compare."""

from __future__ import annotations

import statistics

from pydantic import BaseModel

from capplan.catalog import Catalog
from capplan.perfmodel.calibration import CalibrationPoint
from capplan.perfmodel.projection import project


class ValidationRow(BaseModel):
    """One held-out point: what was measured, what the others predict, and the error."""

    run_id: str
    origin: str
    workload: str
    accelerator: str
    measured: float
    projected: float
    band_low: float
    band_high: float
    unit: str
    error_pct: float
    in_band: bool
    tier: str
    points_used: int


class ValidationReport(BaseModel):
    rows: list[ValidationRow]
    median_abs_error_pct: float | None
    in_band_pct: float | None


def leave_one_out(points: list[CalibrationPoint], catalog: Catalog) -> ValidationReport:
    """For each point, calibrate from every other point (same run excluded) and project it back."""
    rows = []
    for held in points:
        others = [p for p in points if p.run_id != held.run_id]
        proj = project(held.desc, held.accelerator, catalog=catalog, points=others)
        if not proj.fits:  # compare per device when the model needs several
            proj = project(
                held.desc, held.accelerator, count=proj.min_devices, catalog=catalog, points=others
            )
        scale = 1.0 / proj.count
        error = 100.0 * (proj.throughput_per_s * scale - held.measured_per_device) / held.measured_per_device
        rows.append(
            ValidationRow(
                run_id=held.run_id,
                origin=held.origin,
                workload=held.workload,
                accelerator=held.accelerator,
                measured=held.measured_per_device,
                projected=proj.throughput_per_s * scale,
                band_low=proj.band_low * scale,
                band_high=proj.band_high * scale,
                unit=held.unit,
                error_pct=error,
                in_band=proj.band_low * scale <= held.measured_per_device <= proj.band_high * scale,
                tier=proj.calibration_tier,
                points_used=len(proj.calibration_points),
            )
        )
    errors = [abs(r.error_pct) for r in rows]
    return ValidationReport(
        rows=rows, median_abs_error_pct=statistics.median(errors) if errors else None,
        in_band_pct=100.0 * sum(r.in_band for r in rows) / len(rows) if rows else None,
    )
