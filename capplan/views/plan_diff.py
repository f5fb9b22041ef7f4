"""Two revisions of one plan compared: what changed in demand, prices, assumptions and other plan inputs;
which purchases were added, removed or moved; and how net cost and break-even moved, with the reasons.

Works from two result.json files (``capplan.planner.result_file``), which carry the inputs they were
computed from. Used by ``capplan plan diff`` and the dashboard's Plan revisions page.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from capplan.errors import UserError
from capplan.planner import PlanResult
from capplan.planner.result_file import parse_result
from capplan.views.plan_charts import ALTERNATIVE_COLOURS
from capplan.views.text import usd

REL_TOL = 1e-9  # figures closer than this (relative) are the same figure written twice
# Plan inputs shown in their own tables, so left out of "other plan settings".
_SHOWN_ELSEWHERE = ("assumptions.",)
_DEMAND_FIELD = ".demand."
_PRICE_FIELDS = ("gpu_price_usd", "server_price_usd", "price_source")

DEMAND_COLUMNS = ["workload", "quarter", "unit", "old", "new", "change_pct"]
PRICE_COLUMNS = ["option", "kind", "unit", "old_usd", "new_usd", "change_pct", "old_source", "new_source"]
ASSUMPTION_COLUMNS = ["group", "name", "unit", "old", "new", "source"]
SETTING_COLUMNS = ["setting", "old", "new"]
PURCHASE_COLUMNS = ["change", "what", "old_units", "new_units", "old_gpus", "new_gpus", "old_in_service",
                    "new_in_service", "old_order_by", "new_order_by", "old_upfront_usd", "new_upfront_usd"]
FIGURE_COLUMNS = ["figure", "unit", "old", "new", "change"]
COST_COLUMNS = ["category", "old_usd", "new_usd", "change_usd"]
REASON_COLUMNS = ["change", "topic", "old_text", "new_text"]
# Title of each table of a PlanDiff, in the order the CLI and the dashboard show them.
DIFF_SECTIONS = {
    "figures": "Headline figures",
    "demand": "Demand changed",
    "prices": "Prices changed",
    "assumptions": "Assumptions changed",
    "settings": "Other plan settings changed",
    "purchases": "Purchases added, removed, moved or resized",
    "costs": "Recommended plan's cost by category (over the horizon)",
    "reasons": "Reasons that changed",
}
__all__ = ["DIFF_SECTIONS", "PlanDiff", "UserError", "diff_cumulative_figure", "diff_results", "read_results"]


@dataclass
class PlanDiff:
    """What differs between an older and a newer result of the same plan (tables list changes only)."""

    old: PlanResult
    new: PlanResult
    demand: pd.DataFrame
    prices: pd.DataFrame
    assumptions: pd.DataFrame
    settings: pd.DataFrame
    purchases: pd.DataFrame
    figures: pd.DataFrame
    costs: pd.DataFrame
    reasons: pd.DataFrame
    summary: list[str] = field(default_factory=list)

    def inputs_changed(self) -> bool:
        return not all(t.empty for t in (self.demand, self.prices, self.assumptions, self.settings))

    def to_json(self) -> dict[str, Any]:
        """The comparison as plain JSON: plan name, summary sentences and each table as a list of rows."""
        out: dict[str, Any] = {"plan_name": self.new.plan_name, "old_generated_utc": self.old.generated_utc,
                               "new_generated_utc": self.new.generated_utc, "summary": self.summary}
        for name in DIFF_SECTIONS:
            frame: pd.DataFrame = getattr(self, name)
            out[name] = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
        return out


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return a == b


def _pct(old: float | None, new: float | None) -> float | None:
    if old is None or new is None or not old:
        return None
    return 100.0 * (new - old) / abs(old)


def read_results(old_data: bytes | str, old_name: str, new_data: bytes | str, new_name: str) -> PlanDiff:
    """Parse two result.json documents (errors name the file) and compare them."""
    old, new = parse_result(old_data, old_name), parse_result(new_data, new_name)
    return diff_results(old, new, old_name, new_name)


def diff_results(old: PlanResult, new: PlanResult, old_name: str = "OLD", new_name: str = "NEW") -> PlanDiff:
    """Compare two results of the same plan; UserError when they belong to different plans."""
    if old.plan_name != new.plan_name:
        raise UserError(
            f"{old_name} and {new_name} are results of different plans ({old.plan_name[:60]!r} vs "
            f"{new.plan_name[:60]!r}); plan diff compares two revisions of one plan"
        )
    diff = PlanDiff(
        old=old, new=new,
        demand=_demand(old, new), prices=_prices(old, new), assumptions=_assumptions(old, new),
        settings=_settings(old.plan_inputs, new.plan_inputs), purchases=_purchases(old, new),
        figures=_figures(old, new), costs=_costs(old, new), reasons=_reasons(old, new),
    )
    diff.summary = _summary(diff)
    return diff


def _changed(old_rows: Iterable[Any], new_rows: Iterable[Any], key: Callable[[Any], Any],
             same: Callable[[Any, Any], bool]) -> Iterator[tuple[Any, Any, Any]]:
    """(key, old row or None, new row or None) for every key whose rows differ; new order, then removed."""
    before, after = {key(r): r for r in old_rows}, {key(r): r for r in new_rows}
    for k in [*after, *(k for k in before if k not in after)]:
        a, b = before.get(k), after.get(k)
        if a is None or b is None or not same(a, b):
            yield k, a, b


def _demand(old: PlanResult, new: PlanResult) -> pd.DataFrame:
    rows = [{"workload": k[0], "quarter": k[1], "unit": (b or a).unit,
             "old": a.demand if a else None, "new": b.demand if b else None,
             "change_pct": _pct(a.demand if a else None, b.demand if b else None)}
            for k, a, b in _changed(old.demand, new.demand, lambda r: (r.workload, r.quarter),
                                    lambda a, b: _same(a.demand, b.demand) and a.unit == b.unit)]
    return pd.DataFrame(rows, columns=DEMAND_COLUMNS)


def _prices(old: PlanResult, new: PlanResult) -> pd.DataFrame:
    def same(a: Any, b: Any) -> bool:
        return (_same(a.price_usd, b.price_usd) and _same(a.host_price_usd, b.host_price_usd)
                and a.source == b.source)

    rows = [{"option": k, "kind": (b or a).kind, "unit": (b or a).unit,
             "old_usd": a.price_usd if a else None, "new_usd": b.price_usd if b else None,
             "change_pct": _pct(a.price_usd if a else None, b.price_usd if b else None),
             "old_source": a.source if a else None, "new_source": b.source if b else None}
            for k, a, b in _changed(old.prices, new.prices, lambda r: r.option, same)]
    return pd.DataFrame(rows, columns=PRICE_COLUMNS)


def _assumptions(old: PlanResult, new: PlanResult) -> pd.DataFrame:
    rows = [{"group": k[0], "name": k[1], "unit": (b or a).unit,
             "old": str(a.value) if a else None, "new": str(b.value) if b else None,
             "source": (b or a).source}
            for k, a, b in _changed(old.assumptions, new.assumptions, lambda r: (r.group, r.name),
                                    lambda a, b: _same(a.value, b.value))]
    return pd.DataFrame(rows, columns=ASSUMPTION_COLUMNS)


def _item_key(item: Mapping[str, Any], index: int) -> str:
    """How a list item is named in a setting path: its name, accelerator or instance, else its position."""
    if "instance" in item:
        return " ".join(str(item.get(k, "")) for k in ("provider", "instance", "region")).strip()
    for key in ("name", "accelerator"):
        if item.get(key):
            return str(item[key])
    return str(index)


def flatten_inputs(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Plan inputs as {"workloads[chat].slo.p99_latency_ms": 200, ...}; list items keyed by their name."""
    out: dict[str, Any] = {}
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            out.update(flatten_inputs(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(doc, list) and doc and all(isinstance(v, Mapping) for v in doc):
        for i, value in enumerate(doc):
            out.update(flatten_inputs(value, f"{prefix}[{_item_key(value, i)}]"))
    else:
        out[prefix] = doc
    return out


def _settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> pd.DataFrame:
    """Plan inputs that changed other than demand, prices and assumptions (those have their own tables)."""
    before, after = flatten_inputs(old), flatten_inputs(new)
    rows = []
    for key in [*after, *(k for k in before if k not in after)]:
        if (key == "name" or key.startswith(_SHOWN_ELSEWHERE) or _DEMAND_FIELD in key
                or key.rsplit(".", 1)[-1] in _PRICE_FIELDS):
            continue
        a, b = before.get(key), after.get(key)
        if not _same(a, b):
            rows.append({"setting": key, "old": _text(a, key in before), "new": _text(b, key in after)})
    return pd.DataFrame(rows, columns=SETTING_COLUMNS)


def _text(value: Any, present: bool) -> str:
    return "(not set)" if not present else str(value)


def _purchases(old: PlanResult, new: PlanResult) -> pd.DataFrame:
    """Purchases matched by what is bought: same quarter and units = unchanged (left out); same quarter =
    resized; otherwise paired in time order = moved; the rest added or removed."""
    before: dict[str, list[Any]] = defaultdict(list)
    after: dict[str, list[Any]] = defaultdict(list)
    for p in old.purchases:
        before[p.what].append(p)
    for p in new.purchases:
        after[p.what].append(p)
    rows = []
    for what in [*after, *(w for w in before if w not in after)]:
        a, b = list(before[what]), list(after[what])
        for p in list(a):  # unchanged
            twin = next((q for q in b if q.in_service == p.in_service and q.units == p.units), None)
            if twin is not None:
                a.remove(p)
                b.remove(twin)
        for p in list(a):  # same quarter, other size
            twin = next((q for q in b if q.in_service == p.in_service), None)
            if twin is not None:
                a.remove(p)
                b.remove(twin)
                rows.append(_purchase_row("resized", what, p, twin))
        for p, q in zip(a, b, strict=False):
            rows.append(_purchase_row("moved", what, p, q))
        rows += [_purchase_row("removed", what, p, None) for p in a[len(b):]]
        rows += [_purchase_row("added", what, None, q) for q in b[len(a):]]
    return pd.DataFrame(rows, columns=PURCHASE_COLUMNS)


def _purchase_row(change: str, what: str, a: Any, b: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"change": change, "what": what}
    for side, p in (("old", a), ("new", b)):
        for name in ("units", "gpus", "in_service", "order_by", "upfront_usd"):
            row[f"{side}_{name}"] = getattr(p, name) if p is not None else None
    return row


def _figures(old: PlanResult, new: PlanResult) -> pd.DataFrame:
    def row(figure: str, unit: str, a: float | None, b: float | None) -> dict[str, Any]:
        change = None if a is None or b is None else b - a
        return {"figure": figure, "unit": unit, "old": a, "new": b, "change": change}

    return pd.DataFrame([
        row("recommended plan, net cost", "USD", old.recommended_net_usd, new.recommended_net_usd),
        row("all-cloud, net cost", "USD", old.all_cloud_net_usd, new.all_cloud_net_usd),
        row("all-on-prem, net cost", "USD", old.all_onprem_net_usd, new.all_onprem_net_usd),
        row("break-even vs all-cloud", "month", old.break_even_month, new.break_even_month),
        row("NPV of savings vs all-cloud", "USD", old.npv_savings_vs_all_cloud_usd,
            new.npv_savings_vs_all_cloud_usd),
        row("discounted payback", "month", old.discounted_payback_month, new.discounted_payback_month),
        row("cloud share of demand", "fraction", old.cloud_share, new.cloud_share),
        row("upfront of purchases", "USD", sum(p.upfront_usd for p in old.purchases),
            sum(p.upfront_usd for p in new.purchases)),
        row("GPUs bought or committed", "GPUs", sum(p.gpus for p in old.purchases),
            sum(p.gpus for p in new.purchases)),
    ], columns=FIGURE_COLUMNS)


def _costs(old: PlanResult, new: PlanResult) -> pd.DataFrame:
    """The recommended plan's cost over the horizon by category (every *_usd column but the total), the
    residual credit and the net: where the change in net cost comes from."""
    def totals(r: PlanResult) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for row in r.tables()["costs_by_quarter"]:
            if row["alternative"] == "recommended":
                for k, v in row.items():
                    if k.endswith("_usd") and k != "total_usd" and isinstance(v, int | float):
                        out[k.removesuffix("_usd")] += v
        rec = next(a for a in r.alternatives if a.alternative == "recommended")
        out["residual credit (subtracted)"] = rec.residual_credit_usd
        out["net"] = rec.net_usd
        return out

    a, b = totals(old), totals(new)
    rows = [{"category": k, "old_usd": a.get(k, 0.0), "new_usd": b.get(k, 0.0),
             "change_usd": b.get(k, 0.0) - a.get(k, 0.0)} for k in dict.fromkeys([*a, *b])]
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def _reasons(old: PlanResult, new: PlanResult) -> pd.DataFrame:
    """The planner's reasons that differ: matched by topic, text compared."""
    before: dict[str, list[str]] = defaultdict(list)
    after: dict[str, list[str]] = defaultdict(list)
    for r in old.reasons:
        before[r.topic].append(r.text)
    for r in new.reasons:
        after[r.topic].append(r.text)
    rows = []
    for topic in [*after, *(t for t in before if t not in after)]:
        a = [t for t in before[topic] if t not in after[topic]]
        b = [t for t in after[topic] if t not in before[topic]]
        rows += [{"change": "changed", "topic": topic, "old_text": x, "new_text": y}
                 for x, y in zip(a, b, strict=False)]
        rows += [{"change": "removed", "topic": topic, "old_text": x, "new_text": None} for x in a[len(b):]]
        rows += [{"change": "added", "topic": topic, "old_text": None, "new_text": y} for y in b[len(a):]]
    return pd.DataFrame(rows, columns=REASON_COLUMNS)


def _signed_usd(value: float) -> str:
    return ("+" if value > 0 else "") + usd(value)


def _missing(value: Any) -> bool:
    """None, or the NaN pandas puts where a row has no value."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _month(value: float | None) -> str:
    return "none within the horizon" if _missing(value) else f"month {int(value)}"  # type: ignore[arg-type]


def _summary(d: PlanDiff) -> list[str]:
    """Plain sentences: net cost and break-even before and after, and what changed to move them."""
    old, new = d.old, d.new
    change = new.recommended_net_usd - old.recommended_net_usd
    pct = _pct(old.recommended_net_usd, new.recommended_net_usd)
    lines = [
        f"Net cost of the recommended plan: {usd(old.recommended_net_usd)} -> {usd(new.recommended_net_usd)} "
        f"({_signed_usd(change)}" + (f", {pct:+.1f} %)." if pct is not None else ").")
    ]
    be_old, be_new = _month(old.break_even_month), _month(new.break_even_month)
    lines.append(f"Break-even vs all-cloud: {be_old} -> {be_new}." if be_old != be_new
                 else f"Break-even vs all-cloud unchanged ({be_new}).")
    inputs = []
    for workload, rows in d.demand.groupby("workload", sort=False):
        pcts = sorted({f"{p:+.1f} %" for p in rows["change_pct"] if not _missing(p)},
                      key=lambda t: float(t.split()[0]))
        span = "" if not pcts else f" ({pcts[0]})" if len(pcts) == 1 else f" ({pcts[0]} to {pcts[-1]})"
        inputs.append(f"demand of {workload} in {len(rows)} quarter(s){span}")
    for r in d.prices.itertuples():
        if _missing(r.old_usd) or _missing(r.new_usd):
            inputs.append(f"price of {r.option}: {'added' if _missing(r.old_usd) else 'removed'}")
        elif r.old_usd == r.new_usd:
            inputs.append(f"price of {r.option}: source changed")
        else:
            per = r.unit.removeprefix("USD ")
            inputs.append(f"price of {r.option}: {usd(r.old_usd, 2)} -> {usd(r.new_usd, 2)} {per}")
    inputs += [f"assumption {r.group}.{r.name}: {r.old} -> {r.new} {r.unit}"
               for r in d.assumptions.itertuples()]
    inputs += [f"{r.setting}: {r.old} -> {r.new}" for r in d.settings.itertuples()]
    if inputs:
        shown = inputs[:8] + ([f"{len(inputs) - 8} more (see the tables)"] if len(inputs) > 8 else [])
        lines.append("Inputs changed: " + "; ".join(shown) + ".")
    else:
        lines.append("No input changed (demand, prices, assumptions and plan settings are the same).")
    if d.purchases.empty:
        lines.append("Purchases: unchanged.")
    else:
        counts = d.purchases["change"].value_counts()
        lines.append("Purchases: " + ", ".join(f"{n} {c}" for c, n in counts.items()) + ".")
    moved = d.costs[(d.costs["category"] != "net") & (d.costs["change_usd"].abs() >= 0.5)]
    if not moved.empty:
        lines.append("Where the net cost moved (recommended plan, over the horizon): " + ", ".join(
            f"{r.category} {_signed_usd(r.change_usd)}" for r in moved.itertuples()) + ".")
    if not d.reasons.empty:
        lines.append(f"The planner's reasons changed in {d.reasons['topic'].nunique()} topic(s): "
                     + ", ".join(dict.fromkeys(d.reasons["topic"])) + ".")
    return lines


def diff_cumulative_figure(d: PlanDiff) -> go.Figure:
    """Cumulative cost of the recommended plan and all-cloud, old revision dotted, new solid, break-evens
    marked."""
    fig = go.Figure()
    for label, r, dash in (("old", d.old, "dot"), ("new", d.new, "solid")):
        for alt in ("recommended", "all_cloud"):
            rows = [m for m in r.cumulative if m.alternative == alt]
            fig.add_trace(go.Scatter(x=[m.month for m in rows], y=[m.cumulative_usd for m in rows],
                                     name=f"{alt} ({label})",
                                     line={"color": ALTERNATIVE_COLOURS[alt], "dash": dash}))
        if r.break_even_month is not None:
            fig.add_vline(x=r.break_even_month, line_dash=dash, line_color=ALTERNATIVE_COLOURS["recommended"],
                          annotation_text=f"break-even ({label}): month {r.break_even_month}")
    fig.update_layout(xaxis_title="month", yaxis_title="cumulative cost (USD)", height=420, margin={"t": 30},
                      legend={"orientation": "h", "y": -0.2})
    return fig
