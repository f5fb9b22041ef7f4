"""Sensitivity: tornado over single assumptions and base/optimistic/pessimistic scenarios (re-optimised)."""

from __future__ import annotations

from collections.abc import Callable

from capplan.planner.plan import Plan
from capplan.planner.result import ScenarioRow, TornadoRow

# (label, assumption group, field, low(base), high(base)): each range is stated here and printed in the
# report.
TORNADO: tuple[tuple[str, str, str, Callable[[float], float], Callable[[float], float]], ...] = (
    ("cloud price x0.8 / x1.2", "cloud", "price_multiplier", lambda b: b * 0.8, lambda b: b * 1.2),
    (
        "on-prem utilisation x0.75 / x1.25",
        "onprem",
        "utilisation_fraction",
        lambda b: b * 0.75,
        lambda b: min(b * 1.25, 1.0),
    ),
    ("PUE -0.3 / +0.3", "onprem", "pue", lambda b: max(b - 0.3, 1.0), lambda b: b + 0.3),
    (
        "electricity $/kWh x0.5 / x1.5",
        "onprem",
        "electricity_usd_per_kwh",
        lambda b: b * 0.5,
        lambda b: b * 1.5,
    ),
    ("demand growth x0.5 / x1.5", "planning", "growth_multiplier", lambda b: b * 0.5, lambda b: b * 1.5),
    (
        "GPU purchase price x0.8 / x1.2",
        "onprem",
        "gpu_price_multiplier",
        lambda b: b * 0.8,
        lambda b: b * 1.2,
    ),
)

SCENARIOS = {
    "optimistic": 0,
    "pessimistic": 1,
}  # index into (low, high); optimistic = every driver at its cheap end
_CHEAP_END = {"utilisation_fraction": 1}  # higher utilisation is the cheap end; all others: low is cheap


def with_assumptions(plan: Plan, changes: dict[tuple[str, str], float]) -> Plan:
    """A copy of the plan with some assumption fields replaced (validated)."""
    groups = {
        g: getattr(plan.assumptions, g).model_dump(exclude_unset=True)
        for g in ("onprem", "cloud", "planning", "carbon")
    }
    for (group, name), value in changes.items():
        groups[group][name] = value
    data = plan.model_dump(exclude_unset=True)
    data["assumptions"] = groups
    return Plan.model_validate(data)


def tornado(plan: Plan, net_usd: Callable[[Plan], tuple[float, float]], base_net: float) -> list[TornadoRow]:
    """Net cost of the re-optimised plan at the low and high end of each driver, widest swing first."""
    rows = []
    for label, group, name, low, high in TORNADO:
        base = float(getattr(getattr(plan.assumptions, group), name))
        lo_v, hi_v = low(base), high(base)
        lo_net = net_usd(with_assumptions(plan, {(group, name): lo_v}))[0]
        hi_net = net_usd(with_assumptions(plan, {(group, name): hi_v}))[0]
        rows.append(
            TornadoRow(
                parameter=f"{group}.{name} ({label})",
                unit=_unit(plan, group, name),
                base_value=base,
                low_value=lo_v,
                high_value=hi_v,
                net_low_usd=lo_net,
                net_high_usd=hi_net,
                net_base_usd=base_net,
                swing_usd=abs(hi_net - lo_net),
            )
        )
    return sorted(rows, key=lambda r: -r.swing_usd)


def _unit(plan: Plan, group: str, name: str) -> str:
    info = type(getattr(plan.assumptions, group)).model_fields[name]
    return (
        str((info.json_schema_extra or {}).get("unit", ""))
        if isinstance(info.json_schema_extra, dict)
        else ""
    )


def scenarios(
    plan: Plan, net_usd: Callable[[Plan], tuple[float, float]], base: tuple[float, float]
) -> list[ScenarioRow]:
    """Base, optimistic (every driver at its cheap end) and pessimistic (every driver at its dear end)."""
    rows = [
        ScenarioRow(scenario="base", settings="assumptions as shown", net_usd=base[0], cloud_share=base[1])
    ]
    for scenario, end in SCENARIOS.items():
        changes = {}
        for _label, group, name, low, high in TORNADO:
            b = float(getattr(getattr(plan.assumptions, group), name))
            pick = end if name not in _CHEAP_END else 1 - end
            changes[(group, name)] = (low, high)[pick](b)
        net, share = net_usd(with_assumptions(plan, changes))
        settings = ", ".join(f"{g}.{n}={v:.3g}" for (g, n), v in changes.items())
        rows.append(ScenarioRow(scenario=scenario, settings=settings, net_usd=net, cloud_share=share))
    return rows
