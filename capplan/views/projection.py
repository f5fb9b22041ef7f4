"""Projections for the Hardware and Costs pages: calibration points from the store, a workload
projected onto chosen accelerators (one frame, plus the accelerators it could not be projected onto),
and the $ per unit of work of one costed accelerator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from capplan.catalog import Accelerator, Catalog
from capplan.errors import UserError
from capplan.perfmodel import CalibrationPoint, Projection, WorkloadDesc, gather_points, project
from capplan.results.aggregates import distinct_values
from capplan.results.schema import Status
from capplan.results.store import RunFilter, Store
from capplan.views.costs import CostResult, unit_cost_frame
from capplan.views.hardware import projection_frame, throughput_per_device
from capplan.views.kinds import MICRO_KINDS


def calibration_points(store: Store, catalog: Catalog) -> list[CalibrationPoint]:
    """Calibration points: the stored ok runs of every kind that describes a workload, plus the shipped
    published results."""
    ok = RunFilter(status=Status.ok.value)
    kinds = [k for k in distinct_values(store, "kind", ok) if k not in MICRO_KINDS]
    records = [r for kind in kinds for r in store.iter_records(RunFilter(kind=kind, status=Status.ok.value))]
    return gather_points(catalog, records)


@dataclass(frozen=True)
class Projections:
    """A workload projected onto several accelerators: the projections, their table, and one line per
    accelerator that could not be projected (e.g. no peak for the dtype)."""

    projections: list[Projection]
    frame: pd.DataFrame  # capplan.views.hardware.PROJECTION_COLUMNS
    problems: list[str]


def project_onto(desc: WorkloadDesc, accelerators: Sequence[str], catalog: Catalog,
                 points: Sequence[CalibrationPoint]) -> Projections:
    """``desc`` projected onto each of ``accelerators`` (one device each) with the given calibration."""
    projections, problems = [], []
    for name in accelerators:
        try:
            projections.append(project(desc, name, catalog=catalog, points=points))
        except UserError as exc:
            problems.append(f"{name}: {exc}")
    return Projections(projections, projection_frame(projections), problems)


@dataclass(frozen=True)
class WorkUnitCosts:
    """$/GPU-hour and $ per unit of work of both options, at the throughput projected for the workload."""

    projection: Projection
    frame: pd.DataFrame  # capplan.views.costs.unit_cost_frame
    note: str  # the projected throughput, band and calibration tier, in one sentence


def work_unit_costs_on(desc: WorkloadDesc, accelerator: Accelerator, result: CostResult, catalog: Catalog,
                       points: Sequence[CalibrationPoint]) -> WorkUnitCosts:
    """The cost comparison ``result`` per unit of ``desc``'s work on ``accelerator``; UserError when the
    workload cannot be projected onto it."""
    p = project(desc, accelerator.name, catalog=catalog, points=points)
    note = (f"Projected {p.throughput_per_s:,.4g} {p.throughput_unit} on {p.count} x {accelerator.name} "
            f"(band {p.band_low:,.4g}–{p.band_high:,.4g}; calibration: {p.calibration_tier}).")
    return WorkUnitCosts(p, unit_cost_frame(result, throughput_per_device(p), p.throughput_unit), note)
