"""Performance projection onto catalog hardware: roofline per phase, memory fit, calibrated efficiency."""

from capplan.perfmodel.calibration import CalibrationPoint, gather_points
from capplan.perfmodel.projection import Projection, project
from capplan.perfmodel.validate import ValidationReport, leave_one_out, validate
from capplan.perfmodel.workloads import WORKLOADS, WorkloadDesc, describe_record, describe_run, named_workload

__all__ = [
    "WORKLOADS",
    "CalibrationPoint",
    "Projection",
    "ValidationReport",
    "WorkloadDesc",
    "describe_record",
    "describe_run",
    "gather_points",
    "leave_one_out",
    "named_workload",
    "project",
    "validate",
]
