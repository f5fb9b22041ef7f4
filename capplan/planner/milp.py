"""Mixed-integer solve with HiGHS (highspy): LP bound with cuts, primal heuristics, then branch-and-bound.

1. The problem splits into independent blocks (connected components of its constraint graph: e.g. the
   on-prem-only workloads and their servers in the all-cloud alternative); each block is solved alone
   and the gap is that of the sum.
2. Per block, the LP relaxation gives a lower bound. Valid inequalities given as ``cuts`` are added
   only when the LP solution violates them (a few rounds), which keeps the LP small.
3. Two primal heuristics, each on the warm LP: diving (fix the fifth of the fractional integer columns
   nearest an integer, re-solve, repeat; a step that would leave demand unserved rounds up instead) and
   relax-and-fix by stage (fix the purchases starting in each quarter in turn, re-solving in between).
   The cheaper integer plan is kept; its gap to the bound is proven.
4. While the gap of the whole problem is above ``mip_rel_gap``, HiGHS's branch-and-bound continues on
   the block with the largest absolute gap, from that plan, within that block's share of the time left.

The achieved relative gap, (plan cost - best bound) / plan cost, is reported with the plan. A time-out or
failure before any integer plan exists raises ``SolverError``.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components


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
    penalty: np.ndarray | None = None  # bool per column: penalised slack (unserved demand, overruns)
    stage: np.ndarray | None = None  # per integer column: relax-and-fix order (start quarter); -1 none
    cuts: sparse.csr_array | None = None  # valid inequalities cuts @ x <= cut_hi, added when violated
    cut_hi: np.ndarray | None = None


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
RELAX_AND_FIX_THRESHOLD = 0.3  # relax-and-fix rounds a purchase up when its fraction exceeds this
CUT_ROUNDS = 8  # at most this many LP re-solves adding violated cuts
CUT_TOLERANCE = 1e-6  # a cut counts as violated beyond this (in its own units)
FINISH_TRY_X = 4.0  # first try rounding the open purchases up once that could cost 4x the target gap
ROUNDING_GRACE_S = 30.0  # a time-out mid-dive still gets one warm re-solve with purchases rounded up


_BANNER_LOCK = threading.Lock()  # placement solves run in threads; only one may swap file descriptor 1
_BANNER_SWALLOWED = threading.Event()


def _banner_swallowed() -> None:
    """HiGHS prints a banner on stdout (file descriptor 1) when a process makes its first instance; make
    that one with stdout pointed at /dev/null, so `capplan plan --json` output stays JSON."""
    with _BANNER_LOCK:
        if _BANNER_SWALLOWED.is_set():
            return
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w", encoding="utf-8") as null:
                os.dup2(null.fileno(), 1)
                highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SWALLOWED.set()


def _scale(p: MilpProblem) -> float:
    nonzero = np.abs(p.cost[p.cost != 0])
    return max(float(np.median(nonzero)) if nonzero.size else 1.0, 1.0)


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


def _gap(objective: float, bound: float) -> float:
    return max(objective - bound, 0.0) / max(abs(objective), 1e-9)


def _blocks(p: MilpProblem) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(columns, rows, cut rows) of each independent block with an integer column; the continuous rest
    is one more block (LP only). One block when nothing splits."""
    n, m = p.cost.size, p.a.shape[0]
    coo = sparse.coo_array(p.a)
    rows, cols = [coo.row + n], [coo.col]
    if p.cuts is not None and p.cuts.shape[0]:
        cut = sparse.coo_array(p.cuts)
        rows.append(cut.row + n + m)
        cols.append(cut.col)
        k = p.cuts.shape[0]
    else:
        k = 0
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_array((np.ones(r.size), (c, r)), shape=(n + m + k, n + m + k))
    count, label = connected_components(graph, directed=False)
    col_label, row_label, cut_label = label[:n], label[n : n + m], label[n + m :]
    with_int = np.unique(col_label[p.integer])
    if with_int.size <= 1 and count == 1:
        return [(np.arange(n), np.arange(m), np.arange(k))]
    out = []
    for b in with_int:
        out.append(
            (np.nonzero(col_label == b)[0], np.nonzero(row_label == b)[0], np.nonzero(cut_label == b)[0])
        )
    rest = ~np.isin(col_label, with_int)
    if rest.any():
        out.append(
            (
                np.nonzero(rest)[0],
                np.nonzero(~np.isin(row_label, with_int))[0],
                np.nonzero(~np.isin(cut_label, with_int))[0],
            )
        )
    return out


def _sub(p: MilpProblem, cols: np.ndarray, rows: np.ndarray, cut_rows: np.ndarray) -> MilpProblem:
    a = sparse.csr_array(p.a)[rows][:, cols]
    cuts = sparse.csr_array(p.cuts)[cut_rows][:, cols] if p.cuts is not None and cut_rows.size else None
    return MilpProblem(
        cost=p.cost[cols],
        lb=p.lb[cols],
        ub=p.ub[cols],
        integer=p.integer[cols],
        a=sparse.csr_array(a),
        row_lo=p.row_lo[rows],
        row_hi=p.row_hi[rows],
        penalty=None if p.penalty is None else p.penalty[cols],
        stage=None if p.stage is None else p.stage[cols],
        cuts=cuts,
        cut_hi=None if cuts is None else p.cut_hi[cut_rows],  # type: ignore[index]
    )


@dataclass
class _Block:
    """One independent block: its HiGHS instance, LP bound and best integer plan so far."""

    p: MilpProblem
    scale: float
    h: highspy.Highs
    bound: float
    x: np.ndarray | None = None
    objective: float = math.inf
    methods: list[str] = field(default_factory=list)

    @property
    def ints(self) -> np.ndarray:
        return np.nonzero(self.p.integer)[0]

    def keep(self, x: np.ndarray, method: str) -> None:
        x = x.copy()
        x[self.ints] = np.round(x[self.ints])
        objective = float(self.p.cost @ x)
        if objective < self.objective - 1e-9 * max(abs(objective), 1.0):
            self.x, self.objective = x, objective
            self.methods.append(method)

    def reset(self) -> None:
        """Back to the LP relaxation (every bound as given), warm from the current basis."""
        n = self.p.cost.size
        self.h.changeColsBounds(n, np.arange(n, dtype=np.int32), self.p.lb, self.p.ub)


def _lp_with_cuts(b: _Block, deadline: float, limit_s: float) -> None:
    _run(b.h, "the LP relaxation", limit_s)
    p = b.p
    if p.cuts is not None and p.cuts.shape[0]:
        added = np.zeros(p.cuts.shape[0], dtype=bool)
        for _ in range(CUT_ROUNDS):
            if time.perf_counter() > deadline:
                break
            x = np.asarray(b.h.getSolution().col_value)
            violated = np.nonzero(~added & (p.cuts @ x > p.cut_hi + CUT_TOLERANCE))[0]  # type: ignore[operator]
            if violated.size == 0:
                break
            added[violated] = True
            rows = sparse.csr_array(p.cuts[violated])  # type: ignore[index]
            b.h.addRows(
                violated.size,
                np.full(violated.size, -highspy.kHighsInf),
                p.cut_hi[violated],  # type: ignore[index]
                rows.nnz,
                rows.indptr[:-1].astype(np.int32),
                rows.indices.astype(np.int32),
                rows.data,
            )
            _run(b.h, "the LP relaxation with cuts", limit_s)
    b.bound = b.h.getInfo().objective_function_value * b.scale


def _penalty_usd(b: _Block, x: np.ndarray) -> float:
    pen = b.p.penalty
    return 0.0 if pen is None else float(b.p.cost[pen] @ x[pen])


def _dive(b: _Block, deadline: float, limit_s: float, target: float) -> None:
    """Fix the fifth of the fractional integers nearest an integer, re-solve warm, repeat. A step that
    raises the penalised slack (demand left unserved) rounds its picks up instead. Once rounding every
    open purchase up could cost no more than half the ``target`` gap, that is tried (one re-solve) and kept
    if it is within it. Out of time: every open purchase is rounded up (capacity only grows) and the
    placement re-solved once."""
    h, ints, cost = b.h, b.ints, b.p.cost
    x = np.asarray(h.getSolution().col_value)
    penalty = _penalty_usd(b, x)
    method = "diving"
    finish_at = [target / 2, FINISH_TRY_X * target]  # estimated gaps at which to try rounding the rest up
    while True:
        frac = x[ints] - np.floor(x[ints])
        open_ = np.nonzero((frac > 1e-6) & (frac < 1 - 1e-6))[0]
        if open_.size == 0:
            break
        cols = ints[open_].astype(np.int32)
        ceiling = np.ceil(x[cols] - 1e-6)
        at_most = float(cost @ x) + float((ceiling - x[cols]) @ np.maximum(cost[cols], 0.0))
        if finish_at and _gap(at_most, b.bound) <= finish_at[-1]:
            finish_at.pop()
            h.changeColsBounds(cols.size, cols, ceiling, ceiling)
            _run(h, "diving", limit_s)
            y = np.asarray(h.getSolution().col_value)
            if _gap(float(cost @ y), b.bound) <= target / 2:
                x, method = y, "diving (last purchases rounded up)"
                break
            h.changeColsBounds(cols.size, cols, b.p.lb[cols], b.p.ub[cols])
            _run(h, "diving", limit_s)
            x = np.asarray(h.getSolution().col_value)
            continue
        if time.perf_counter() > deadline:
            method = "diving cut short by the time limit, rest rounded up"
            cols = ints.astype(np.int32)
            values = np.ceil(x[cols] - 1e-6)
            h.setOptionValue("time_limit", h.getRunTime() + ROUNDING_GRACE_S)
            h.changeColsBounds(cols.size, cols, values, values)
            _run(h, "diving", limit_s)
            x = np.asarray(h.getSolution().col_value)
            break
        distance = np.minimum(frac[open_], 1 - frac[open_])
        pick = open_[np.argsort(distance)[: max(1, math.ceil(DIVE_SHARE * open_.size))]]
        cols = ints[pick].astype(np.int32)
        values = np.where(frac[pick] < 0.5, np.floor(x[cols]), np.ceil(x[cols]))
        h.changeColsBounds(cols.size, cols, values, values)
        _run(h, "diving", limit_s)
        y = np.asarray(h.getSolution().col_value)
        if _penalty_usd(b, y) > penalty + 1e-6 * max(abs(b.bound), 1.0) and (values < x[cols]).any():
            values = np.ceil(x[cols] - 1e-9)
            h.changeColsBounds(cols.size, cols, values, values)
            _run(h, "diving", limit_s)
            y = np.asarray(h.getSolution().col_value)
        x, penalty = y, _penalty_usd(b, y)
    b.keep(x, method)


def _relax_and_fix(b: _Block, deadline: float, limit_s: float) -> None:
    """Fix the integer columns stage by stage (purchases by start quarter): round each up when its
    fraction exceeds RELAX_AND_FIX_THRESHOLD (up when rounding down would leave demand unserved),
    re-solving the LP in between."""
    p, h = b.p, b.h
    if p.stage is None or time.perf_counter() > deadline:
        return
    x = np.asarray(h.getSolution().col_value)
    penalty = _penalty_usd(b, x)
    ints = b.ints
    for stage in np.unique(p.stage[ints]):
        if time.perf_counter() > deadline:
            return
        cols = ints[p.stage[ints] == stage].astype(np.int32)
        v = x[cols]
        values = np.where(v - np.floor(v) > RELAX_AND_FIX_THRESHOLD, np.ceil(v), np.floor(v))
        values = np.where(np.abs(v - np.round(v)) < 1e-6, np.round(v), values)
        h.changeColsBounds(cols.size, cols, values, values)
        _run(h, "relax-and-fix", limit_s)
        y = np.asarray(h.getSolution().col_value)
        if _penalty_usd(b, y) > penalty + 1e-6 * max(abs(b.bound), 1.0):
            values = np.ceil(v - 1e-6)
            h.changeColsBounds(cols.size, cols, values, values)
            _run(h, "relax-and-fix", limit_s)
            y = np.asarray(h.getSolution().col_value)
        x, penalty = y, _penalty_usd(b, y)
    b.keep(x, "relax-and-fix")


def _branch_and_bound(b: _Block, time_s: float, mip_rel_gap: float) -> None:
    """HiGHS's branch-and-bound from the block's best plan, for ``time_s`` more seconds."""
    h, p, ints = b.h, b.p, b.ints
    b.reset()
    kinds = np.full(ints.size, highspy.HighsVarType.kInteger)
    h.changeColsIntegrality(ints.size, ints.astype(np.int32), kinds)
    h.setOptionValue("mip_rel_gap", mip_rel_gap)
    h.setOptionValue("time_limit", h.getRunTime() + max(time_s, 1e-3))  # cumulative over the instance's runs
    incumbent = highspy.HighsSolution()
    incumbent.col_value = list(b.x)  # type: ignore[arg-type]
    incumbent.value_valid = True
    h.setSolution(incumbent)
    h.run()
    b.methods.append("branch-and-bound")
    info = h.getInfo()
    if info.primal_solution_status == 2:  # kSolutionStatusFeasible
        b.keep(np.asarray(h.getSolution().col_value)[: p.cost.size], "branch-and-bound")
    if math.isfinite(info.mip_dual_bound):
        b.bound = max(b.bound, float(info.mip_dual_bound) * b.scale)


def solve(p: MilpProblem, *, time_limit_s: float, mip_rel_gap: float) -> MilpResult:
    """Solve ``p`` to ``mip_rel_gap`` within ``time_limit_s``; SolverError when no integer plan is found."""
    start = time.perf_counter()
    deadline = start + time_limit_s
    blocks: list[tuple[np.ndarray, _Block]] = []
    for cols, rows, cut_rows in _blocks(p):
        sub = _sub(p, cols, rows, cut_rows) if cols.size < p.cost.size else p
        scale = _scale(sub)
        block = _Block(sub, scale, _highs(sub, scale, time_limit_s), 0.0)
        _lp_with_cuts(block, deadline, time_limit_s)
        blocks.append((cols, block))
    for _, b in blocks:
        if b.ints.size == 0:
            b.keep(np.asarray(b.h.getSolution().col_value), "LP")
            continue
        _dive(b, deadline, time_limit_s, mip_rel_gap)
        if _gap(b.objective, b.bound) > mip_rel_gap / 2 and time.perf_counter() < deadline:
            b.reset()
            _run(b.h, "relax-and-fix", time_limit_s)
            _relax_and_fix(b, deadline, time_limit_s)

    def total() -> tuple[float, float]:
        return sum(b.objective for _, b in blocks), sum(b.bound for _, b in blocks)

    tried: set[int] = set()
    while _gap(*total()) > mip_rel_gap and time.perf_counter() < deadline:
        open_ = [i for i, (_, b) in enumerate(blocks) if i not in tried and b.ints.size]
        if not open_:
            break
        i = max(open_, key=lambda k: blocks[k][1].objective - blocks[k][1].bound)
        tried.add(i)
        b = blocks[i][1]
        left = deadline - time.perf_counter()
        gaps = sum(blocks[k][1].objective - blocks[k][1].bound for k in open_)
        share = (b.objective - b.bound) / gaps if gaps > 0 else 1.0
        # this block may keep what the others leave of the whole problem's allowed gap
        objective, bound = total()
        others = (objective - bound) - (b.objective - b.bound)
        allowed = 0.95 * (mip_rel_gap * objective - others) / max(abs(b.objective), 1e-9)
        _branch_and_bound(b, left * max(share, 0.5), max(allowed, mip_rel_gap / 4))
    x = np.zeros(p.cost.size)
    for cols, b in blocks:
        x[cols] = b.x  # type: ignore[assignment]
    objective, bound = float(p.cost @ x), total()[1]
    used = list(dict.fromkeys(m for _, b in blocks for m in b.methods))
    method = "LP relaxation with cuts + " + ", ".join(used or ["LP"]) + " (HiGHS)"
    if len(blocks) > 1:
        method += f", {len(blocks)} independent blocks"
    return MilpResult(x, objective, bound, _gap(objective, bound), time.perf_counter() - start, method)
