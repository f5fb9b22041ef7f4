"""Plain-language reasons for the recommendation, each with the numbers behind it."""

from __future__ import annotations

from collections import defaultdict

from capplan.costs.format import usd
from capplan.planner.candidates import Candidates
from capplan.planner.placement import Solution, order_by
from capplan.planner.plan import Plan
from capplan.planner.residency import Residency
from capplan.planner.result import AlternativeRow, ConstraintRow, ReasonRow, ResidencyRow
from capplan.planner.sizing import Sizing


def _quarters(sol: Solution, qs: list[int]) -> str:
    qs = sorted(qs)
    first, last = sol.plan.quarter_label(qs[0]), sol.plan.quarter_label(qs[-1])
    return first if first == last else f"{first}..{last}"


def _used(sol: Solution, wi: int) -> dict[int, list[int]]:
    """Option index -> quarters in which it serves more than 5 % of workload ``wi``'s demand."""
    return sol.used.get(wi, {})


def _by_workload(rows: list[ResidencyRow]) -> dict[str, list[ResidencyRow]]:
    out: dict[str, list[ResidencyRow]] = {}
    for r in rows:
        out.setdefault(r.workload, []).append(r)
    return out


def residency_rows(plan: Plan, cands: Candidates, sizing: Sizing) -> list[ResidencyRow]:
    """Every candidate option a sensitive workload has figures for, allowed or excluded, with the rule."""
    offers: list[tuple[str, str, str | None]] = [
        (c.label, c.accelerator.name, c.price.pricing_model) for c in cands.cloud
    ]
    offers += [(s.label, s.accelerator.name, None) for s in cands.servers]
    rows = []
    for wi in cands.residency.sensitive():
        w = plan.workloads[wi]
        fitted = {f.accelerator for f in sizing.for_workload(w.name)}
        for label, acc, model in offers:
            if acc not in fitted:
                continue
            venue, verdict = cands.residency.venues[label], cands.residency.verdict(wi, label)
            rows.append(ResidencyRow(workload=w.name, option=label, pricing_model=model, venue=venue.name,
                                     location=venue.where(), allowed=verdict.allowed, rule=verdict.rule))
    return rows


def _placed(sol: Solution, wi: int, residency: Residency) -> list[str]:
    """'OPTION (placed|burst): RULE' for each option and burst target the solution uses for workload
    ``wi``."""
    roles: dict[str, str] = {}
    for oi in sorted(_used(sol, wi), key=lambda oi: sol.options[oi].label):
        o = sol.options[oi]
        roles.setdefault(o.label, "placed")
        if o.variant == "avg+burst" and o.burst_via:
            roles.setdefault(o.burst_via, "burst")
    return [f"{label} ({role}): {residency.verdict(wi, label).rule}" for label, role in roles.items()]


def _excluded(rows: list[ResidencyRow], workload: str) -> list[str]:
    """Per rule that excluded something: 'VENUE (offers: X [on_demand, reserved_1y], ...): RULE', or, when
    one rule excluded several venues, 'VENUE, VENUE (N offers): RULE'."""
    groups: dict[str, dict[str, dict[str, list[str]]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r.workload == workload and not r.allowed:
            offer = r.option.removesuffix(f" {r.pricing_model}") if r.pricing_model else r.option
            models = groups[r.rule][r.venue].setdefault(offer, [])
            models += [r.pricing_model] if r.pricing_model else []
    out = []
    for rule, venues in groups.items():
        if len(venues) > 1:
            n = sum(max(len(m), 1) for offers in venues.values() for m in offers.values())
            out.append(f"{', '.join(sorted(venues))} ({n} offers): {rule}")
            continue
        ((venue, offers),) = venues.items()
        listed = ", ".join(f"{o} [{', '.join(m)}]" if m else o for o, m in offers.items())
        out.append(f"{venue} (offers: {listed}): {rule}")
    return sorted(out)


def constraint_rows(sol: Solution, residency: Residency, rows: list[ResidencyRow]) -> list[ConstraintRow]:
    """One row per sensitive workload: its rules, where it is placed and why, what was excluded and why."""
    out = []
    rows_of = _by_workload(rows)
    for wi in residency.sensitive():
        rules = residency.rules[wi]
        out.append(ConstraintRow(
            workload=rules.workload,
            sensitivity=rules.sensitivity,
            rules=rules.describe(),
            placed="; ".join(_placed(sol, wi, residency)) or "not placed",
            excluded="; ".join(_excluded(rows_of.get(rules.workload, []), rules.workload))
            or "nothing excluded",
        ))
    return out


def workload_reasons(sol: Solution, residency: Residency, rows: list[ResidencyRow]) -> list[ReasonRow]:
    plan = sol.plan
    out = []
    rows_of = _by_workload(rows)
    unserved: dict[int, list[int]] = {}
    for (wj, q), v in sol.unserved.items():
        if v > 0.01:
            unserved.setdefault(wj, []).append(q)
    for wi, w in enumerate(plan.workloads):
        used = _used(sol, wi)
        parts = []
        for oi, qs in sorted(used.items(), key=lambda kv: min(kv[1])):
            o = sol.options[oi]
            how = {
                "peak": "sized for its peak",
                "avg+burst": f"sized for the average; peaks burst to {o.burst_via}",
                "rent": "pay-per-use",
            }[o.variant]
            parts.append(f"{o.label} in {_quarters(sol, qs)} ({how})")
        mine = sorted(sol.options_by_workload.get(wi, []), key=lambda o: o.standalone_usd)
        compared = "; ".join(f"{o.label} [{o.variant}] {usd(o.standalone_usd)}" for o in mine[:4])
        text = f"{w.name}: " + ("; then ".join(parts) if parts else "not placed") + "."
        if compared:
            priced = " (with the plan's carbon price)" if plan.carbon.price_usd_per_tonne else ""
            text += f" Stand-alone cost over the horizon{priced} of its cheapest options: {compared}."
        if w.sensitive:
            rules = residency.rules[wi]
            placed = "; ".join(_placed(sol, wi, residency))
            text += f" Residency ({rules.describe()}):" + (f" allowed: {placed}." if placed else "")
            excluded = _excluded(rows_of.get(w.name, []), w.name)
            if excluded:
                text += f" Excluded: {'; '.join(excluded)}."
        elif w.placement == "on_prem":
            text += " It must stay on-prem (plan: placement)."
        onprem_first = [min(qs) for oi, qs in used.items() if sol.options[oi].kind == "onprem"]
        if onprem_first and min(onprem_first) > 0 and any(sol.options[oi].kind != "onprem" for oi in used):
            pool = next(sol.pools[sol.options[oi].pool] for oi in used if sol.options[oi].kind == "onprem")  # type: ignore[index]
            text += (
                f" On-prem capacity cannot be in service before {plan.quarter_label(pool.first_start)} "
                f"({pool.lead_time_weeks:g}-week lead time from {plan.start}), so other capacity bridges the "
                f"gap."
            )
        missing = sorted(unserved.get(wi, []))
        if missing:
            text += (f" UNSERVED in {_quarters(sol, missing)}: no allowed option could be used "
                     "(see excluded options and budget).")
        out.append(ReasonRow(topic=f"workload {w.name}", text=text))
    return out


def purchase_reasons(sol: Solution) -> list[ReasonRow]:
    plan = sol.plan
    out = []
    placed: dict[tuple[int | None, int], list[float]] = {}  # (pool, quarter) -> GPUs of each share there
    for (oi, q, _), v in sol.share.items():
        placed.setdefault((sol.options[oi].pool, q), []).append(v * float(sol.options[oi].devices[q]))
    for (p, st), n in sorted(sol.buys.items(), key=lambda kv: kv[0][1]):
        pool = sol.pools[p]
        need = sum(placed.get((p, st), []))
        what = "servers" if not pool.cloud else f"{pool.kind} commitments"
        cost = (
            usd(n * pool.upfront_usd) + " upfront"
            if pool.upfront_usd
            else usd(n * float(pool.unit_cash[st].sum())) + " over the horizon"
        )
        out.append(
            ReasonRow(
                topic=f"purchase {pool.label}",
                text=(
                    f"Order {n} {what} ({n * pool.gpus_per_unit} GPUs) of {pool.label} by "
                    f"{order_by(plan, st, pool.lead_time_weeks)} "
                    f"to be in service in {plan.quarter_label(st)}: the plan places {need:.1f} GPUs of work "
                    f"on this pool then, "
                    f"at {usd(pool.gpu_quarter_usd)} per GPU-quarter stand-alone; {cost} (prices: "
                    f"{pool.source})."
                ),
            )
        )
    return out


def summary_reasons(
    sol: Solution,
    alternatives: list[AlternativeRow],
    break_even_month: int | None,
    npv_usd: float,
    rate: float,
) -> list[ReasonRow]:
    rec = next(a for a in alternatives if a.alternative == "recommended")
    out = []
    for alt in alternatives:
        if alt.alternative == "recommended":
            continue
        delta = alt.net_usd - rec.net_usd
        pct = 100.0 * delta / rec.net_usd if rec.net_usd else 0.0
        note = f" ({alt.note})" if alt.note else ""
        if alt.unserved_workload_quarters:
            note += f"; it leaves {alt.unserved_workload_quarters} workload-quarter(s) UNSERVED"
        out.append(
            ReasonRow(
                topic=f"vs {alt.alternative}",
                text=f"{alt.alternative} would cost {usd(alt.net_usd)} net over the horizon vs "
                     f"{usd(rec.net_usd)} for the "
                f"recommended plan ({usd(abs(delta))}, {abs(pct):.1f} % "
                f"{'more' if delta >= 0 else 'less'}){note}.",
            )
        )
    when = f"from month {break_even_month} on" if break_even_month else "at no month within the horizon"
    out.append(
        ReasonRow(
            topic="break-even",
            text=f"Cumulative spend of the recommended plan stays at or below all-cloud {when}; NPV of its "
                 f"savings "
            f"vs all-cloud at {100 * rate:g} %/year (assumption onprem.discount_rate_per_year): "
            f"{usd(npv_usd)}.",
        )
    )
    budget = sol.plan.budget.per_year_usd
    if budget:
        for year in range(-(-sol.plan.horizon_quarters // 4)):
            spend = float(sol.cash[4 * year : 4 * year + 4].sum())
            over = sol.over_budget_usd.get(year)
            state = (
                f"OVER budget by {usd(over)} (fixed costs or unavoidable demand)"
                if over
                else f"{100 * spend / budget:.0f} % of the {usd(budget)} budget"
            )
            out.append(
                ReasonRow(
                    topic=f"budget year {year + 1}",
                    text=f"Plan year {year + 1} spends {usd(spend)}: {state}.",
                )
            )
    if sol.plan.max_cloud_share is not None:
        out.append(
            ReasonRow(
                topic="cloud share",
                text=f"{100 * sol.cloud_share:.0f} % of demand (GPU-weighted) runs in the cloud; the plan "
                     f"allows at most {100 * sol.plan.max_cloud_share:.0f} %.",
            )
        )
    return out


def _main_option(sol: Solution) -> dict[tuple[int, int], str]:
    """(workload, quarter) -> the option carrying most of it."""
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for (oi, q, wi), v in sol.share.items():
        if v > best.get((wi, q), (0.0, ""))[0]:
            best[(wi, q)] = (v, sol.options[oi].label)
    return {k: label for k, (_, label) in best.items()}


def carbon_reasons(sol: Solution, without: Solution | None) -> list[ReasonRow]:
    """Emissions of the plan, and what the plan's carbon price or cap changed (vs the plan without them)."""
    tonnes = sol.carbon_kg / 1000.0
    op, emb = (float(sol.carbon[:, k].sum()) / 1000.0 for k in (0, 1))
    out = [
        ReasonRow(
            topic="carbon",
            text=f"The recommended plan emits {tonnes:,.1f} tCO2e over the horizon ({op:,.1f} t operational: "
            f"energy x grid intensity of the site or cloud region; {emb:,.1f} t embodied: manufacturing, "
            "amortised like capex on-prem and per rented GPU-hour in the cloud).",
        )
    ]
    if without is None:
        return out
    policy = sol.plan.carbon
    terms = []
    if policy.price_usd_per_tonne:
        price = usd(policy.price_usd_per_tonne)
        terms.append(f"a carbon price of {price}/t (plan: carbon.price_usd_per_tonne)")
    if policy.cap_tonnes_per_year is not None:
        terms.append(f"a cap of {policy.cap_tonnes_per_year:,.0f} t/year (plan: carbon.cap_tonnes_per_year)")
    before, after = _main_option(without), _main_option(sol)
    moved: dict[tuple[int, str, str], list[int]] = defaultdict(list)
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            moved[(key[0], before.get(key, "unserved"), after.get(key, "unserved"))].append(key[1])
    d_kg, d_usd = without.carbon_kg - sol.carbon_kg, sol.net_usd - without.net_usd
    text = (
        f"With {' and '.join(terms)}, the plan emits {d_kg / 1000:,.1f} t less than it would without "
        f"({without.carbon_kg / 1000:,.1f} t) and its cash cost changes by {usd(d_usd)} net "
        f"({usd(without.net_usd)} -> {usd(sol.net_usd)})"
    )
    if d_kg > 0 and d_usd > 0:
        text += f": {usd(d_usd / (d_kg / 1000))} per tonne avoided"
    changes = [
        f"{sol.plan.workloads[wi].name} in {_quarters(sol, qs)}: {old} -> {new}"
        for (wi, old, new), qs in sorted(moved.items(), key=lambda kv: (kv[0][0], min(kv[1])))
    ]
    text += ". " + (
        "Placement changes: " + "; ".join(changes) + "." if changes else "The placement is the same."
    )
    for year, kg in sorted(sol.over_carbon_cap_kg.items()):
        text += (
            f" Plan year {year + 1} is OVER the carbon cap by {kg / 1000:,.1f} t"
            " (no allowed option avoids it)."
        )
    out.append(ReasonRow(topic="carbon policy", text=text))
    return out
