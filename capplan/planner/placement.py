"""Hybrid placement: a MILP over workloads x quarters x options, solved with scipy.optimize.milp (HiGHS).

Variables: y[w,q,o] in [0, 1], the share of workload w's quarter-q demand on option o; integer buy[p,s],
units of pool p (on-prem servers, reserved instances) starting in quarter s and kept for the pool's
term; u[w,q] unserved share (heavily penalised, so an impossible plan still solves and says what it
could not serve); budget overrun slack per year (penalised harder than unserved demand).
Options per workload: owned pools sized for the peak, or for the average with peaks burst to the
cheapest allowed on-demand cloud; and pay-per-use cloud (on-demand, spot where allowed). Dominated
options are pruned first: per workload only the cheapest few of each kind (stand-alone cost) are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import numpy as np
from scipy import optimize, sparse

from capplan.costs.cloud import RESERVED_TERM_QUARTERS
from capplan.costs.finance import HOURS_PER_QUARTER
from capplan.errors import UserError
from capplan.planner.candidates import Candidates, CloudOption, ServerOption
from capplan.planner.plan import Plan, Workload
from capplan.planner.sizing import Fit, Sizing

Mode = Literal["recommended", "all_cloud", "all_onprem"]
CATEGORIES = ("infrastructure", "personnel", "hidden")
INFRA, STAFF, HIDDEN = range(3)
UNSERVED_PENALTY_X = (
    10.0  # 10x the dearest way to serve it (new units included): left unserved only when unavoidable
)
OVER_BUDGET_PENALTY_PER_USD = (
    100.0  # a dollar over budget is worse than leaving that dollar's demand unserved
)


@dataclass
class Pool:
    """Capacity that is bought or committed in units and kept for a term."""

    label: str
    kind: str  # onprem | reserved_1y | reserved_3y
    accelerator: str
    gpus_per_unit: int
    term_quarters: int
    first_start: int  # earliest quarter a new unit can be in service (horizon = never)
    existing_gpus: np.ndarray
    fixed_cash: np.ndarray  # (Q, 3) cost of what is already owned/committed
    unit_cash: np.ndarray  # (Q start, Q, 3) cash of one unit started in each quarter
    residual_usd: np.ndarray  # (Q start,) value left at the horizon end
    gpu_quarter_usd: float  # stand-alone cost of one GPU for one quarter (pruning, attribution)
    upfront_usd: float  # capex paid when a unit enters service; 0 for reserved
    lead_time_weeks: float
    cloud: bool
    region: str | None
    source: str


@dataclass
class Option:
    workload: int
    label: str
    kind: str  # onprem | reserved | elastic
    variant: str  # peak | avg+burst | rent
    accelerator: str
    pool: int | None
    devices: np.ndarray
    cash: np.ndarray  # (Q, 3) costs beyond the pool's own
    cloud: bool
    standalone_usd: float
    source: str
    burst_via: str | None = None


@dataclass
class Solution:
    mode: Mode
    plan: Plan
    pools: list[Pool]
    options: list[Option]
    share: dict[tuple[int, int, int], float]  # (option index, quarter, workload index) -> share
    buys: dict[tuple[int, int], int]
    unserved: dict[tuple[int, int], float]
    cash: np.ndarray  # (Q, 3) total spend incl. fixed
    residual_usd: float
    over_budget_usd: dict[int, float]
    weights: np.ndarray  # (W, Q) GPUs on each workload's leanest accelerator; weights the cloud share
    status: str

    @property
    def upfront(self) -> np.ndarray:
        """Per quarter: capex paid as units enter service."""
        out = np.zeros(self.plan.horizon_quarters)
        for (p, st), n in self.buys.items():
            out[st] += n * self.pools[p].upfront_usd
        return out

    @property
    def cloud_share(self) -> float:
        """Share of served demand (GPU-weighted) placed in the cloud."""
        total = cloud = 0.0
        for (oi, q, wi), v in self.share.items():
            total += v * self.weights[wi, q]
            cloud += v * self.weights[wi, q] * self.options[oi].cloud
        return cloud / total if total else 0.0

    @property
    def total_usd(self) -> float:
        return float(self.cash.sum())

    @property
    def net_usd(self) -> float:
        return self.total_usd - self.residual_usd


def _quarters_of_lead(plan: Plan, weeks: float) -> int:
    """First quarter whose start is at least ``weeks`` after the plan start."""
    ready = plan.start + timedelta(weeks=weeks)
    return next(
        (q for q in range(plan.horizon_quarters) if plan.quarter_start(q) >= ready), plan.horizon_quarters
    )


def order_by(plan: Plan, quarter: int, weeks: float) -> str:
    return str(plan.quarter_start(quarter) - timedelta(weeks=weeks))


def _server_pool(plan: Plan, s: ServerOption) -> Pool:
    nq = plan.horizon_quarters
    t, g = s.tco, s.tco.hidden_gross_up
    run_infra = t.energy_usd_per_quarter + t.rack_usd_per_quarter + t.support_usd_per_quarter
    unit = np.zeros((nq, nq, 3))
    residual = np.zeros(nq)
    # hidden costs accrue while the server is in use, on its amortised capex plus opex (same basis as
    # $/GPU-hour)
    hidden_per_quarter = (g - 1.0) * (t.capex_usd / (4.0 * t.amortisation_years) + t.opex_usd_per_quarter)
    for st in range(nq):
        unit[st, st:, INFRA] = run_infra
        unit[st, st, INFRA] += t.capex_usd
        unit[st, st:, STAFF] = t.staff_usd_per_quarter
        unit[st, st:, HIDDEN] = hidden_per_quarter
        residual[st] = t.book_value_usd(nq - st)
    fixed = np.zeros((nq, 3))
    if s.existing_servers:
        fixed[:, INFRA] = run_infra * s.existing_servers
        fixed[:, STAFF] = t.staff_usd_per_quarter * s.existing_servers
        fixed[:, HIDDEN] = (g - 1.0) * fixed[:, :2].sum(axis=1)
    return Pool(
        label=s.label,
        kind="onprem",
        accelerator=s.accelerator.name,
        gpus_per_unit=t.gpus,
        term_quarters=nq,
        first_start=nq if s.existing_servers else _quarters_of_lead(plan, s.lead_time_weeks),
        existing_gpus=np.full(nq, float(s.existing_servers * t.gpus)),
        fixed_cash=fixed,
        unit_cash=unit,
        residual_usd=residual,
        gpu_quarter_usd=(t.capex_usd / (4.0 * t.amortisation_years) + t.opex_usd_per_quarter) * g / t.gpus,
        upfront_usd=t.capex_usd,
        lead_time_weeks=s.lead_time_weeks,
        cloud=False,
        region=None,
        source=s.source,
    )


def _reserved_pool(plan: Plan, c: CloudOption) -> Pool:
    nq = plan.horizon_quarters
    term = RESERVED_TERM_QUARTERS[c.price.pricing_model]
    share = plan.assumptions.cloud.monitoring_retraining_share_of_ops
    per_quarter = c.price.usd_per_hour * HOURS_PER_QUARTER
    unit = np.zeros((nq, nq, 3))
    for st in range(nq):
        unit[st, st : st + term, INFRA] = per_quarter
        unit[st, :, HIDDEN] = share * unit[st, :, INFRA]
    existing = np.zeros(nq)
    fixed = np.zeros((nq, 3))
    for ex in plan.existing.reserved:
        same = (ex.provider.lower(), ex.instance.lower(), ex.region.lower()) == (
            c.price.provider.lower(),
            c.price.instance.lower(),
            c.price.region.lower(),
        )
        if same and ex.pricing_model == c.price.pricing_model:
            last = min(ex.ends_after_quarter, nq - 1) + 1
            existing[:last] += ex.count * c.price.gpu_count
            fixed[:last, INFRA] += ex.count * per_quarter
            fixed[:last, HIDDEN] += ex.count * per_quarter * share
    return Pool(
        label=c.label,
        kind=c.price.pricing_model,
        accelerator=c.accelerator.name,
        gpus_per_unit=c.price.gpu_count,
        term_quarters=term,
        first_start=0,
        existing_gpus=existing,
        fixed_cash=fixed,
        unit_cash=unit,
        residual_usd=np.zeros(nq),
        gpu_quarter_usd=per_quarter * (1.0 + share) / c.price.gpu_count,
        upfront_usd=0.0,
        lead_time_weeks=0.0,
        cloud=True,
        region=c.price.region,
        source=c.source,
    )


def build_pools(plan: Plan, cands: Candidates) -> list[Pool]:
    """Every on-prem server type and reserved cloud offer as a pool."""
    pools = [_server_pool(plan, s) for s in cands.servers]
    pools += [_reserved_pool(plan, c) for c in cands.cloud if c.reserved]
    labels = {p.label.lower() for p in pools}
    for i, ex in enumerate(plan.existing.reserved):
        if f"{ex.provider} {ex.instance} {ex.region} {ex.pricing_model}".lower() not in labels:
            raise UserError(
                f"existing.reserved[{i}]: no {ex.pricing_model} price for {ex.provider} {ex.instance} "
                f"{ex.region} "
                "among the candidate cloud offers (check the catalog, candidates.cloud and "
                "derive_reserved_from_on_demand)"
            )
    return pools


def _venues(w: Workload, mode: Mode) -> tuple[bool, bool]:
    """(on-prem allowed, cloud allowed) for a workload under a mode; constraints from the plan win."""
    must_onprem = w.sensitivity == "on_prem" or w.placement == "on_prem"
    onprem = w.placement != "cloud" and (mode != "all_cloud" or must_onprem)
    cloud = not must_onprem and mode != "all_onprem"
    return onprem, cloud


def _data_cash(plan: Plan, w: Workload) -> np.ndarray:
    a = plan.assumptions.cloud
    out = np.zeros((plan.horizon_quarters, 3))
    out[:, INFRA] = 3.0 * (
        w.storage_gb * a.storage_usd_per_gb_month + w.egress_gb_per_month * a.egress_usd_per_gb
    )
    return out


def _rent_cash(plan: Plan, c: CloudOption, gpu_hours: np.ndarray) -> np.ndarray:
    a = plan.assumptions.cloud
    bill = (
        gpu_hours
        * c.price.usd_per_gpu_hour
        * (1.0 + (a.spot_interruption_overhead_fraction if c.price.pricing_model == "spot" else 0.0))
    )
    out = np.zeros((gpu_hours.size, 3))
    out[:, INFRA] = bill
    out[:, HIDDEN] = bill * a.monitoring_retraining_share_of_ops
    return out


def workload_options(
    plan: Plan, wi: int, fits: dict[str, Fit], pools: list[Pool], cands: Candidates
) -> list[Option]:
    """All options for one workload (the recommended mode allows the most), cheapest few per kind kept."""
    w = plan.workloads[wi]
    onprem_ok, cloud_ok = _venues(w, "recommended")
    data = _data_cash(plan, w)
    rentals: list[Option] = []
    burst: np.ndarray | None = None
    burst_via: str | None = None
    for c in cands.cloud if cloud_ok else []:
        fit = fits.get(c.accelerator.name)
        if c.reserved or fit is None or not cands.residency.allowed(wi, c.label):
            continue
        if c.price.pricing_model == "spot" and not w.spot_ok:
            continue
        cash = _rent_cash(plan, c, fit.gpu_hours) + data
        rentals.append(
            Option(
                wi,
                c.label,
                "elastic",
                "rent",
                c.accelerator.name,
                None,
                fit.gpu_hours / HOURS_PER_QUARTER,
                cash,
                True,
                float(cash.sum()),
                c.source,
            )
        )
        if c.price.pricing_model == "on_demand" and fit.burst_gpu_hours.any():
            b = _rent_cash(plan, c, fit.burst_gpu_hours)
            if burst is None or b.sum() < burst.sum():
                burst, burst_via = b, c.label
    owned: list[Option] = []
    for pi, p in enumerate(pools):
        fit = fits.get(p.accelerator)
        allowed = (cloud_ok if p.cloud else onprem_ok) and cands.residency.allowed(wi, p.label)
        if fit is None or not allowed:
            continue
        extra = data if p.cloud else np.zeros_like(data)
        kind = "reserved" if p.cloud else "onprem"
        variants = [("peak", fit.owned_peak, extra, None)]
        if burst is not None and (fit.owned_peak > fit.owned_avg).any():
            variants.append(("avg+burst", fit.owned_avg, extra + burst, burst_via))
        for variant, devices, cash, via in variants:
            marginal = 0.0 if p.existing_gpus.any() and not p.cloud else p.gpu_quarter_usd
            cost = float(cash.sum() + devices.sum() * marginal)
            owned.append(
                Option(
                    wi, p.label, kind, variant, p.accelerator, pi, devices, cash, p.cloud, cost, p.source, via
                )
            )
    # Prune per (kind, variant): the cheapest few stand-alone, plus whatever is already owned and the
    # soonest-available pool (so lead times never leave demand unserved that a faster pool could take).
    keep = plan.solver.max_options_per_kind
    groups: dict[tuple[str, str], list[Option]] = {}
    for o in owned + rentals:
        groups.setdefault((o.kind, o.variant), []).append(o)
    out: list[Option] = []
    for group in groups.values():
        group.sort(key=lambda o: o.standalone_usd)
        chosen = group[:keep]
        chosen += [o for o in group if o.pool is not None and pools[o.pool].existing_gpus.any()]
        if group[0].pool is not None:
            chosen.append(min(group, key=lambda o: (pools[o.pool].first_start, o.standalone_usd)))  # type: ignore[index]
        out += list({id(o): o for o in chosen}.values())
    return out


@dataclass
class _Builder:
    """Sparse COO assembly of the MILP."""

    cost: list[float] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[int] = field(default_factory=list)
    penalty: list[bool] = field(default_factory=list)  # slack for unserved demand / budget overrun
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    vals: list[float] = field(default_factory=list)
    row_lo: list[float] = field(default_factory=list)
    row_hi: list[float] = field(default_factory=list)
    cash_rows: list[int] = field(default_factory=list)
    cash_cols: list[int] = field(default_factory=list)
    cash_vals: list[float] = field(default_factory=list)

    def var(self, cost: float, lo: float, hi: float, integer: bool = False, penalty: bool = False) -> int:
        self.penalty.append(penalty)
        self.cost.append(cost)
        self.lb.append(lo)
        self.ub.append(hi)
        self.integer.append(int(integer))
        return len(self.cost) - 1

    def row(self, lo: float, hi: float) -> int:
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        return len(self.row_lo) - 1

    def coef(self, row: int, col: int, val: float) -> None:
        self.rows.append(row)
        self.cols.append(col)
        self.vals.append(val)

    def spend(self, col: int, cash: np.ndarray) -> None:
        """Record a variable's cash per (quarter, category)."""
        nz = np.nonzero(cash.ravel())[0]
        self.cash_rows.extend(nz.tolist())
        self.cash_cols.extend([col] * nz.size)
        self.cash_vals.extend(cash.ravel()[nz].tolist())


@dataclass
class PlacementModel:
    """Pools and per-workload options, built once and solved under several modes."""

    plan: Plan
    sizing: Sizing
    pools: list[Pool]
    options: list[Option]

    @classmethod
    def build(cls, plan: Plan, cands: Candidates, sizing: Sizing) -> PlacementModel:
        pools = build_pools(plan, cands)
        options: list[Option] = []
        for wi, w in enumerate(plan.workloads):
            fits = {f.accelerator: f for f in sizing.for_workload(w.name)}
            options += workload_options(plan, wi, fits, pools, cands)
        return cls(plan, sizing, pools, options)

    def options_for(self, mode: Mode) -> list[Option]:
        """The options a mode allows (a subset of the recommended mode's)."""
        out = []
        for o in self.options:
            onprem_ok, cloud_ok = _venues(self.plan.workloads[o.workload], mode)
            if (cloud_ok if o.cloud else onprem_ok) and (o.variant != "avg+burst" or cloud_ok):
                out.append(o)
        return out

    def solve(self, mode: Mode = "recommended") -> Solution:
        return _solve_mode(self.plan, self.sizing, self.pools, self.options_for(mode), mode)


def solve_placement(plan: Plan, cands: Candidates, sizing: Sizing, mode: Mode = "recommended") -> Solution:
    """Build and solve the placement MILP; constraints on budget and cloud share apply to ``recommended``
    only."""
    return PlacementModel.build(plan, cands, sizing).solve(mode)


def _solve_mode(plan: Plan, sizing: Sizing, pools: list[Pool], options: list[Option], mode: Mode) -> Solution:
    nq = plan.horizon_quarters
    b = _Builder()
    used = sorted({o.pool for o in options if o.pool is not None})
    cap_row = {(p, q): b.row(-np.inf, float(pools[p].existing_gpus[q])) for p in used for q in range(nq)}
    weights = _demand_weights(plan, sizing)
    share_row = b.row(-np.inf, 0.0) if mode == "recommended" and plan.max_cloud_share is not None else None
    s = plan.max_cloud_share or 0.0
    y_index: dict[int, tuple[int, int, int]] = {}
    u_index: dict[int, tuple[int, int]] = {}
    for wi in range(len(plan.workloads)):
        mine = [(oi, o) for oi, o in enumerate(options) if o.workload == wi]
        active = [q for q in range(nq) if weights[wi, q] > 0]
        for q in active:
            cover = b.row(1.0, 1.0)
            dearest = max([_serve_cost_bound(o, q, pools) for _, o in mine] or [1e6])
            for oi, o in mine:
                col = b.var(float(o.cash[q].sum()), 0.0, 1.0)
                y_index[col] = (oi, q, wi)
                b.coef(cover, col, 1.0)
                quarter_cash = np.zeros((nq, 3))
                quarter_cash[q] = o.cash[q]
                b.spend(col, quarter_cash)
                if o.pool is not None:
                    b.coef(cap_row[(o.pool, q)], col, float(o.devices[q]))
                if share_row is not None:
                    b.coef(share_row, col, weights[wi, q] * ((1.0 - s) if o.cloud else -s))
            col = b.var(UNSERVED_PENALTY_X * dearest + 1e3, 0.0, 1.0, penalty=True)
            u_index[col] = (wi, q)
            b.coef(cover, col, 1.0)
    buy_index: dict[int, tuple[int, int]] = {}
    for p in used:
        pool = pools[p]
        for st in range(pool.first_start, nq):
            col = b.var(float(pool.unit_cash[st].sum() - pool.residual_usd[st]), 0.0, np.inf, integer=True)
            buy_index[col] = (p, st)
            b.spend(col, pool.unit_cash[st])
            for q in range(st, min(st + pool.term_quarters, nq)):
                b.coef(cap_row[(p, q)], col, -float(pool.gpus_per_unit))
    fixed = sum((p.fixed_cash for p in pools), np.zeros((nq, 3)))
    over_index = _budget_rows(plan, b, fixed) if mode == "recommended" else {}
    x, status = _solve(plan, b, pools, buy_index, cap_row)
    cash_m = sparse.csr_array((b.cash_vals, (b.cash_rows, b.cash_cols)), shape=(nq * 3, len(b.cost)))
    cash = (cash_m @ x).reshape(nq, 3) + fixed
    buys = {key: round(x[col]) for col, key in buy_index.items() if x[col] > 0.5}
    return Solution(
        mode=mode,
        plan=plan,
        pools=pools,
        options=options,
        share={key: float(x[col]) for col, key in y_index.items() if x[col] > 1e-6},
        buys=buys,
        unserved={key: float(x[col]) for col, key in u_index.items() if x[col] > 1e-6},
        cash=cash,
        residual_usd=float(sum(pools[p].residual_usd[st] * n for (p, st), n in buys.items())),
        over_budget_usd={year: float(x[col]) for col, year in over_index.items() if x[col] > 0.5},
        weights=weights,
        status=status,
    )


def _serve_cost_bound(o: Option, q: int, pools: list[Pool]) -> float:
    """Upper bound on serving one workload-quarter with an option: its own costs plus whole new units for
    it."""
    if o.pool is None:
        return float(o.cash[q].sum())
    pool = pools[o.pool]
    units = math.ceil(float(o.devices[q]) / pool.gpus_per_unit)
    start = min(max(q, pool.first_start), len(pool.unit_cash) - 1)
    return float(o.cash[q].sum()) + units * float(pool.unit_cash[start].sum())


def _demand_weights(plan: Plan, sizing: Sizing) -> np.ndarray:
    """Per workload and quarter: GPUs on its leanest accelerator (weights the cloud-share limit); 0 = no
    demand."""
    out = np.zeros((len(plan.workloads), plan.horizon_quarters))
    for wi, w in enumerate(plan.workloads):
        fits = sizing.for_workload(w.name)
        if fits:
            out[wi] = np.min([f.owned_avg for f in fits], axis=0)
        else:  # no figures anywhere: still ask for it, so it is reported unserved
            demand_present = w.demand.series is None and (w.demand.now or 0) > 0
            out[wi] = 1.0 if demand_present or any(v > 0 for v in w.demand.series or []) else 0.0
    return out


def _budget_rows(plan: Plan, b: _Builder, fixed: np.ndarray) -> dict[int, int]:
    """Per plan year: spend <= budget (split rows when a split is given), with penalised overrun slack."""
    budget = plan.budget.per_year_usd
    if budget is None:
        return {}
    nq = plan.horizon_quarters
    cash = sparse.csr_array((b.cash_vals, (b.cash_rows, b.cash_cols)), shape=(nq * 3, len(b.cost)))
    split = plan.budget.split
    groups: list[tuple[tuple[int, ...], float]] = [
        ((INFRA, STAFF, HIDDEN), 1.0 - (split.contingency if split else 0.0))
    ]
    if split:
        groups += [
            ((INFRA,), split.infrastructure),
            ((STAFF, HIDDEN), split.personnel + split.project_management),
        ]
    over: dict[int, int] = {}
    for year in range(math.ceil(nq / 4)):
        quarters = range(4 * year, min(4 * year + 4, nq))
        slack = b.var(OVER_BUDGET_PENALTY_PER_USD, 0.0, np.inf, penalty=True)
        over[slack] = year
        for cats, frac in groups:
            rows = [q * 3 + c for q in quarters for c in cats]
            spent = cash[rows].sum(axis=0)
            limit = budget * frac * len(quarters) / 4.0 - float(fixed[list(quarters)][:, list(cats)].sum())
            r = b.row(-np.inf, limit)
            for col in np.nonzero(spent)[0]:
                b.coef(r, int(col), float(spent[col]))
            b.coef(r, slack, -1.0)
    return over


def _solve(
    plan: Plan,
    b: _Builder,
    pools: list[Pool],
    buy_index: dict[int, tuple[int, int]],
    cap_row: dict[tuple[int, int], int],
) -> tuple[np.ndarray, str]:
    """Exact MILP for small problems; otherwise (or if that is worse) LP relaxation with purchases rounded up.

    Rounding: per pool, walk the quarters and buy the fewest whole units keeping in-service capacity at or
    above the relaxation's; then re-solve the LP for the placement with those purchases fixed. The status
    says how far the result is from the relaxation's lower bound.
    """
    n = len(b.cost)
    if n == 0:
        return np.zeros(0), "nothing to place (no demand in the horizon)"
    a = sparse.csr_array((b.vals, (b.rows, b.cols)), shape=(len(b.row_lo), n))
    cost, lb, ub = np.asarray(b.cost), np.asarray(b.lb), np.asarray(b.ub)
    constraints = (
        [optimize.LinearConstraint(a, np.asarray(b.row_lo), np.asarray(b.row_hi))] if len(b.row_lo) else []
    )
    integer = np.asarray(b.integer)
    opts = {"time_limit": plan.solver.time_limit_s, "disp": False}
    if integer.sum() <= plan.solver.exact_max_integer_vars:
        res = optimize.milp(
            cost,
            integrality=integer,
            bounds=optimize.Bounds(lb, ub),
            constraints=constraints,
            options={**opts, "mip_rel_gap": plan.solver.mip_rel_gap},
        )
        if res.x is not None and res.status == 0:
            return res.x, f"exact MILP (HiGHS): {res.message}"
    relaxed = optimize.milp(
        cost, integrality=np.zeros(n), bounds=optimize.Bounds(lb, ub), constraints=constraints, options=opts
    )
    if relaxed.x is None:
        raise RuntimeError(f"placement solver found no solution: {relaxed.message}")
    res = relaxed
    for _ in range(2):  # round, re-place; then round what the placement actually uses and re-place again
        fixed_lb, fixed_ub = lb.copy(), ub.copy()
        for col, units in _round_up(plan, pools, buy_index, cap_row, res.x, a).items():
            fixed_lb[col] = fixed_ub[col] = units
        res = optimize.milp(
            cost,
            integrality=np.zeros(n),
            bounds=optimize.Bounds(fixed_lb, fixed_ub),
            constraints=constraints,
            options=opts,
        )
        if res.x is None:
            raise RuntimeError(f"placement solver found no solution after rounding: {res.message}")
    real = np.where(np.asarray(b.penalty), 0.0, cost)
    gap = (real @ res.x - real @ relaxed.x) / max(abs(real @ relaxed.x), 1.0)
    slack = np.asarray(b.penalty)
    worse = (
        " (more demand left unserved than in the relaxation)"
        if res.x[slack].sum() > relaxed.x[slack].sum() + 1e-6
        else ""
    )
    return (
        res.x,
        f"LP relaxation + purchases rounded up: cost {100 * gap:.2f} % above the relaxation's lower "
        f"bound{worse}",
    )


def _round_up(
    plan: Plan,
    pools: list[Pool],
    buy_index: dict[int, tuple[int, int]],
    cap_row: dict[tuple[int, int], int],
    x: np.ndarray,
    a: sparse.csr_array,
) -> dict[int, int]:
    """Whole units per purchase variable so each pool's in-service capacity covers the load ``x`` places on
    it."""
    nq = plan.horizon_quarters
    placement_only = x.copy()
    placement_only[list(buy_index)] = 0.0
    load = a @ placement_only  # capacity rows: sum(devices * y) placed on the pool in that quarter
    by_pool: dict[int, dict[int, int]] = {}
    for col, (p, st) in buy_index.items():
        by_pool.setdefault(p, {})[st] = col
    out: dict[int, int] = {}
    for p, cols in by_pool.items():
        pool = pools[p]
        short = (
            np.array([load[cap_row[(p, q)]] - pool.existing_gpus[q] for q in range(nq)]) / pool.gpus_per_unit
        )
        have = np.zeros(nq)
        for st in sorted(cols):
            units = max(math.ceil(short[st] - have[st] - 1e-6), 0)
            out[cols[st]] = units
            have[st : st + pool.term_quarters] += units
    return out
