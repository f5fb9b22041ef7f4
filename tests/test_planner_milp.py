"""capplan.planner.milp against HiGHS's own exact solve: the proven gap brackets the true optimum, independent
blocks are solved apart, lazily added cuts never cut off an integer plan, the time limit is one error."""

from __future__ import annotations

import highspy
import numpy as np
import pytest
from scipy import sparse

from capplan.planner import milp


def facility_problem(seed: int, blocks: int = 2, sites: int = 5, customers: int = 8) -> milp.MilpProblem:
    """``blocks`` independent capacitated facility problems, shaped like the placement MILP: integer units
    per site (cost each, G GPUs each, stage = site % 3), shares y of each customer's demand d, an unserved
    share u at a penalty (cover row: sum y + u = 1), capacity sum d y <= G N; cuts y <= N where d <= G."""
    rng = np.random.default_rng(seed)
    cost, lb, ub, integer, penalty, stage = [], [], [], [], [], []
    rows: list[tuple[list[int], list[float], float, float]] = []
    cuts: list[tuple[list[int], list[float], float]] = []

    def var(c: float, hi: float, is_int: bool = False, pen: bool = False, st: int = -1) -> int:
        cost.append(c)
        lb.append(0.0)
        ub.append(hi)
        integer.append(is_int)
        penalty.append(pen)
        stage.append(st)
        return len(cost) - 1

    for _ in range(blocks):
        g = rng.choice([4.0, 8.0], size=sites)
        n = [var(float(rng.uniform(50, 150)), np.inf, True, st=s % 3) for s in range(sites)]
        load: list[list[tuple[int, float]]] = [[] for _ in range(sites)]
        for _ in range(customers):
            d = float(rng.integers(1, 10))
            ys = [var(float(rng.uniform(1, 20)), 1.0) for _ in range(sites)]
            u = var(1000.0, 1.0, pen=True)
            rows.append(([*ys, u], [1.0] * (sites + 1), 1.0, 1.0))
            for s, y in enumerate(ys):
                load[s].append((y, d))
                if d <= g[s]:
                    cuts.append(([y, n[s]], [1.0, -1.0], 0.0))
        for s in range(sites):
            cols = [y for y, _ in load[s]] + [n[s]]
            vals = [d for _, d in load[s]] + [-float(g[s])]
            rows.append((cols, vals, -np.inf, 0.0))

    def matrix(entries: list, width: int) -> sparse.csr_array:
        r = [i for i, (cols, *_rest) in enumerate(entries) for _ in cols]
        c = [col for cols, *_rest in entries for col in cols]
        v = [val for _, vals, *_rest in entries for val in vals]
        return sparse.csr_array((v, (r, c)), shape=(len(entries), width))

    width = len(cost)
    return milp.MilpProblem(
        cost=np.array(cost),
        lb=np.array(lb),
        ub=np.array(ub),
        integer=np.array(integer),
        a=matrix(rows, width),
        row_lo=np.array([lo for *_, lo, _ in rows]),
        row_hi=np.array([hi for *_, hi in rows]),
        penalty=np.array(penalty),
        stage=np.array(stage),
        cuts=matrix(cuts, width),
        cut_hi=np.array([hi for *_, hi in cuts]),
    )


def exact_optimum(p: milp.MilpProblem) -> float:
    """HiGHS's branch-and-bound to a zero gap on the whole problem (no cuts, no heuristics of ours)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)  # HiGHS's thread scheduler is per process: the planner's setting
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-9)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = p.cost.size, p.a.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = p.cost, p.lb, p.ub
    lp.row_lower_, lp.row_upper_ = p.row_lo, p.row_hi
    csc = sparse.csc_array(p.a)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in p.integer]
    h.passModel(lp)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(h.getInfo().objective_function_value)


def assert_feasible(p: milp.MilpProblem, x: np.ndarray) -> None:
    assert np.all(x >= p.lb - 1e-7) and np.all(x <= p.ub + 1e-7)
    assert np.allclose(x[p.integer], np.round(x[p.integer]))
    ax = p.a @ x
    assert np.all(ax >= p.row_lo - 1e-6) and np.all(ax <= p.row_hi + 1e-6)
    assert np.all(p.cuts @ x <= p.cut_hi + 1e-6)  # type: ignore[operator]  # valid cuts hold at integer plans


@pytest.mark.parametrize("seed", range(6))
def test_proven_gap_brackets_the_true_optimum(seed: int) -> None:
    p = facility_problem(seed)
    best = exact_optimum(p)
    r = milp.solve(p, time_limit_s=30, mip_rel_gap=0.01)
    assert_feasible(p, r.x)
    assert r.objective == pytest.approx(float(p.cost @ r.x))
    assert r.bound <= best + 1e-6 * abs(best)  # the bound is a true lower bound
    assert r.objective >= best - 1e-6 * abs(best)  # no plan beats the optimum
    assert r.gap <= 0.01 and r.gap == pytest.approx((r.objective - r.bound) / r.objective)
    assert "2 independent blocks" in r.method


@pytest.mark.parametrize("seed", range(3))
def test_zero_gap_reaches_the_optimum(seed: int) -> None:
    p = facility_problem(seed, blocks=1)
    r = milp.solve(p, time_limit_s=30, mip_rel_gap=0.0)
    assert r.objective == pytest.approx(exact_optimum(p), rel=1e-6)
    assert "independent blocks" not in r.method


def test_blocks_are_solved_apart_and_add_up() -> None:
    p = facility_problem(11, blocks=3)
    whole = milp.solve(p, time_limit_s=30, mip_rel_gap=0.0)
    assert "3 independent blocks" in whole.method
    # each block alone: the columns of block k are the k-th third (the generator writes blocks in turn)
    n = p.cost.size // 3
    parts = []
    for k in range(3):
        cols = np.arange(k * n, (k + 1) * n)
        rows = np.unique(sparse.csr_array(p.a)[:, cols].nonzero()[0])
        cut_rows = np.unique(sparse.csr_array(p.cuts)[:, cols].nonzero()[0])
        parts.append(milp.solve(milp._sub(p, cols, rows, cut_rows), time_limit_s=30, mip_rel_gap=0.0))
    assert whole.objective == pytest.approx(sum(r.objective for r in parts), rel=1e-6)


def test_time_limit_without_a_plan_is_a_solver_error() -> None:
    with pytest.raises(milp.SolverError, match="time limit"):
        milp.solve(facility_problem(0), time_limit_s=1e-7, mip_rel_gap=0.01)
