"""report.xlsx: the plan as a workbook a finance team can drop into its budget model (openpyxl).

One sheet per result table (``PlanResult.tables()``, so new columns flow through), plus a Summary. Cells
hold numbers and dates, not text, with currency, percent and date formats chosen from the column name;
totals are formulas (SUM, SUMIFS) over the cells above them; header rows are frozen and filtered; column
widths fit their contents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.worksheet import Worksheet

from capplan.planner.result import TABLES, PlanResult, table_columns

# Sheet name of each table, in workbook order after Summary; a table not named here gets a name from its key.
SHEETS: dict[str, str] = {
    "purchases": "Purchases",
    "costs_by_quarter": "Costs by quarter",
    "placement": "Placement",
    "sizing": "Sizing",
    "assumptions": "Assumptions",
    "reasons": "Reasons",
    "timeline": "Capacity gap",
    "alternatives": "Alternatives",
    "tornado": "Sensitivity",
    "scenarios": "Scenarios",
    "unit_costs": "Unit costs",
    "cumulative": "Cumulative cost",
    "demand": "Demand",
    "prices": "Prices",
    "constraints": "Residency rules",
    "residency": "Residency checks",
    "verification": "Verified sizing",
    "llm_verification": "Verified LLM sizing",
}
SUMMARY = "Summary"
# Columns summed in a Total row besides every money column; tables not named here get no Total row.
TOTALS: dict[str, tuple[str, ...]] = {"purchases": ("units", "gpus"), "placement": ()}
SUBTOTAL_BY = {"costs_by_quarter": "alternative"}  # a SUMIFS block per value of this column
MAX_WIDTH = 60  # characters; longer text wraps

_UNIT_TOKENS = {"usd", "gpus", "pct", "ms", "s", "kwh", "kg", "co2e", "w", "gib", "gb", "quarters", "weeks"}
_WORDS = {"usd": "USD", "gpus": "GPUs", "gpu": "GPU", "npv": "NPV", "co2e": "CO2e", "kwh": "kWh", "pct": "%",
          "gib": "GiB", "gb": "GB", "w": "W", "ms": "ms", "pue": "PUE", "mfu": "MFU"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PERCENT_COLUMNS = {"share", "discount_rate_per_year"}
_HEADER_FONT, _TOTAL_FONT = Font(bold=True), Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
_TOTAL_BORDER = Border(top=Side(style="thin"))
DATE_FORMAT, PERCENT_FORMAT, INT_FORMAT = "yyyy-mm-dd", "0.0%", "#,##0"


def header_label(column: str) -> str:
    """Reader's header for a column key: upfront_usd -> 'Upfront (USD)', gpus -> 'GPUs'."""
    tokens = column.split("_")
    units: list[str] = []
    while tokens and tokens[-1] in _UNIT_TOKENS:
        units.insert(0, tokens.pop())
    words = [_WORDS.get(t, t) for t in tokens] or [_WORDS.get(u, u) for u in units]
    label = " ".join(words)
    label = label[:1].upper() + label[1:]
    return f"{label} ({' '.join(_WORDS.get(u, u) for u in units)})" if tokens and units else label


def is_money(column: str) -> bool:
    return "usd" in column.split("_")


def is_percent(column: str) -> bool:
    return column in _PERCENT_COLUMNS or column.endswith(("_share", "_fraction"))


def money_format(values: Sequence[Any]) -> str:
    """Dollars, with cents (or more) only when the column holds small amounts."""
    small = [abs(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and v]
    smallest = min(small, default=1000.0)
    if smallest < 0.1:
        return "$#,##0.0000"
    return "$#,##0.00" if smallest < 100 else "$#,##0"


def _number_format(column: str, values: Sequence[Any]) -> str | None:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        present = [v for v in values if v is not None]
        return DATE_FORMAT if present and all(isinstance(v, dt.date) for v in present) else None
    if is_money(column):
        return money_format(numbers)
    if is_percent(column):
        return PERCENT_FORMAT
    if all(isinstance(v, int) for v in numbers):
        return INT_FORMAT
    return "0.000" if max(abs(v) for v in numbers) < 1 else "#,##0.00"


def _cell_value(value: Any) -> Any:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _shown_width(value: Any, number_format: str | None) -> int:
    if value is None:
        return 1
    if isinstance(value, dt.date):
        return 10
    if isinstance(value, bool):
        return 5
    if isinstance(value, int | float):
        decimals = number_format.split(".")[1].count("0") if number_format and "." in number_format else 0
        return len(f"{value:,.{decimals}f}") + (3 if number_format and "%" in number_format else 2)
    if isinstance(value, str) and value.startswith("="):
        return 14  # a formula's result: a total of the numbers above
    return max((len(line) for line in str(value).splitlines()), default=1)


def _style_sheet(ws: Worksheet, columns: list[str], first_data_row: int, last_data_row: int) -> None:
    """Header style, frozen header, filter, and widths that fit (long text wraps at MAX_WIDTH)."""
    for cell in ws[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    ws.freeze_panes = "A2"
    if last_data_row >= first_data_row:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last_data_row}"
    for i in range(1, len(columns) + 1):
        letter = get_column_letter(i)
        cells = [ws.cell(row=r, column=i) for r in range(1, ws.max_row + 1)]
        width = max(_shown_width(c.value, c.number_format if c.row > 1 else None) for c in cells)
        width = max(width, min(len(str(ws.cell(row=1, column=i).value)), 14))
        ws.column_dimensions[letter].width = min(width + 2, MAX_WIDTH)
        if width + 2 > MAX_WIDTH:
            for c in cells[1:]:
                c.alignment = Alignment(vertical="top", wrap_text=True)


def _write_table(ws: Worksheet, name: str, rows: list[dict[str, Any]]) -> None:
    columns = table_columns(name)
    ws.append([header_label(c) for c in columns])
    values = {c: [_cell_value(r.get(c)) for r in rows] for c in columns}
    formats = {c: _number_format(c, values[c]) for c in columns}
    if name == "assumptions":
        _write_assumptions(ws, columns, rows)
    else:
        for k in range(len(rows)):
            ws.append([values[c][k] for c in columns])
            for j, c in enumerate(columns, start=1):
                if formats[c] and ws.cell(row=k + 2, column=j).data_type == "n":
                    ws.cell(row=k + 2, column=j).number_format = formats[c]
                elif formats[c] == DATE_FORMAT and isinstance(values[c][k], dt.date):
                    ws.cell(row=k + 2, column=j).number_format = DATE_FORMAT
    last = len(rows) + 1
    if name in TOTALS and rows:
        summed = [c for c in columns if c in TOTALS[name] or (is_money(c) and formats[c])]
        _total_row(ws, columns, summed, formats, last)
    if name in SUBTOTAL_BY and rows:
        _subtotals(ws, columns, SUBTOTAL_BY[name], values, formats, last)
    _style_sheet(ws, columns, 2, last)


def _total_row(ws: Worksheet, columns: list[str], summed: list[str], formats: dict[str, str | None],
               last: int) -> None:
    row = last + 1
    ws.cell(row=row, column=1, value="Total").font = _TOTAL_FONT
    for j, c in enumerate(columns, start=1):
        cell = ws.cell(row=row, column=j)
        cell.border = _TOTAL_BORDER
        if c in summed:
            letter = get_column_letter(j)
            cell.value = f"=SUM({letter}2:{letter}{last})"
            cell.number_format = formats[c] or INT_FORMAT
            cell.font = _TOTAL_FONT


def _subtotals(ws: Worksheet, columns: list[str], by: str, values: dict[str, list[Any]],
               formats: dict[str, str | None], last: int) -> None:
    """Below the table: one row per value of ``by`` summing each money column with SUMIFS."""
    key = get_column_letter(columns.index(by) + 1)
    start = last + 2
    ws.cell(row=start, column=1, value=f"Total by {header_label(by).lower()}").font = _TOTAL_FONT
    for i, group in enumerate(dict.fromkeys(values[by]), start=start + 1):
        ws.cell(row=i, column=1, value=group).font = _TOTAL_FONT
        for j, c in enumerate(columns, start=1):
            if is_money(c) and formats[c]:
                letter = get_column_letter(j)
                cell = ws.cell(row=i, column=j, value=(
                    f'=SUMIFS({letter}2:{letter}{last},{key}2:{key}{last},{quote_value(group)})'))
                cell.number_format, cell.font = formats[c], _TOTAL_FONT


def quote_value(text: str) -> str:
    """A string literal for an Excel formula."""
    return '"' + str(text).replace('"', '""') + '"'


def _write_assumptions(ws: Worksheet, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Assumptions mix units per row: the value's format follows its unit (USD, fraction, count)."""
    value_col = columns.index("value") + 1
    for k, r in enumerate(rows, start=2):
        ws.append([r.get(c) for c in columns])
        value, unit = r.get("value"), str(r.get("unit", ""))
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        cell = ws.cell(row=k, column=value_col)
        if unit.startswith("USD"):
            cell.number_format = money_format([value])
        elif unit.startswith("fraction"):
            cell.number_format = "0.0##%"
        else:
            cell.number_format = "#,##0.###" if value != int(value) else INT_FORMAT


def _summary(ws: Worksheet, r: PlanResult, purchases_rows: int) -> None:
    """Headline figures: recommended vs all-cloud vs all-on-prem, break-even, NPV; formulas where derived."""
    money = "$#,##0"
    upfront = get_column_letter(table_columns("purchases").index("upfront_usd") + 1)
    purchases = quote_sheetname(SHEETS["purchases"])
    # (label, value, unit, note, number format); "{Label}" in a formula is the row of that label's value
    figures: list[tuple[str, Any, str | None, str | None, str | None]] = [
        ("Plan", r.plan_name, None, f"generated {r.generated_utc}", None),
        ("Start", dt.date.fromisoformat(r.start), None, "first day of the first plan quarter", DATE_FORMAT),
        ("Horizon", r.horizon_quarters, "quarters", f"{r.quarters[0]} to {r.quarters[-1]}", INT_FORMAT),
        ("Recommended plan, net cost", r.recommended_net_usd, "USD",
         "over the horizon, after the residual value of owned hardware", money),
        ("All-cloud, net cost", r.all_cloud_net_usd, "USD", "alternative: everything rented", money),
        ("All-on-prem, net cost", r.all_onprem_net_usd, "USD", "alternative: everything bought", money),
        ("Saving vs all-cloud", "={All-cloud, net cost}-{Recommended plan, net cost}", "USD",
         "all-cloud minus recommended (negative: the plan costs more)", money),
        ("Break-even vs all-cloud", r.break_even_month, "month",
         "first month from which the plan's cumulative cost stays at or below all-cloud"
         if r.break_even_month else "not within the horizon", INT_FORMAT),
        ("NPV of savings vs all-cloud", r.npv_savings_vs_all_cloud_usd, "USD",
         "monthly savings discounted at the discount rate", money),
        ("Discount rate", r.discount_rate_per_year, "per year", "assumption onprem.discount_rate_per_year",
         PERCENT_FORMAT),
        ("Discounted payback", r.discounted_payback_month, "month",
         None if r.discounted_payback_month else "not within the horizon", INT_FORMAT),
        ("Cloud share of demand", r.cloud_share, None, "recommended plan", PERCENT_FORMAT),
        ("Upfront (capex) of all purchases",
         f"=SUM({purchases}!{upfront}2:{upfront}{purchases_rows + 1})" if purchases_rows else 0, "USD",
         f"sum of the upfront column of the {SHEETS['purchases']} sheet", money),
        ("Emissions, recommended plan", r.carbon_tonnes, "tCO2e",
         "operational + embodied over the horizon", "#,##0.0"),
        ("Carbon price", r.carbon_price_usd_per_tonne, "USD per tCO2e",
         "internal price in the optimiser's objective (not cash)", money),
        ("Carbon cap", r.carbon_cap_tonnes_per_year, "tCO2e per year",
         None if r.carbon_cap_tonnes_per_year is not None else "none", "#,##0.0"),
        ("Cloud billing", None, None, "; ".join(r.billing) or None, None),
        ("Solver gap", r.solver_gap, None,
         f"{r.solver_status}; proven relative gap to the optimum, {r.solver_seconds:.2f} s",
         "0.00%"),
    ]
    rows = {label: i for i, (label, *_rest) in enumerate(figures, start=2)}
    ws.append(["Figure", "Value", "Unit", "Note"])
    for label, value, unit, note, number_format in figures:
        if isinstance(value, str) and value.startswith("="):
            value = re.sub(r"\{([^}]+)\}", lambda m: f"B{rows[m.group(1)]}", value)
        ws.append([label, value, unit, note])
        if number_format:
            ws.cell(row=rows[label], column=2).number_format = number_format
    _style_sheet(ws, ["figure", "value", "unit", "note"], 2, 1)  # a key-value sheet: no filter
    ws.column_dimensions["B"].width = max(ws.column_dimensions["B"].width, 16)


def sheet_name(table: str) -> str:
    """Workbook sheet of a result table."""
    return SHEETS.get(table, table.replace("_", " ").capitalize())[:31]


def write_workbook(result: PlanResult, path: Path) -> Path:
    """Write report.xlsx for ``result`` to ``path``."""
    tables = result.tables()
    wb = Workbook()
    summary = wb.active
    summary.title = SUMMARY
    _summary(summary, result, len(tables["purchases"]))
    order = [t for t in SHEETS if t in TABLES] + [t for t in TABLES if t not in SHEETS]
    for name in order:
        _write_table(wb.create_sheet(sheet_name(name)), name, tables[name])
    wb.properties.title = f"Capacity plan: {result.plan_name}"
    wb.properties.creator = "capplan"
    wb.save(path)
    return path
