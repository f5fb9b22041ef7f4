"""Mixed-integer solve with HiGHS (highspy): LP bound, a diving heuristic, then branch-and-bound if needed.

1. The LP relaxation (with whatever valid cuts the caller added as rows) gives a lower bound.
2. Diving: fix the fifth of the fractional integer variables nearest an integer to that integer, re-solve
   the LP warm, repeat; the result is integer-feasible and its gap to the bound is proven. If the time
   limit strikes mid-dive, the open purchases are rounded up and the placement re-solved once.
3. If that gap is above ``mip_rel_gap``, HiGHS's branch-and-bound continues from that plan (given as
   the incumbent) for the rest of the time limit.

The achieved relative gap, (plan cost - best bound) / plan cost, is reported with the plan. A time-out or
failure before any integer plan exists raises ``SolverError``.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse


class SolverError(Exception):
    """HiGHS found no plan (time limit, numerical trouble); the message says which."""


@dataclass
class MilpProblem:
    cost: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray  # bool per column
    a: sparse.csr_array
    row_lo: np.ndarray
    row_hi: np.ndarray


@dataclass
class MilpResult:
    x: np.ndarray
    objective: float
    bound: float
    gap: float
    seconds: float
    method: str

    @property
    def status(self) -> str:
        return (
            f"{self.method}: cost within {100 * self.gap:.2f} % of the optimum (proven), {self.seconds:.2f} s"
        )


_OK = {highspy.HighsModelStatus.kOptimal}
DIVE_SHARE = 0.2  # per dive step, fix this share of the fractional integers (those nearest an integer)
ROUNDING_GRACE_S = 30.0  # a time-out mid-dive still gets one warm re-solve with purchases rounded up


@functools.cache
def _banner_swallowed() -> None:
    """HiGHS prints a banner on stdout (file descriptor 1) when a process makes its first instance; make
    that one with stdout pointed at /dev/null, so `capplan plan --json` output stays JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _highs(p: MilpProblem, scale: float, time_limit_s: float) -> highspy.Highs:
    _banner_swallowed()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(time_limit_s, 1e-9))
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = p.cost.size, p.a.shape[0]
    lp.col_cost_ = p.cost / scale
    lp.col_lower_, lp.col_upper_ = p.lb, p.ub
    lp.row_lower_, lp.row_upper_ = p.row_lo, p.row_hi
    csc = sparse.csc_array(p.a)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    h.passModel(lp)
    return h


def _run(h: highspy.Highs, what: str, limit_s: float) -> None:
    h.run()
    status = h.getModelStatus()
    if status not in _OK:
        raise SolverError(
            f"HiGHS stopped during {what}: {h.modelStatusToString(status)} (time limit {limit_s:g} s)"
        )


def solve(p: MilpProblem, *, time_limit_s: float, mip_rel_gap: float) -> MilpResult:
    """Solve ``p`` to ``mip_rel_gap`` within ``time_limit_s``; SolverError when no integer plan is found."""
    start = time.perf_counter()
    n = p.cost.size
    scale = max(float(np.median(np.abs(p.cost[p.cost != 0]))) if np.any(p.cost) else 1.0, 1.0)
    h = _highs(p, scale, time_limit_s)

    def left() -> float:
        return time_limit_s - (time.perf_counter() - start)

    _run(h, "the LP relaxation", time_limit_s)
    bound = h.getInfo().objective_function_value * scale
    ints = np.nonzero(p.integer)[0]
    method = "LP relaxation + diving (HiGHS)"
    while True:
        x = np.asarray(h.getSolution().col_value)
        frac = x[ints] - np.floor(x[ints])
        open_ = np.nonzero((frac > 1e-6) & (frac < 1 - 1e-6))[0]
        if open_.size == 0:
            break
        distance = np.minimum(frac[open_], 1 - frac[open_])
        up = left() <= 0
        if up:  # out of time: round every open purchase up (capacity only grows), fix the rest, re-place
            method = "LP relaxation + diving cut short by the time limit, rest rounded up (HiGHS)"
            cols = ints.astype(np.int32)
            values = np.ceil(x[cols] - 1e-6)
            # HiGHS's time limit counts all runs of this instance: allow one more warm re-solve
            h.setOptionValue("time_limit", h.getRunTime() + ROUNDING_GRACE_S)
        else:  # fix the fifth of the open variables nearest an integer, to their nearest integer
            pick = open_[np.argsort(distance)[: max(1, math.ceil(DIVE_SHARE * open_.size))]]
            cols = ints[pick].astype(np.int32)
            values = np.where(frac[pick] < 0.5, np.floor(x[cols]), np.ceil(x[cols]))
        h.changeColsBounds(cols.size, cols, values, values)
        _run(h, "diving", time_limit_s)
        if up:
            break
    x = np.asarray(h.getSolution().col_value)
    x[ints] = np.round(x[ints])
    objective = float(p.cost @ x)
    gap = _gap(objective, bound)
    if gap > mip_rel_gap and left() > 0:
        method = "LP relaxation + diving, then branch-and-bound (HiGHS)"
        h.changeColsBounds(n, np.arange(n, dtype=np.int32), p.lb, p.ub)
        h.changeColsIntegrality(
            ints.size, ints.astype(np.int32), np.full(ints.size, highspy.HighsVarType.kInteger)
        )
        h.setOptionValue("mip_rel_gap", mip_rel_gap)
        h.setOptionValue("time_limit", time_limit_s)  # cumulative over this instance's runs
        incumbent = highspy.HighsSolution()
        incumbent.col_value = list(x)
        incumbent.value_valid = True
        h.setSolution(incumbent)
        h.run()
        info = h.getInfo()
        if info.primal_solution_status == 2:  # kSolutionStatusFeasible
            y = np.asarray(h.getSolution().col_value)
            y[ints] = np.round(y[ints])
            if float(p.cost @ y) <= objective:
                x, objective = y, float(p.cost @ y)
        bound = max(bound, float(info.mip_dual_bound) * scale)
        gap = _gap(objective, bound)
    return MilpResult(x, objective, bound, gap, time.perf_counter() - start, method)


def _gap(objective: float, bound: float) -> float:
    return max(objective - bound, 0.0) / max(abs(objective), 1e-9)
