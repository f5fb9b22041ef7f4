"""Hybrid placement: a MILP over workloads x quarters x options, solved with HiGHS (capplan.planner.milp).

Variables: y[w,q,o] in [0, 1], the share of workload w's quarter-q demand on option o; integer buy[p,s],
units of pool p (on-prem servers, reserved instances) starting in quarter s and kept for the pool's
term; u[w,q] unserved share (heavily penalised, so an impossible plan still solves and says what it
could not serve); budget and carbon-cap overrun slack per year (penalised harder than unserved demand).
Workload-quarters no option can reach at all (on-prem only, before the lead time) are unserved up front.
Options per workload: owned pools sized for the peak, or for the average with peaks burst to the
cheapest allowed on-demand cloud; and pay-per-use cloud (on-demand, spot where allowed) billed by the
workload's billing mode. Dominated options are pruned first: per workload only the cheapest few of each
kind (stand-alone cost) are kept. Every cash and carbon coefficient comes from capplan.costs.engine; a
carbon price adds price x tCO2e to the objective (not to the cash).
Valid cuts tighten the LP relaxation: a share y of a pool-quarter needing d GPUs of units of G GPUs, with
no capacity already there, needs N >= (k - 1) + (y - t) / (1 - t) units (k = ceil(d / G),
t = (k - 1) G / d; the mixed-integer rounding of d y <= G N).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import numpy as np
from scipy import sparse

from capplan.costs import engine
from capplan.costs.cloud import RESERVED_TERM_QUARTERS
from capplan.costs.engine import HIDDEN, INFRA, STAFF, Flows
from capplan.costs.finance import HOURS_PER_QUARTER
from capplan.errors import UserError
from capplan.planner import milp
from capplan.planner.candidates import Candidates, CloudOption, ServerOption
from capplan.planner.plan import Plan, Workload
from capplan.planner.sizing import Fit, Sizing

Mode = Literal["recommended", "all_cloud", "all_onprem"]
CATEGORIES = engine.CATEGORIES
UNSERVED_PENALTY_X = (
    10.0  # 10x the dearest way to serve it (new units included): left unserved only when unavoidable
)
OVER_BUDGET_PENALTY_PER_USD = (
    100.0  # a dollar over budget is worse than leaving that dollar's demand unserved
)
OVER_CAP_PENALTY_PER_KG = 10_000.0  # $10M per tonne over the carbon cap: broken only when unavoidable


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
    fixed_carbon: np.ndarray  # (Q, 2) kg CO2e of what is already owned/committed
    unit_cash: np.ndarray  # (Q start, Q, 3) cash of one unit started in each quarter
    unit_carbon: np.ndarray  # (Q start, Q, 2) kg CO2e of one unit started in each quarter
    residual_usd: np.ndarray  # (Q start,) value left at the horizon end
    gpu_quarter_usd: float  # stand-alone cost of one GPU for one quarter (pruning, attribution)
    gpu_quarter_kg: float  # kg CO2e of one GPU for one quarter in service (attribution)
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
    carbon: np.ndarray  # (Q, 2) kg CO2e beyond the pool's own
    cloud: bool
    standalone_usd: float
    source: str
    burst_via: str | None = None
    billing: str | None = None


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
    carbon: np.ndarray  # (Q, 2) kg CO2e incl. fixed: operational, embodied
    residual_usd: float
    over_budget_usd: dict[int, float]
    over_carbon_cap_kg: dict[int, float]
    weights: np.ndarray  # (W, Q) GPUs on each workload's leanest accelerator; weights the cloud share
    status: str
    gap: float = 0.0
    solve_s: float = 0.0

    @property
    def upfront(self) -> np.ndarray:
        """Per quarter: capex paid as units enter service."""
        out = np.zeros(self.plan.horizon_quarters)
        for (p, st), n in self.buys.items():
            out[st] += n * self.pools[p].upfront_usd
        return out

    @property
    def flows(self) -> Flows:
        """Monthly cash and emissions (capex in the first month of its quarter, residual at the end)."""
        return Flows.from_quarters(self.cash, self.upfront, self.residual_usd, self.carbon)

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

    @property
    def carbon_kg(self) -> float:
        return float(self.carbon.sum())

    @property
    def carbon_cost_usd(self) -> float:
        """The plan's carbon price applied to its emissions (shadow cost, not cash)."""
        return engine.carbon_cost_usd(self.carbon_kg, self.plan.carbon.price_usd_per_tonne)


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
    unit = np.zeros((nq, nq, 3))
    unit_carbon = np.zeros((nq, nq, 2))
    residual = np.zeros(nq)
    first = nq if s.existing_servers else _quarters_of_lead(plan, s.lead_time_weeks)
    for st in range(first, nq):
        f = engine.owned_flows(s.tco, 1, 3 * nq, start_month=3 * st, carbon=s.carbon)
        unit[st], _, unit_carbon[st] = f.quarterly()
        residual[st] = f.residual_usd
    existing = engine.owned_flows(s.tco, s.existing_servers, 3 * nq, sunk=True, carbon=s.carbon)
    fixed, _, fixed_carbon = existing.quarterly()
    return Pool(
        label=s.label,
        kind="onprem",
        accelerator=s.accelerator.name,
        gpus_per_unit=s.tco.gpus,
        term_quarters=nq,
        first_start=first,
        existing_gpus=np.full(nq, float(s.existing_servers * s.tco.gpus)),
        fixed_cash=fixed,
        fixed_carbon=fixed_carbon,
        unit_cash=unit,
        unit_carbon=unit_carbon,
        residual_usd=residual,
        gpu_quarter_usd=3.0 * engine.owned_usd_per_gpu_month(s.tco),
        gpu_quarter_kg=float(engine.owned_flows(s.tco, 1, 3, carbon=s.carbon).carbon_kg.sum()) / s.tco.gpus,
        upfront_usd=s.tco.capex_usd,
        lead_time_weeks=s.lead_time_weeks,
        cloud=False,
        region=None,
        source=s.source,
    )


def _reserved_pool(plan: Plan, c: CloudOption) -> Pool:
    nq = plan.horizon_quarters
    term = RESERVED_TERM_QUARTERS[c.price.pricing_model]
    a, u = plan.assumptions.cloud, plan.assumptions.onprem.utilisation_fraction
    unit = np.zeros((nq, nq, 3))
    unit_carbon = np.zeros((nq, nq, 2))
    for st in range(nq):
        f = engine.reserved_flows(
            c.price, a, 1, 3 * nq, start_month=3 * st, term_months=3 * term, utilisation=u, carbon=c.carbon
        )
        unit[st], _, unit_carbon[st] = f.quarterly()
    existing = np.zeros(nq)
    committed = Flows.zeros(3 * nq)
    for ex in plan.existing.reserved:
        same = (ex.provider.lower(), ex.instance.lower(), ex.region.lower()) == (
            c.price.provider.lower(),
            c.price.instance.lower(),
            c.price.region.lower(),
        )
        if same and ex.pricing_model == c.price.pricing_model:
            last = min(ex.ends_after_quarter, nq - 1) + 1
            existing[:last] += ex.count * c.price.gpu_count
            committed += engine.reserved_flows(
                c.price, a, ex.count, 3 * nq, term_months=3 * last, utilisation=u, carbon=c.carbon
            )
    fixed, _, fixed_carbon = committed.quarterly()
    return Pool(
        label=c.label,
        kind=c.price.pricing_model,
        accelerator=c.accelerator.name,
        gpus_per_unit=c.price.gpu_count,
        term_quarters=term,
        first_start=0,
        existing_gpus=existing,
        fixed_cash=fixed,
        fixed_carbon=fixed_carbon,
        unit_cash=unit,
        unit_carbon=unit_carbon,
        residual_usd=np.zeros(nq),
        gpu_quarter_usd=float(unit[0, 0].sum()) / c.price.gpu_count,
        gpu_quarter_kg=float(unit_carbon[0, 0].sum()) / c.price.gpu_count,
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


def _monthly(per_quarter: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(per_quarter, dtype=float) / 3.0, 3)


def _data_cash(plan: Plan, w: Workload) -> np.ndarray:
    flows = engine.data_flows(
        w.storage_gb, w.egress_gb_per_month, plan.assumptions.cloud, 3 * plan.horizon_quarters
    )
    return flows.quarterly()[0]


def rented_gpu_hours(plan: Plan, w: Workload, fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    """(billed, busy) GPU-hours per quarter of renting the workload pay-per-use under its billing mode.

    Inference: the average-load fleet 24 h a day plus its peaks (busy at onprem.utilisation_fraction);
    training: the devices its runs need, billed always on or for the busy run hours plus the warm floor.
    """
    a = plan.assumptions
    if w.type == "inference":
        return fit.gpu_hours, fit.gpu_hours * a.onprem.utilisation_fraction
    fleet = fit.owned_avg * HOURS_PER_QUARTER
    billed = engine.billed_gpu_hours(w.billing_mode, fleet, fit.gpu_hours, a.cloud.autoscale_floor_fraction)
    return billed, np.minimum(fit.gpu_hours, billed)


def _rent(plan: Plan, c: CloudOption, billed: np.ndarray, busy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = engine.rented_flows(
        c.price, plan.assumptions.cloud, _monthly(billed), busy=_monthly(busy), carbon=c.carbon
    )
    cash, _, carbon = f.quarterly()
    return cash, carbon


def _rent_total(
    plan: Plan, c: CloudOption, billed: np.ndarray, busy: np.ndarray, carbon_price: float
) -> float:
    """Stand-alone cost of renting over the horizon, the carbon price included (for ranking)."""
    kg = float(
        c.carbon.kg(
            np.array([billed.sum() * engine.spot_overhead_factor(c.price, plan.assumptions.cloud)]),
            np.array([busy.sum()]),
        ).sum()
    )
    usd = engine.rented_usd(c.price, plan.assumptions.cloud, float(billed.sum()))
    return usd + engine.carbon_cost_usd(kg, carbon_price)


def workload_options(
    plan: Plan, wi: int, fits: dict[str, Fit], pools: list[Pool], cands: Candidates
) -> list[Option]:
    """All options for one workload (the recommended mode allows the most), cheapest few per kind kept."""
    w = plan.workloads[wi]
    onprem_ok, cloud_ok = _venues(w, "recommended")
    data = _data_cash(plan, w)
    nothing = np.zeros((plan.horizon_quarters, 2))
    price = plan.carbon.price_usd_per_tonne

    def cp(kg: float) -> float:
        return engine.carbon_cost_usd(float(kg), price)

    # Rank every allowed rental by its stand-alone cost over the horizon (engine totals, cheap), then build
    # the monthly flows only for the few the pruning below can keep, and for the cheapest burst.
    ranked: list[tuple[float, CloudOption, Fit]] = []
    bursts: list[tuple[float, CloudOption, Fit]] = []
    for c in cands.cloud if cloud_ok else []:
        fit = fits.get(c.accelerator.name)
        if c.reserved or fit is None or not cands.residency.allowed(wi, c.label):
            continue
        if c.price.pricing_model == "spot" and not w.spot_ok:
            continue
        billed, busy = rented_gpu_hours(plan, w, fit)
        ranked.append((_rent_total(plan, c, billed, busy, price), c, fit))
        if c.price.pricing_model == "on_demand" and fit.burst_gpu_hours.any():
            b = fit.burst_gpu_hours
            bursts.append((_rent_total(plan, c, b, b, price), c, fit))
    ranked.sort(key=lambda r: r[0])
    rentals: list[Option] = []
    for _, c, fit in ranked[: plan.solver.max_options_per_kind]:
        billed, busy = rented_gpu_hours(plan, w, fit)
        cash, carbon = _rent(plan, c, billed, busy)
        cash = cash + data
        rentals.append(
            Option(
                wi,
                c.label,
                "elastic",
                "rent",
                c.accelerator.name,
                None,
                billed / HOURS_PER_QUARTER,
                cash,
                carbon,
                True,
                float(cash.sum() + cp(carbon.sum())),
                c.source,
                billing=w.billing_mode,
            )
        )
    burst: tuple[np.ndarray, np.ndarray] | None = None
    burst_via: str | None = None
    if bursts:
        _, c, fit = min(bursts, key=lambda r: r[0])
        burst, burst_via = _rent(plan, c, fit.burst_gpu_hours, fit.burst_gpu_hours), c.label
    owned: list[Option] = []
    for pi, p in enumerate(pools):
        fit = fits.get(p.accelerator)
        allowed = (cloud_ok if p.cloud else onprem_ok) and cands.residency.allowed(wi, p.label)
        if fit is None or not allowed:
            continue
        extra = data if p.cloud else np.zeros_like(data)
        kind = "reserved" if p.cloud else "onprem"
        variants = [("peak", fit.owned_peak, extra, nothing, None)]
        if burst is not None and (fit.owned_peak > fit.owned_avg).any():
            variants.append(("avg+burst", fit.owned_avg, extra + burst[0], burst[1], burst_via))
        for variant, devices, cash, carbon, via in variants:
            marginal = 0.0 if p.existing_gpus.any() and not p.cloud else p.gpu_quarter_usd
            cost = float(cash.sum() + cp(carbon.sum()) + devices.sum() * marginal)
            owned.append(
                Option(
                    wi,
                    p.label,
                    kind,
                    variant,
                    p.accelerator,
                    pi,
                    devices,
                    cash,
                    carbon,
                    p.cloud,
                    cost,
                    p.source,
                    via,
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
    """Sparse COO assembly of the MILP, with each column's cash and carbon per quarter."""

    nq: int
    cost: list[float] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    vals: list[float] = field(default_factory=list)
    row_lo: list[float] = field(default_factory=list)
    row_hi: list[float] = field(default_factory=list)
    cash_rows: list[int] = field(default_factory=list)
    cash_cols: list[int] = field(default_factory=list)
    cash_vals: list[float] = field(default_factory=list)
    co2_rows: list[int] = field(default_factory=list)
    co2_cols: list[int] = field(default_factory=list)
    co2_vals: list[float] = field(default_factory=list)

    def var(self, cost: float, lo: float, hi: float, integer: bool = False) -> int:
        self.cost.append(cost)
        self.lb.append(lo)
        self.ub.append(hi)
        self.integer.append(integer)
        return len(self.cost) - 1

    def row(self, lo: float, hi: float) -> int:
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        return len(self.row_lo) - 1

    def coef(self, row: int, col: int, val: float) -> None:
        self.rows.append(row)
        self.cols.append(col)
        self.vals.append(val)

    def spend(self, col: int, cash: np.ndarray, carbon: np.ndarray) -> None:
        """Record a variable's cash per (quarter, category) and its kg CO2e per (quarter, kind)."""
        for flat, r, c, v in (
            (cash.ravel(), self.cash_rows, self.cash_cols, self.cash_vals),
            (carbon.ravel(), self.co2_rows, self.co2_cols, self.co2_vals),
        ):
            nz = np.nonzero(flat)[0]
            r.extend(nz.tolist())
            c.extend([col] * nz.size)
            v.extend(flat[nz].tolist())

    def spend_in(self, col: int, q: int, cash: np.ndarray, carbon: np.ndarray) -> None:
        """Record a variable whose cash and carbon all fall in quarter ``q``."""
        for k in range(3):
            if cash[k]:
                self.cash_rows.append(3 * q + k)
                self.cash_cols.append(col)
                self.cash_vals.append(float(cash[k]))
        for k in range(2):
            if carbon[k]:
                self.co2_rows.append(2 * q + k)
                self.co2_cols.append(col)
                self.co2_vals.append(float(carbon[k]))

    def cash_matrix(self) -> sparse.csr_array:
        return sparse.csr_array(
            (self.cash_vals, (self.cash_rows, self.cash_cols)), shape=(self.nq * 3, len(self.cost))
        )

    def carbon_matrix(self) -> sparse.csr_array:
        return sparse.csr_array(
            (self.co2_vals, (self.co2_rows, self.co2_cols)), shape=(self.nq * 2, len(self.cost))
        )


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
    """Build and solve the placement MILP; constraints on budget, cloud share and carbon apply to
    ``recommended`` only (a carbon price applies to every mode)."""
    return PlacementModel.build(plan, cands, sizing).solve(mode)


def _reachable(o: Option, q: int, pools: list[Pool]) -> bool:
    """Whether an option can carry load in quarter q at all (rented, already owned, or buyable by then)."""
    if o.pool is None:
        return True
    pool = pools[o.pool]
    return bool(pool.existing_gpus[q] > 0) or pool.first_start <= q


def _solve_mode(plan: Plan, sizing: Sizing, pools: list[Pool], options: list[Option], mode: Mode) -> Solution:
    nq = plan.horizon_quarters
    b = _Builder(nq)
    price = plan.carbon.price_usd_per_tonne

    def cp(kg: float) -> float:
        return engine.carbon_cost_usd(float(kg), price)

    used = sorted({o.pool for o in options if o.pool is not None})
    cap_row = {(p, q): b.row(-np.inf, float(pools[p].existing_gpus[q])) for p in used for q in range(nq)}
    weights = _demand_weights(plan, sizing)
    share_row = b.row(-np.inf, 0.0) if mode == "recommended" and plan.max_cloud_share is not None else None
    s = plan.max_cloud_share or 0.0
    y_index: dict[int, tuple[int, int, int]] = {}
    u_index: dict[int, tuple[int, int]] = {}
    forced: dict[tuple[int, int], float] = {}
    pool_load: list[tuple[int, int, int, int, float]] = []  # (column, workload, pool, quarter, devices)
    by_workload: dict[int, list[tuple[int, Option]]] = {}
    for oi, o in enumerate(options):
        by_workload.setdefault(o.workload, []).append((oi, o))
    for wi in range(len(plan.workloads)):
        mine = by_workload.get(wi, [])
        for q in (q for q in range(nq) if weights[wi, q] > 0):
            reach = [(oi, o) for oi, o in mine if _reachable(o, q, pools)]
            if not reach:
                forced[(wi, q)] = 1.0  # nothing can serve it then: unserved, and no penalty to optimise
                continue
            cover = b.row(1.0, 1.0)
            dearest = max(_serve_cost_bound(o, q, pools) for _, o in reach)
            for oi, o in reach:
                col = b.var(float(o.cash[q].sum() + cp(o.carbon[q].sum())), 0.0, 1.0)
                y_index[col] = (oi, q, wi)
                b.coef(cover, col, 1.0)
                b.spend_in(col, q, o.cash[q], o.carbon[q])
                if o.pool is not None and o.devices[q] > 0:
                    b.coef(cap_row[(o.pool, q)], col, float(o.devices[q]))
                    pool_load.append((col, wi, o.pool, q, float(o.devices[q])))
                if share_row is not None:
                    b.coef(share_row, col, weights[wi, q] * ((1.0 - s) if o.cloud else -s))
            col = b.var(UNSERVED_PENALTY_X * dearest + 1e3, 0.0, 1.0)
            u_index[col] = (wi, q)
            b.coef(cover, col, 1.0)
    buy_index: dict[int, tuple[int, int]] = {}
    units: dict[tuple[int, int], int] = {}  # (pool, quarter) -> column of the units in service then
    for p in used:
        pool = pools[p]
        window: dict[int, list[int]] = {}
        for st in range(pool.first_start, nq):
            unit_cost = pool.unit_cash[st].sum() - pool.residual_usd[st] + cp(pool.unit_carbon[st].sum())
            col = b.var(float(unit_cost), 0.0, np.inf, integer=True)
            buy_index[col] = (p, st)
            b.spend(col, pool.unit_cash[st], pool.unit_carbon[st])
            for q in range(st, min(st + pool.term_quarters, nq)):
                window.setdefault(q, []).append(col)
        for q, cols in window.items():  # units in service = the purchases whose term covers q
            n = units[(p, q)] = b.var(0.0, 0.0, np.inf)
            r = b.row(0.0, 0.0)
            b.coef(r, n, 1.0)
            for col in cols:
                b.coef(r, col, -1.0)
            b.coef(cap_row[(p, q)], n, -float(pool.gpus_per_unit))
    _capacity_cuts(b, pools, pool_load, units)
    fixed = sum((p.fixed_cash for p in pools), np.zeros((nq, 3)))
    fixed_carbon = sum((p.fixed_carbon for p in pools), np.zeros((nq, 2)))
    over_index = _budget_rows(plan, b, fixed) if mode == "recommended" else {}
    cap_index = _carbon_cap_rows(plan, b, fixed_carbon) if mode == "recommended" else {}
    x, result = _solve(plan, b)
    cash = (b.cash_matrix() @ x).reshape(nq, 3) + fixed
    carbon = (b.carbon_matrix() @ x).reshape(nq, 2) + fixed_carbon
    buys = {key: round(x[col]) for col, key in buy_index.items() if x[col] > 0.5}
    unserved = {key: float(x[col]) for col, key in u_index.items() if x[col] > 1e-6}
    return Solution(
        mode=mode,
        plan=plan,
        pools=pools,
        options=options,
        share={key: float(x[col]) for col, key in y_index.items() if x[col] > 1e-6},
        buys=buys,
        unserved={**unserved, **forced},
        cash=cash,
        carbon=carbon,
        residual_usd=float(sum(pools[p].residual_usd[st] * n for (p, st), n in buys.items())),
        over_budget_usd={year: float(x[col]) for col, year in over_index.items() if x[col] > 0.5},
        over_carbon_cap_kg={year: float(x[col]) for col, year in cap_index.items() if x[col] > 0.5},
        weights=weights,
        status=result.status if result else "nothing to place (no demand in the horizon)",
        gap=result.gap if result else 0.0,
        solve_s=result.seconds if result else 0.0,
    )


def _capacity_cuts(
    b: _Builder,
    pools: list[Pool],
    pool_load: list[tuple[int, int, int, int, float]],
    units: dict[tuple[int, int], int],
) -> None:
    """Mixed-integer rounding cuts of d y <= G N (see the module docstring), N = units in service.

    A workload's options needing at most one unit (d <= G) share one cut, sum(y) <= N: if the pool has no
    unit the workload cannot use it, and one unit is enough for a share of at most 1."""
    small: dict[tuple[int, int, int], list[int]] = {}
    for col, wi, p, q, d in pool_load:
        pool = pools[p]
        if pool.existing_gpus[q] > 0 or (p, q) not in units:
            continue
        g = float(pool.gpus_per_unit)
        k = math.ceil(d / g - 1e-9)
        if k <= 1:
            small.setdefault((wi, p, q), []).append(col)
            continue
        t = (k - 1) * g / d
        if 1.0 - t < 0.1:  # nearly a multiple of G: the cut adds little and scales badly
            continue
        r = b.row(-np.inf, t / (1.0 - t) - (k - 1))
        b.coef(r, col, 1.0 / (1.0 - t))
        b.coef(r, units[(p, q)], -1.0)
    for (_, p, q), cols in small.items():
        r = b.row(-np.inf, 0.0)
        for col in cols:
            b.coef(r, col, 1.0)
        b.coef(r, units[(p, q)], -1.0)


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
    cash = b.cash_matrix()
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
        slack = b.var(OVER_BUDGET_PENALTY_PER_USD, 0.0, np.inf)
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


def _carbon_cap_rows(plan: Plan, b: _Builder, fixed: np.ndarray) -> dict[int, int]:
    """Per plan year: kg CO2e <= the cap (pro rata for a short last year), with penalised overrun slack."""
    cap = plan.carbon.cap_tonnes_per_year
    if cap is None:
        return {}
    nq = plan.horizon_quarters
    carbon = b.carbon_matrix()
    over: dict[int, int] = {}
    for year in range(math.ceil(nq / 4)):
        quarters = range(4 * year, min(4 * year + 4, nq))
        slack = b.var(OVER_CAP_PENALTY_PER_KG, 0.0, np.inf)
        over[slack] = year
        emitted = carbon[[q * 2 + k for q in quarters for k in range(2)]].sum(axis=0)
        r = b.row(-np.inf, cap * 1000.0 * len(quarters) / 4.0 - float(fixed[list(quarters)].sum()))
        for col in np.nonzero(emitted)[0]:
            b.coef(r, int(col), float(emitted[col]))
        b.coef(r, slack, -1.0)
    return over


def _solve(plan: Plan, b: _Builder) -> tuple[np.ndarray, milp.MilpResult | None]:
    """Solve with HiGHS to the plan's gap and time limit; a failure is one UserError line."""
    n = len(b.cost)
    if n == 0:
        return np.zeros(0), None
    problem = milp.MilpProblem(
        cost=np.asarray(b.cost),
        lb=np.asarray(b.lb),
        ub=np.asarray(b.ub),
        integer=np.asarray(b.integer, dtype=bool),
        a=sparse.csr_array((b.vals, (b.rows, b.cols)), shape=(len(b.row_lo), n)),
        row_lo=np.asarray(b.row_lo),
        row_hi=np.asarray(b.row_hi),
    )
    try:
        result = milp.solve(
            problem, time_limit_s=plan.solver.time_limit_s, mip_rel_gap=plan.solver.mip_rel_gap
        )
    except milp.SolverError as exc:
        raise UserError(
            f"solver: no placement found ({exc}); raise solver.time_limit_s "
            f"(now {plan.solver.time_limit_s:g} s) "
            "or loosen solver.mip_rel_gap"
        ) from exc
    return result.x, result
