"""Fuzzing result.json (`parse_result`, behind `capplan plan diff OLD NEW`): every mutated file is accepted
or refused with one UserError line; at the CLI the diff either runs or exits 2 with one line. Mutations
start from a real result of a small plan: odd values at every key path, deleted keys, truncation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_import import NUMBERS, ODD_VALUES
from test_planner_support import make_plan, tiny_catalog
from test_reliability_figures import FIGURES, assert_clean_exit, fuzz, run_cli

from capplan.errors import UserError
from capplan.planner import run_plan
from capplan.planner.result_file import parse_result

BASE = run_plan(make_plan(), tiny_catalog(), sensitivity=True).model_dump(mode="json")
BASE_TEXT = json.dumps(BASE)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of the document, lists sampled at their first and last item."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list) and node:
        items = [(0, node[0]), (len(node) - 1, node[-1])]
    else:
        items = []
    for key, child in items:
        out += _paths(child, (*prefix, key))
    return out


PATHS = _paths(BASE)


def _mutate(path_index: int, value: Any, op: str, cut: float) -> bytes:
    doc = json.loads(BASE_TEXT)  # a fresh copy, faster than deepcopy
    path = PATHS[path_index % len(PATHS)]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if op == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    text = json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")
    return text[: max(1, int(len(text) * cut))] if op == "truncate" else text


def test_the_fuzzer_starts_from_a_valid_result() -> None:
    assert parse_result(BASE_TEXT, "base.json").model_dump(mode="json") == BASE
    assert len(PATHS) > 200  # every table's first and last row, every field


@fuzz(500)
@given(path=st.integers(0, 100_000), value=st.sampled_from(ODD_VALUES) | NUMBERS | st.text(max_size=8),
       op=st.sampled_from(["set", "set", "set", "delete", "truncate"]), cut=st.floats(0, 1))
def test_parse_result_accepts_or_refuses_in_one_line(path: int, value: Any, op: str, cut: float) -> None:
    FIGURES["fuzz.plan_result.parser"] += 1
    data = _mutate(path, value, op, cut)
    try:
        parse_result(data, "mutated.json")
    except UserError as exc:
        assert str(exc).startswith("mutated.json: ") and "\n" not in str(exc)


@fuzz(60)
@given(path=st.integers(0, 100_000), value=st.sampled_from(ODD_VALUES) | NUMBERS,
       op=st.sampled_from(["set", "set", "delete", "truncate"]), cut=st.floats(0, 1))
def test_plan_diff_with_a_mutated_file_runs_or_exits_2(
    path: int, value: Any, op: str, cut: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FIGURES["fuzz.plan_result.cli"] += 1
    good, bad = tmp_path / "good.json", tmp_path / "mutated.json"
    good.write_text(BASE_TEXT)
    bad.write_bytes(_mutate(path, value, op, cut))
    for argv in (["plan", "diff", str(good), str(bad)], ["plan", "diff", str(bad), str(good), "--json"]):
        assert_clean_exit(*run_cli(argv, capsys))
