"""Capacity planner: plan.yaml -> SLO-aware sizing -> hybrid placement (MILP) -> timeline, reasons,
reports."""

from capplan.planner.plan import Plan, load_plan
from capplan.planner.result import PlanResult
from capplan.planner.run import run_plan

__all__ = ["Plan", "PlanResult", "load_plan", "run_plan"]
