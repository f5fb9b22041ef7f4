"""Fuzzing plan YAML (`load_plan`, behind `capplan plan FILE`) and catalog override files (`load_catalog`,
behind `--catalog FILE`): every mutated file is accepted or rejected with one UserError line; at the
CLI a rejected file exits 2 with one line. Mutations start from the shipped examples and catalog rows.
"""

from __future__ import annotations

import copy
import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_import import NUMBERS, ODD_VALUES, _set_path
from test_fuzz_suite import TYPED_SCALARS, _render
from test_reliability_figures import FIGURES, assert_user_error, fuzz, run_cli

from capplan.catalog import load_catalog
from capplan.errors import UserError
from capplan.planner.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PLAN_ODD = [v for v in ODD_VALUES if not isinstance(v, str) or len(v) < 1000] + [
    date(1, 1, 1),
    date(9999, 12, 31),
    "2026-02-30",
    -1e9,
    1e12,
    [{"name": "x"}],
    {"now": -5},
    "qps",
    "tokens/s",
]
TEXT_MUTATIONS = [
    "none",
    "none",
    "none",
    "truncate",
    "utf-16",
    "latin-1",
    "tab-indent",
    "python-tag",
    "typed-scalar",
    "typed-scalar",
    "merge-key",
    "self-alias",
    "deep-nesting",
]  # _render's


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a YAML document (mutation targets)."""
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        out += _paths(child, (*prefix, key))
    return out


EXAMPLE_DOCS = [yaml.safe_load(p.read_text()) for p in EXAMPLES]
EXAMPLE_PATHS = [_paths(d) for d in EXAMPLE_DOCS]


def _expect_user_error_or_value(fn: Any, *args: Any, **kwargs: Any) -> bool:
    """True when ``fn`` accepted the input; a rejection must be one non-empty UserError line."""
    try:
        fn(*args, **kwargs)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
        return False
    return True


# -- plan YAML ----------------------------------------------------------------------------------
@fuzz(300)
@given(
    example=st.integers(0, 100),
    target=st.integers(0, 10_000),
    value=st.sampled_from(PLAN_ODD) | NUMBERS | st.text(max_size=6),
    op=st.sampled_from(["set", "set", "set", "delete", "unknown-key"]),
    mutation=st.sampled_from([m for m in TEXT_MUTATIONS if m not in ("utf-16", "latin-1")]),
    cut=st.floats(0, 1),
)
def test_load_plan_accepts_or_rejects_in_one_line(
    example: int, target: int, value: Any, op: str, mutation: str, cut: float, tmp_path: Path
) -> None:
    FIGURES["fuzz.plan_yaml.parser"] += 1
    i = example % len(EXAMPLE_DOCS)
    doc = copy.deepcopy(EXAMPLE_DOCS[i])
    path = EXAMPLE_PATHS[i][target % len(EXAMPLE_PATHS[i])]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if op == "delete":
        del parent[path[-1]]
    elif op == "unknown-key" and isinstance(parent, dict):
        parent["bogus_field"] = value
    else:
        _set_path(doc, path, value)
    file = tmp_path / "plan.yaml"
    file.write_bytes(_render(doc, mutation, cut))
    _expect_user_error_or_value(load_plan, file)


@fuzz(60)
@given(example=st.integers(0, 100), target=st.integers(0, 10_000), value=st.sampled_from(PLAN_ODD))
def test_capplan_plan_with_a_bad_file_exits_2(example: int, target: int, value: Any, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    i = example % len(EXAMPLE_DOCS)
    doc = copy.deepcopy(EXAMPLE_DOCS[i])
    _set_path(doc, EXAMPLE_PATHS[i][target % len(EXAMPLE_PATHS[i])], value)
    file = tmp_path / "plan.yaml"
    file.write_bytes(_render(doc, "none", 1.0))
    if _expect_user_error_or_value(load_plan, file):
        return  # still a valid plan: solving it is the planner's tests' business, not a fuzz loop's
    FIGURES["fuzz.plan_yaml.cli"] += 1
    code, out, err = run_cli(["plan", str(file), "--out", str(tmp_path / "out")], capsys)
    assert_user_error(code, out, err)


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_non_utf8_plan_is_one_line(encoding: str, tmp_path: Path) -> None:
    file = tmp_path / "plan.yaml"
    file.write_bytes(_render({**EXAMPLE_DOCS[0], "name": "Café plan"}, encoding, 1.0))
    _expect_user_error_or_value(load_plan, file)


# -- catalog overrides --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped_rows() -> dict[str, list[dict[str, str]]]:
    data = ROOT / "capplan" / "catalog" / "data"
    return {
        t: list(csv.DictReader(io.StringIO((data / f"{t}.csv").read_text())))[:2]
        for t in ("accelerators", "instances")
    }


@fuzz(250)
@given(
    table=st.sampled_from(["accelerators", "instances"]),
    row=st.integers(0, 1),
    col=st.integers(0, 40),
    value=st.sampled_from(PLAN_ODD) | NUMBERS | st.text(max_size=6),
    fmt=st.sampled_from(["csv", "yaml", "yml"]),
    op=st.sampled_from(["set", "set", "drop-column", "unknown-column", "wrong-top", "empty"]),
    mutation=st.sampled_from(TEXT_MUTATIONS),
    cut=st.floats(0, 1),
)
def test_catalog_override_accepts_or_rejects_in_one_line(
    shipped_rows: dict[str, list[dict[str, str]]],
    table: str,
    row: int,
    col: int,
    value: Any,
    fmt: str,
    op: str,
    mutation: str,
    cut: float,
    tmp_path: Path,
) -> None:
    FIGURES["fuzz.catalog_override.parser"] += 1
    rows = [dict(r) for r in shipped_rows[table]]
    keys = list(rows[0])
    key = keys[col % len(keys)]
    if op == "set":
        rows[row][key] = value
    elif op == "drop-column":
        rows = [{k: v for k, v in r.items() if k != key} for r in rows]
    elif op == "unknown-column":
        rows[row]["bogus_column"] = value
    elif op == "empty":
        rows = []
    file = tmp_path / f"override.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=sorted({k for r in rows for k in r}) or ["name"])
        writer.writeheader()
        writer.writerows({k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows)
        text = buf.getvalue()
        file.write_bytes(
            text[: int(len(text) * cut)].encode()
            if mutation == "truncate"
            else text.encode(errors="surrogatepass")
        )
    else:
        doc: Any = {table: rows} if op != "wrong-top" else {"accelerators": rows, "instances": rows}
        file.write_bytes(_render(doc, mutation, cut))
    _expect_user_error_or_value(load_catalog, [file], user_dir=False)


@fuzz(25)
@given(value=st.sampled_from(PLAN_ODD) | st.text(max_size=6), col=st.integers(0, 40),
       table=st.sampled_from(["accelerators", "instances"]))
def test_catalog_list_with_a_bad_override_exits_2(
    shipped_rows: dict[str, list[dict[str, str]]],
    value: Any,
    col: int,
    table: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [dict(r) for r in shipped_rows[table]]
    rows[0][list(rows[0])[col % len(rows[0])]] = value
    file = tmp_path / "override.yaml"
    file.write_bytes(_render({table: rows}, "none", 1.0))
    ok = _expect_user_error_or_value(load_catalog, [file], user_dir=False)
    FIGURES["fuzz.catalog_override.cli"] += 1
    code, out, err = run_cli(["catalog", "list", table, "--json", "--catalog", str(file)], capsys)
    if ok:
        assert code == 0, err
    else:
        assert_user_error(code, out, err)


@fuzz(200)
@given(
    example=st.integers(0, 100),
    target=st.integers(0, 10_000),
    value=st.sampled_from(PLAN_ODD) | st.text(max_size=6),
    name=st.sampled_from(
        ["plan.yaml", "../../etc/passwd.yaml", "/abs/x.yml", ".yaml", "..yml", "a b\x00c.yaml", "é.yaml"]
    )
    | st.text(max_size=12).map(lambda t: t + ".yaml"),
    cut=st.floats(0, 1),
    mutation=st.sampled_from(["none", "none", "typed-scalar", "merge-key", "self-alias"]),
)
def test_dashboard_plan_upload_accepts_or_rejects_in_one_line(
    example: int, target: int, value: Any, name: str, cut: float, mutation: str, tmp_path: Path
) -> None:
    """The dashboard's upload path (capplan.views.plan.parse_plan) on uploaded text and any name the
    uploader's type filter lets through (*.yaml, *.yml)."""
    from capplan.views.plan import parse_plan

    FIGURES["fuzz.plan_upload.dashboard"] += 1
    i = example % len(EXAMPLE_DOCS)
    doc = copy.deepcopy(EXAMPLE_DOCS[i])
    _set_path(doc, EXAMPLE_PATHS[i][target % len(EXAMPLE_PATHS[i])], value)
    text = _render(doc, mutation, cut).decode("utf-8", errors="replace")
    _expect_user_error_or_value(parse_plan, text[: max(1, int(len(text) * cut))] if cut < 0.5 else text, name)


def test_dashboard_plan_upload_named_dotdot_is_one_line() -> None:
    from capplan.views.plan import parse_plan

    _expect_user_error_or_value(parse_plan, "name: x\n", "..")


# -- YAML's typed scalars, per parser (plan file, catalog override, dashboard upload) ----------------
@pytest.mark.parametrize("snippet", TYPED_SCALARS)
def test_typed_scalars_in_plans_and_catalog_overrides_are_accepted_or_one_line(
    snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from capplan.views.plan import parse_plan

    FIGURES["fuzz.typed_scalars.plan_catalog_upload"] += 1
    plan_text = EXAMPLES[0].read_text().replace("start: 2026-01-01", f"start: {snippet}", 1)
    assert plan_text != EXAMPLES[0].read_text()
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(plan_text)
    plan_ok = _expect_user_error_or_value(load_plan, plan_file)
    _expect_user_error_or_value(parse_plan, plan_text, "plan.yaml")
    catalog_file = tmp_path / "override.yaml"
    catalog_file.write_text(
        "accelerators:\n- {name: X1, vendor: V, memory_gib: 8, mem_bw_gbps: 100, source: test, "
        f"source_date: {snippet}}}\n"
    )
    catalog_ok = _expect_user_error_or_value(load_catalog, [catalog_file], user_dir=False)
    if snippet in ("2026-02-30", "!!timestamp 2026-04-31", "0000-01-01"):  # the loader itself fails
        assert not plan_ok and not catalog_ok
        with pytest.raises(UserError, match=r"plan.yaml: line \d+: '[0-9-]+' is not a valid timestamp"):
            load_plan(plan_file)
        code, out, err = run_cli(["plan", str(plan_file)], capsys)
        assert_user_error(code, out, err)
        code, out, err = run_cli(["catalog", "list", "accelerators", "--catalog", str(catalog_file)], capsys)
        assert_user_error(code, out, err)
