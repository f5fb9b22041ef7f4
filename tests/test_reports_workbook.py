"""report.xlsx opened with openpyxl: sheet names, numbers (not text) with currency/percent/date formats,
formula totals whose ranges and cell values agree with result.json, frozen headers and fitted widths.

openpyxl does not evaluate formulas, so each total is checked twice: its formula text covers exactly the
data rows, and the cells it covers add up to the figure in result.json.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string, get_column_letter

from capplan.reports.workbook import header_label

SHEETS = ["Summary", "Purchases", "Costs by quarter", "Placement", "Sizing", "Assumptions", "Reasons",
          "Capacity gap", "Alternatives", "Sensitivity", "Scenarios", "Unit costs", "Cumulative cost",
          "Demand", "Prices", "Residency rules", "Residency checks", "Verified sizing", "Verified LLM sizing"]


@pytest.fixture(scope="module")
def book(mixed_enterprise_reports: Path):
    return load_workbook(mixed_enterprise_reports / "report.xlsx")  # formulas kept as text


@pytest.fixture(scope="module")
def result(mixed_enterprise_reports: Path) -> dict:
    return json.loads((mixed_enterprise_reports / "result.json").read_text())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _column(ws, header: str) -> int:
    return [c.value for c in ws[1]].index(header) + 1


def _sum_range(ws, formula: str) -> tuple[str, list[object]]:
    """The range of =SUM(A2:A9) (or of SUMIFS' first argument) and the values of the cells in it."""
    m = re.fullmatch(r"=SUM(?:IFS)?\(([A-Z]+)(\d+):([A-Z]+)(\d+)[,)].*", formula)
    assert m, formula
    col, first, col2, last = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
    assert col == col2
    return f"{col}{first}:{col}{last}", [ws.cell(r, column_index_from_string(col)).value
                                         for r in range(first, last + 1)]


def test_sheet_names_a_reader_knows(book) -> None:
    assert book.sheetnames == SHEETS
    assert all(book[name].freeze_panes == "A2" for name in SHEETS)  # header row stays in view


def test_upfront_total_is_a_formula_over_exactly_the_purchases(book, result) -> None:
    ws = book["Purchases"]
    purchases = result["purchases"]
    n = len(purchases)
    assert n >= 2  # a SUM over one row would prove little
    col = _column(ws, "Upfront (USD)")
    letter = get_column_letter(col)
    total = ws.cell(n + 2, col).value
    assert ws.cell(n + 2, 1).value == "Total"
    assert total == f"=SUM({letter}2:{letter}{n + 1})"
    span, cells = _sum_range(ws, total)
    assert all(_is_number(v) for v in cells)
    assert cells == [p["upfront_usd"] for p in purchases]  # the data rows, in order, nothing else
    assert sum(cells) == pytest.approx(sum(p["upfront_usd"] for p in purchases), abs=0.005)
    # Hand check of the on-prem row: 8 GPUs x $25,000 (plan file) = $200,000; host 35 % of that = $70,000;
    # networking 10 % + storage 5 % on top: 270,000 x 1.15 = $310,500.
    h100 = next(p for p in purchases if p["what"] == "on-prem NVIDIA H100 SXM (8-GPU server)")
    assert h100["upfront_usd"] == pytest.approx(8 * 25_000 * 1.35 * 1.15) == 310_500
    assert "$" in ws.cell(2, col).number_format and "$" in ws.cell(n + 2, col).number_format
    for header in ("Units", "GPUs", "Cost in horizon (USD)"):
        c = _column(ws, header)
        letter = get_column_letter(c)
        assert ws.cell(n + 2, c).value == f"=SUM({letter}2:{letter}{n + 1})"
    order_by = _column(ws, "Order by")
    assert all(isinstance(ws.cell(r, order_by).value, dt.datetime) for r in range(2, n + 2))
    assert [ws.cell(r, order_by).value.date().isoformat() for r in range(2, n + 2)] == [
        p["order_by"] for p in purchases]
    assert ws.cell(2, order_by).number_format == "yyyy-mm-dd"


def test_summary_links_to_the_purchases_and_compares_alternatives(book, result) -> None:
    ws = book["Summary"]
    rows = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    value = {label: ws.cell(r, 2).value for label, r in rows.items()}
    # the workbook stores 16 significant digits (as in the other sheets' checks: rel 1e-14)
    for label, key in (("Recommended plan, net cost", "recommended_net_usd"),
                       ("All-cloud, net cost", "all_cloud_net_usd"),
                       ("All-on-prem, net cost", "all_onprem_net_usd"),
                       ("NPV of savings vs all-cloud", "npv_savings_vs_all_cloud_usd"),
                       ("Cloud share of demand", "cloud_share"),
                       ("Emissions, recommended plan", "carbon_tonnes"),
                       ("Solver gap", "solver_gap")):
        assert value[label] == pytest.approx(result[key], rel=1e-14), label
    assert value["Break-even vs all-cloud"] == result["break_even_month"]
    assert result["solver_gap"] <= 0.01  # the plan's mip_rel_gap (1 %) was reached
    assert ws.cell(rows["Cloud share of demand"], 2).number_format.endswith("%")
    assert ws.cell(rows["Solver gap"], 2).number_format.endswith("%")
    assert "$" in ws.cell(rows["Recommended plan, net cost"], 2).number_format
    saving = value["Saving vs all-cloud"]
    assert saving == f"=B{rows['All-cloud, net cost']}-B{rows['Recommended plan, net cost']}"
    upfront = value["Upfront (capex) of all purchases"]
    n = len(result["purchases"])
    letter = get_column_letter(_column(book["Purchases"], "Upfront (USD)"))
    assert upfront == f"=SUM('Purchases'!{letter}2:{letter}{n + 1})"


def test_costs_by_quarter_subtotals_match_the_alternatives(book, result) -> None:
    ws = book["Costs by quarter"]
    rows = result["costs_by_quarter"]
    total_col = _column(ws, "Total (USD)")
    label_row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "Total by alternative")
    assert label_row == len(rows) + 3  # data, one blank row, then the block
    for r in range(label_row + 1, label_row + 4):
        alternative = ws.cell(r, 1).value
        formula = ws.cell(r, total_col).value
        letter = get_column_letter(total_col)
        assert formula == f'=SUMIFS({letter}2:{letter}{len(rows) + 1},A2:A{len(rows) + 1},"{alternative}")'
        _, cells = _sum_range(ws, formula)
        keys = [ws.cell(k, 1).value for k in range(2, len(rows) + 2)]
        covered = sum(v for v, k in zip(cells, keys, strict=True) if k == alternative)
        expected = next(a["total_usd"] for a in result["alternatives"] if a["alternative"] == alternative)
        # quarterly figures are rounded to cents: at most half a cent each off the alternative's total
        assert covered == pytest.approx(expected, abs=0.005 * len(rows))


def test_numbers_are_numbers_with_formats(book, result) -> None:
    for sheet, table in (("Placement", "placement"), ("Sizing", "sizing"), ("Capacity gap", "timeline"),
                         ("Alternatives", "alternatives"), ("Demand", "demand"), ("Prices", "prices")):
        ws = book[sheet]
        headers = [c.value for c in ws[1]]
        for key in result[table][0]:
            values = [r[key] for r in result[table]]
            if not all(_is_number(v) for v in values):
                continue
            col = headers.index(header_label(key)) + 1
            cells = [ws.cell(r, col) for r in range(2, len(values) + 2)]
            # the xlsx text keeps 15 significant digits, as Excel does
            assert [c.value for c in cells] == pytest.approx(values, rel=1e-14), (sheet, key)
            if key.endswith("_usd"):
                assert all("$" in c.number_format for c in cells), (sheet, key)
            if key in ("share", "cloud_share"):
                assert all(c.number_format.endswith("%") for c in cells), (sheet, key)
    placement = book["Placement"]
    n = len(result["placement"])
    for header in ("Direct cost (USD)", "Capacity cost (USD)"):
        c = _column(placement, header)
        letter = get_column_letter(c)
        assert placement.cell(n + 2, c).value == f"=SUM({letter}2:{letter}{n + 1})"


def test_assumptions_and_sizing_carry_their_sources(book, result) -> None:
    ws = book["Assumptions"]
    headers = [c.value for c in ws[1]]
    assert headers == ["Group", "Name", "Value", "Unit", "Description", "Source"]
    for r, row in enumerate(result["assumptions"], start=2):
        cell = ws.cell(r, 3)
        assert cell.value == row["value"]  # Excel keeps 5.0 as 5: compare values, and kinds below
        assert isinstance(cell.value, bool) == isinstance(row["value"], bool)
        assert _is_number(cell.value) == _is_number(row["value"])
        assert ws.cell(r, 6).value == row["source"] and row["source"]
        if row["unit"] == "fraction" and not isinstance(row["value"], bool):
            assert cell.number_format.endswith("%")
        if row["unit"].startswith("USD"):
            assert "$" in cell.number_format
    sizing = book["Sizing"]
    src = _column(sizing, "Source")
    assert all(sizing.cell(r, src).value for r in range(2, len(result["sizing"]) + 2))


def test_column_widths_fit_and_long_text_wraps(book, result) -> None:
    ws = book["Purchases"]
    what = get_column_letter(_column(ws, "What"))
    longest = max(len(p["what"]) for p in result["purchases"])
    assert longest < ws.column_dimensions[what].width <= 60
    reasons = book["Reasons"]
    assert reasons.column_dimensions["B"].width == 60  # capped: reasons are paragraphs
    assert reasons.cell(2, 2).alignment.wrap_text
