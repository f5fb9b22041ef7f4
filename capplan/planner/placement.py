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
t = (k - 1) G / d; the mixed-integer rounding of d y <= G N). They are handed to the solver as lazy
rows: only those the LP solution violates join the LP. Purchases carry their start quarter, the order in
which the solver's relax-and-fix heuristic fixes them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
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

    def __post_init__(self) -> None:
        self.owned_now = bool(self.existing_gpus.any())  # any capacity already owned or committed


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

    @functools.cached_property
    def used(self) -> dict[int, dict[int, list[int]]]:
        """Per workload: option index -> quarters in which it serves more than 5 % of the demand."""
        out: dict[int, dict[int, list[int]]] = {}
        for (oi, q, wi), v in self.share.items():
            if v > 0.05:
                out.setdefault(wi, {}).setdefault(oi, []).append(q)
        return out

    @functools.cached_property
    def options_by_workload(self) -> dict[int, list[Option]]:
        out: dict[int, list[Option]] = {}
        for o in self.options:
            out.setdefault(o.workload, []).append(o)
        return out

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


def _rent_total(plan: Plan, c: CloudOption, billed_sum: float, busy_sum: float, carbon_price: float) -> float:
    """Stand-alone cost of renting ``billed_sum`` GPU-hours over the horizon (``busy_sum`` of them
    working), the carbon price included (for ranking)."""
    usd = engine.rented_usd(c.price, plan.assumptions.cloud, billed_sum)
    if not carbon_price:
        return usd
    overhead = engine.spot_overhead_factor(c.price, plan.assumptions.cloud)
    kg = float(c.carbon.kg(np.array([billed_sum * overhead]), np.array([busy_sum])).sum())
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
    hours: dict[str, tuple[float, float, float]] = {}  # accelerator -> billed, busy, burst GPU-hours
    for acc, fit in fits.items():
        billed, busy = rented_gpu_hours(plan, w, fit)
        hours[acc] = (float(billed.sum()), float(busy.sum()), float(fit.burst_gpu_hours.sum()))
    for c in cands.cloud if cloud_ok else []:
        fit = fits.get(c.accelerator.name)
        if c.reserved or fit is None or not cands.residency.allowed(wi, c.label):
            continue
        if c.price.pricing_model == "spot" and not w.spot_ok:
            continue
        billed_sum, busy_sum, burst_sum = hours[c.accelerator.name]
        ranked.append((_rent_total(plan, c, billed_sum, busy_sum, price), c, fit))
        if c.price.pricing_model == "on_demand" and fit.burst_gpu_hours.any():
            bursts.append((_rent_total(plan, c, burst_sum, burst_sum, price), c, fit))
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
    # Per venue (cloud pools pay the workload's data costs): extra cash and carbon of each variant and
    # their totals, computed once; per accelerator: devices in each variant and their totals.
    extras = {cloud: data if cloud else np.zeros_like(data) for cloud in (False, True)}
    by_variant: dict[tuple[bool, str], tuple[np.ndarray, np.ndarray, float]] = {}
    for cloud, extra in extras.items():
        by_variant[(cloud, "peak")] = (extra, nothing, float(extra.sum() + cp(nothing.sum())))
        if burst is not None:
            cash = extra + burst[0]
            by_variant[(cloud, "avg+burst")] = (cash, burst[1], float(cash.sum() + cp(burst[1].sum())))
    devices_of = {
        acc: (
            (fit.owned_peak, float(fit.owned_peak.sum())),
            (fit.owned_avg, float(fit.owned_avg.sum())),
            bool((fit.owned_peak > fit.owned_avg).any()),
        )
        for acc, fit in fits.items()
    }
    for pi, p in enumerate(pools):
        if p.accelerator not in fits:
            continue
        allowed = (cloud_ok if p.cloud else onprem_ok) and cands.residency.allowed(wi, p.label)
        if not allowed:
            continue
        kind = "reserved" if p.cloud else "onprem"
        peak, avg, bursty = devices_of[p.accelerator]
        variants = [("peak", peak, None)]
        if burst is not None and bursty:
            variants.append(("avg+burst", avg, burst_via))
        marginal = 0.0 if p.owned_now and not p.cloud else p.gpu_quarter_usd
        for variant, (devices, devices_sum), via in variants:
            cash, carbon, fixed = by_variant[(p.cloud, variant)]
            cost = float(fixed + devices_sum * marginal)
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
        chosen += [o for o in group if o.pool is not None and pools[o.pool].owned_now]
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
    penalty: list[bool] = field(default_factory=list)  # unserved demand, budget or carbon-cap overrun
    stage: list[int] = field(default_factory=list)  # purchases: start quarter (relax-and-fix order); else -1
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

    cut_rows: list[int] = field(default_factory=list)
    cut_cols: list[int] = field(default_factory=list)
    cut_vals: list[float] = field(default_factory=list)
    cut_hi: list[float] = field(default_factory=list)

    def var(
        self, cost: float, lo: float, hi: float, integer: bool = False, penalty: bool = False, stage: int = -1
    ) -> int:
        self.cost.append(cost)
        self.lb.append(lo)
        self.ub.append(hi)
        self.integer.append(integer)
        self.penalty.append(penalty)
        self.stage.append(stage)
        return len(self.cost) - 1

    def row(self, lo: float, hi: float) -> int:
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        return len(self.row_lo) - 1

    def cuts(self, hi: np.ndarray, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        """Valid inequalities sum(val x[col]) <= hi (``rows`` index ``hi``), added to the LP only once
        violated."""
        first = len(self.cut_hi)
        self.cut_hi.extend(np.asarray(hi, dtype=float).tolist())
        self.cut_rows.extend((first + np.asarray(rows)).tolist())
        self.cut_cols.extend(np.asarray(cols).tolist())
        self.cut_vals.extend(np.asarray(vals, dtype=float).tolist())

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
    y_index, u_index, forced, pool_load = _demand_columns(
        b, plan, pools, options, weights, cap_row, share_row, lambda kg: engine.carbon_cost_usd(kg, price)
    )
    buy_index: dict[int, tuple[int, int]] = {}
    units: dict[tuple[int, int], int] = {}  # (pool, quarter) -> column of the units in service then
    for p in used:
        pool = pools[p]
        window: dict[int, list[int]] = {}
        for st in range(pool.first_start, nq):
            unit_cost = pool.unit_cash[st].sum() - pool.residual_usd[st] + cp(pool.unit_carbon[st].sum())
            col = b.var(float(unit_cost), 0.0, np.inf, integer=True, stage=st)
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


def _demand_columns(
    b: _Builder,
    plan: Plan,
    pools: list[Pool],
    options: list[Option],
    weights: np.ndarray,
    cap_row: dict[tuple[int, int], int],
    share_row: int | None,
    cp: Callable[[np.ndarray], np.ndarray],
) -> tuple[
    dict[int, tuple[int, int, int]],
    dict[int, tuple[int, int]],
    dict[tuple[int, int], float],
    list[tuple[int, int, int, int, float]],
]:
    """Per workload-quarter with demand: one share column per option that can serve it then and one
    unserved column, all in one cover row (shares + unserved = 1); shares load their pool's capacity row
    and the cloud-share row. Workload-quarters nothing can serve are unserved up front (``forced``).

    Returns (share columns -> (option, quarter, workload), unserved columns -> (workload, quarter), forced,
    pool loads (column, workload, pool, quarter, devices)). Built with numpy, in the order of a loop over
    workloads, quarters and options."""
    nq = plan.horizon_quarters
    if not options:
        return {}, {}, {(wi, q): 1.0 for wi, q in zip(*np.nonzero(weights > 0), strict=True)}, []
    qs = np.arange(nq)
    workload = np.array([o.workload for o in options])
    pool = np.array([-1 if o.pool is None else o.pool for o in options])
    cloud = np.array([o.cloud for o in options])
    cash = np.stack([o.cash for o in options])  # (O, Q, 3)
    carbon = np.stack([o.carbon for o in options])  # (O, Q, 2)
    devices = np.stack([o.devices for o in options]).astype(float)  # (O, Q)
    first = np.array([pools[p].first_start if p >= 0 else 0 for p in pool])
    owned = np.stack([pools[p].existing_gpus > 0 if p >= 0 else np.ones(nq, bool) for p in pool])
    reach = owned | (qs[None, :] >= first[:, None])  # rented, already owned, or buyable by then
    cash_q = cash.sum(axis=2)  # (O, Q)
    cost = cash_q + cp(carbon.sum(axis=2))
    # upper bound on serving the workload-quarter with the option: its own costs plus whole new units
    bound = cash_q.copy()
    for oi in np.nonzero(pool >= 0)[0]:
        p = pools[pool[oi]]
        start = np.minimum(np.maximum(qs, p.first_start), len(p.unit_cash) - 1)
        bound[oi] += np.ceil(devices[oi] / p.gpus_per_unit) * p.unit_cash[start].sum(axis=(1, 2))
    oi_, q_ = np.nonzero(reach & (weights[workload] > 0))
    w_ = workload[oi_]
    order = np.lexsort((oi_, q_, w_))
    oi_, q_, w_ = oi_[order], q_[order], w_[order]
    has = np.zeros(weights.shape, dtype=bool)
    has[w_, q_] = True
    forced = {(int(wi), int(q)): 1.0 for wi, q in zip(*np.nonzero((weights > 0) & ~has), strict=True)}
    key = w_ * nq + q_
    starts = np.r_[0, np.nonzero(np.diff(key))[0] + 1] if key.size else np.zeros(0, dtype=int)
    groups = starts.size
    group = np.cumsum(np.isin(np.arange(key.size), starts)) - 1  # group of each share column
    col0, row0 = len(b.cost), len(b.row_lo)
    y_col = col0 + np.arange(key.size) + group  # each earlier group added one unserved column
    ends = np.r_[starts[1:], key.size]
    u_col = col0 + ends + np.arange(groups)
    dearest = np.maximum.reduceat(bound[oi_, q_], starts) if groups else np.zeros(0)
    total = key.size + groups
    col_cost = np.empty(total)
    col_cost[y_col - col0] = cost[oi_, q_]
    col_cost[u_col - col0] = UNSERVED_PENALTY_X * dearest + 1e3
    penalty = np.zeros(total, dtype=bool)
    penalty[u_col - col0] = True
    b.cost.extend(col_cost.tolist())
    b.lb.extend([0.0] * total)
    b.ub.extend([1.0] * total)
    b.integer.extend([False] * total)
    b.penalty.extend(penalty.tolist())
    b.stage.extend([-1] * total)
    b.row_lo.extend([1.0] * groups)  # cover rows: shares + unserved = 1
    b.row_hi.extend([1.0] * groups)
    rows = [row0 + group, row0 + np.arange(groups)]
    cols = [y_col, u_col]
    vals = [np.ones(key.size), np.ones(groups)]
    d = devices[oi_, q_]
    loads = np.nonzero((pool[oi_] >= 0) & (d > 0))[0]
    used = sorted(set(pool[pool >= 0].tolist()))
    first_cap = min(cap_row.values()) if cap_row else 0
    slot = np.full(len(pools), -1)
    slot[used] = np.arange(len(used))
    rows.append(first_cap + slot[pool[oi_[loads]]] * nq + q_[loads])  # cap_row[(p, q)], built p-major
    cols.append(y_col[loads])
    vals.append(d[loads])
    if share_row is not None:
        s = plan.max_cloud_share or 0.0
        rows.append(np.full(key.size, share_row))
        cols.append(y_col)
        vals.append(weights[w_, q_] * np.where(cloud[oi_], 1.0 - s, -s))
    b.rows.extend(np.concatenate(rows).tolist())
    b.cols.extend(np.concatenate(cols).tolist())
    b.vals.extend(np.concatenate(vals).tolist())
    for spent, width, r, c, v in (
        (cash[oi_, q_], 3, b.cash_rows, b.cash_cols, b.cash_vals),
        (carbon[oi_, q_], 2, b.co2_rows, b.co2_cols, b.co2_vals),
    ):
        j, k = np.nonzero(spent)
        r.extend((width * q_[j] + k).tolist())
        c.extend(y_col[j].tolist())
        v.extend(spent[j, k].tolist())
    y_index = dict(zip(y_col.tolist(), zip(oi_.tolist(), q_.tolist(), w_.tolist(), strict=True), strict=True))
    u_index = dict(
        zip(u_col.tolist(), zip(w_[starts].tolist(), q_[starts].tolist(), strict=True), strict=True)
    )
    pool_load = list(
        zip(
            y_col[loads].tolist(),
            w_[loads].tolist(),
            pool[oi_[loads]].tolist(),
            q_[loads].tolist(),
            d[loads].tolist(),
            strict=True,
        )
    )
    return y_index, u_index, forced, pool_load


def _capacity_cuts(
    b: _Builder,
    pools: list[Pool],
    pool_load: list[tuple[int, int, int, int, float]],
    units: dict[tuple[int, int], int],
) -> None:
    """Mixed-integer rounding cuts of d y <= G N (see the module docstring), N = units in service.

    A workload's options needing at most one unit (d <= G) share one cut, sum(y) <= N: if the pool has no
    unit the workload cannot use it, and one unit is enough for a share of at most 1."""
    if not pool_load:
        return
    col, wi, p, q = (np.array(v, dtype=np.int64) for v in list(zip(*pool_load, strict=True))[:4])
    d = np.array([load[4] for load in pool_load])
    nq = max(len(pl.existing_gpus) for pl in pools)
    existing = np.stack([pl.existing_gpus for pl in pools])  # (pools, Q)
    unit_col = np.full((len(pools), nq), -1, dtype=np.int64)
    for (pp, qq), n in units.items():
        unit_col[pp, qq] = n
    keep = (existing[p, q] <= 0) & (unit_col[p, q] >= 0)
    col, wi, p, q, d = col[keep], wi[keep], p[keep], q[keep], d[keep]
    g = np.array([float(pl.gpus_per_unit) for pl in pools])[p]
    k = np.ceil(d / g - 1e-9)
    big = k > 1
    t = np.where(big, (k - 1) * g / np.where(big, d, 1.0), 0.0)
    mir = np.nonzero(big & (1.0 - t >= 0.1))[0]  # nearly a multiple of G: the cut adds little, scales badly
    tm, one = t[mir], np.arange(mir.size)
    b.cuts(
        tm / (1.0 - tm) - (k[mir] - 1),
        np.concatenate([one, one]),
        np.concatenate([col[mir], unit_col[p[mir], q[mir]]]),
        np.concatenate([1.0 / (1.0 - tm), -np.ones(mir.size)]),
    )
    # one cut per (workload, pool, quarter), in order of first appearance: sum(y) - N <= 0
    small = np.nonzero(~big)[0]
    key = (wi[small] * len(pools) + p[small]) * nq + q[small]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    head = small[first[order]]  # an entry of each cut, cuts in order
    b.cuts(
        np.zeros(order.size),
        np.concatenate([rank[inverse], np.arange(order.size)]),
        np.concatenate([col[small], unit_col[p[head], q[head]]]),
        np.concatenate([np.ones(small.size), -np.ones(order.size)]),
    )


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
        slack = b.var(OVER_CAP_PENALTY_PER_KG, 0.0, np.inf, penalty=True)
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
        penalty=np.asarray(b.penalty, dtype=bool),
        stage=np.asarray(b.stage, dtype=int),
        cuts=sparse.csr_array((b.cut_vals, (b.cut_rows, b.cut_cols)), shape=(len(b.cut_hi), n)),
        cut_hi=np.asarray(b.cut_hi, dtype=float),
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
