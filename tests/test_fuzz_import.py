"""Fuzzing `capplan bench import`: capplan JSON/CSV/Parquet files, mutated, truncated, re-encoded,
deeply nested, huge. Every input either imports cleanly (and reads back) or gets one error line and
exit 2 with the store untouched. Case counts go to test-artifacts/reliability.json.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_reliability_figures import (
    FIGURES,
    assert_clean_exit,
    assert_user_error,
    fuzz,
    run_cli,
    store_fingerprint,
)

from capplan.errors import UserError
from capplan.results.io import MAX_IMPORT_BYTES, export_records, read_import_file
from capplan.results.schema import Metric, RunRecord
from capplan.results.store import Store, dumps_records

# -- strategies ---------------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, -0.0, 1e308, -1e308, 5e-324, 10**400]),
)
TEXT = st.one_of(st.text(max_size=24), st.sampled_from(["", " ", "²", "-", "NaN", "1e999", "\x00", "ms"]))
UNITS = st.one_of(st.sampled_from(["ms", "GB/s", "TFLOP/s", "samples/s"]), TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSONISH = st.recursive(
    SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3), max_leaves=8
)
METRIC = st.fixed_dictionaries(
    {"name": TEXT, "value": NUMBERS, "unit": UNITS},
    optional={
        "stats": st.dictionaries(TEXT, NUMBERS, max_size=3),
        "noisy": SCALARS,
        "peak": NUMBERS | st.none(),
        "higher_is_better": SCALARS,
        "bogus": SCALARS,
    },
)
RECORD = st.fixed_dictionaries(
    {"benchmark": TEXT, "kind": TEXT},
    optional={
        "run_id": TEXT,
        "suite": TEXT | st.none(),
        "config": st.dictionaries(TEXT, JSONISH, max_size=3),
        "metrics": st.lists(METRIC, max_size=3),
        "samples": st.dictionaries(TEXT, st.lists(NUMBERS, max_size=4), max_size=2),
        "telemetry": st.dictionaries(TEXT, NUMBERS | st.none(), max_size=2),
        "status": st.sampled_from(["ok", "failed", "timeout", "oom", "skipped", "bogus", ""]),
        "started_utc": st.one_of(st.datetimes().map(str), TEXT, NUMBERS),
        "seed": SCALARS,
        "source": st.sampled_from(["local", "imported", "alien"]),
        "tags": st.dictionaries(TEXT, SCALARS, max_size=2),
        "schema_version": SCALARS,
        "unknown_field": JSONISH,
    },
)
DOC = st.fixed_dictionaries({
    "format": st.sampled_from(["capplan-results"]) | TEXT,
    "schema_version": st.sampled_from([1]) | SCALARS,
    "records": st.lists(RECORD, max_size=3) | JSONISH,
})
# How the serialized document is damaged before it is written.
MUTATIONS = ("none", "none", "truncate", "utf-16", "latin-1", "utf-8-sig", "flip", "deep", "duplicate-metric")


def _encode(doc: dict, mutation: str, cut: float, depth: int) -> bytes:
    if mutation == "deep":
        text = json.dumps({**doc, "records": "@"}, allow_nan=True).replace('"@"', "[" * depth + "]" * depth)
    elif mutation == "duplicate-metric":
        metric = {"name": "latency_ms", "value": 1.0, "unit": "ms"}
        doc = {**doc, "records": [{"benchmark": "b", "kind": "k", "metrics": [metric, metric]}]}
        text = json.dumps(doc)
    else:
        text = json.dumps(doc, allow_nan=True)
    if mutation in ("utf-16", "latin-1", "utf-8-sig"):
        return text.encode(mutation, errors="replace")
    data = text.encode("utf-8", errors="surrogatepass")
    if mutation == "truncate":
        return data[: int(len(data) * cut)]
    if mutation == "flip" and data:
        pos = int((len(data) - 1) * cut)
        return data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1 :]
    return data


def _stored_records_parse(db: Path) -> int:
    """Every stored record's JSON validates (a store that cannot be read back has lost data)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        docs = [d for (d,) in con.execute("SELECT record_json FROM runs")]
        orphans = con.execute(
            "SELECT count(*) FROM metrics WHERE run_id NOT IN (SELECT run_id FROM runs)"
        ).fetchone()
    finally:
        con.close()
    for doc in docs:
        RunRecord.model_validate_json(doc)
    assert orphans == (0,)
    return len(docs)


@pytest.fixture
def store_db(tmp_path: Path) -> Path:
    db = tmp_path / "results.db"
    Store(str(db)).add_many(
        [RunRecord(benchmark="seed", kind="gemm", metrics=[Metric(name="x_ms", value=1, unit="ms")])]
    )
    return db


def _import_and_check(path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> int:
    before = store_fingerprint(db)
    code, out, err = run_cli(["bench", "import", str(path), "--store", str(db)], capsys)
    assert_clean_exit(code, out, err)
    if code == 2:
        assert store_fingerprint(db) == before, "a rejected import changed the store"
    else:
        _stored_records_parse(db)
    return code


# -- through the CLI ----------------------------------------------------------------------------
@fuzz(200)
@given(doc=DOC, mutation=st.sampled_from(MUTATIONS), cut=st.floats(0, 1), depth=st.integers(1, 200_000),
       suffix=st.sampled_from([".json", ".JSON", ".txt", ""]))
def test_cli_import_of_fuzzed_capplan_json(doc: dict, mutation: str, cut: float, depth: int, suffix: str,
                                           store_db: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    FIGURES["fuzz.import_json.cli"] += 1
    path = tmp_path / f"in{suffix}"
    path.write_bytes(_encode(doc, mutation, cut, depth))
    _import_and_check(path, store_db, capsys)


MAGIC = [
    b"",
    b'{"format": "capplan-results"',
    b"run_id,benchmark,kind\n",
    b"PAR1",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
]


@fuzz(200)
@given(head=st.sampled_from(MAGIC), body=st.binary(max_size=2048),
       suffix=st.sampled_from([".json", ".csv", ".parquet", ".log", ""]))
def test_cli_import_of_random_bytes(head: bytes, body: bytes, suffix: str, store_db: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    FIGURES["fuzz.import_bytes.cli"] += 1
    path = tmp_path / f"in{suffix}"
    path.write_bytes(head + body)
    _import_and_check(path, store_db, capsys)


# -- at the parser (same contract, many more cases per second) ---------------------------------
def _parse(path: Path) -> list[RunRecord]:
    """read_import_file either returns records that survive the store's JSON round trip, or a one-line
    UserError."""
    try:
        records = read_import_file(path)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc)
        return []
    for r in records:
        assert RunRecord.model_validate_json(r.model_dump_json()).model_dump_json() == r.model_dump_json()
    return records


# Cheap structure-aware mutation of a valid export: put one odd value at one place (few draws per case).
ODD_VALUES = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -1,
    -0.0,
    0,
    1e308,
    10**400,
    2**63,
    -(2**63) - 1,
    "",
    " ",
    "²",
    "9" * 5000,
    "NaN",
    "ms",
    "µs",
    "furlongs/fortnight",
    "1e999",
    "\x00",
    "\ud800",
    None,
    True,
    [],
    {},
    [[[]]],
    {"a": {"b": {}}},
    "2026-13-45T25:61:00",
    "1970-01-01",
    "0001-01-01T00:00:00+14:00",
    "ok",
    "bogus",
    "x" * 100_000,
]
FIELD_PATHS = [
    ("format",),
    ("schema_version",),
    ("records",),
    ("records", 0),
    ("records", 0, "benchmark"),
    ("records", 0, "kind"),
    ("records", 0, "run_id"),
    ("records", 1, "run_id"),
    ("records", 0, "status"),
    ("records", 0, "source"),
    ("records", 0, "started_utc"),
    ("records", 0, "ended_utc"),
    ("records", 0, "seed"),
    ("records", 0, "config"),
    ("records", 0, "config", "m"),
    ("records", 0, "metrics"),
    ("records", 0, "metrics", 0),
    ("records", 0, "metrics", 0, "value"),
    ("records", 0, "metrics", 0, "unit"),
    ("records", 0, "metrics", 0, "name"),
    ("records", 0, "metrics", 0, "stats", "p50"),
    ("records", 0, "metrics", 0, "peak"),
    ("records", 0, "metrics", 0, "noisy"),
    ("records", 0, "samples", "latency_ms"),
    ("records", 0, "samples", "latency_ms", 0),
    ("records", 0, "telemetry", "w"),
    ("records", 0, "tags", "team"),
    ("records", 0, "inventory"),
    ("records", 0, "software", "torch"),
    ("records", 0, "extra"),
    ("records", 0, "metrics", 0, "extra"),
]


def _set_path(doc: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


@fuzz(4000)
@given(
    path=st.sampled_from(FIELD_PATHS),
    value=st.sampled_from(ODD_VALUES) | NUMBERS | st.text(max_size=8),
    mutation=st.sampled_from(MUTATIONS),
    cut=st.floats(0, 1),
    depth=st.sampled_from([1, 999, 1100, 100_000]),
)
def test_parser_of_mutated_capplan_json(
    path: tuple, value: Any, mutation: str, cut: float, depth: int, valid_doc: str, tmp_path: Path
) -> None:
    FIGURES["fuzz.import_json.parser"] += 1
    doc = json.loads(valid_doc)
    _set_path(doc, path, value)
    file = tmp_path / "in.json"
    file.write_bytes(_encode(doc, mutation, cut, depth))
    _parse(file)


def _valid_records() -> list[RunRecord]:
    return [
        RunRecord(benchmark=f"b{i}", kind="gemm", suite="quick", config={"m": 64 * i}, seed=i,
                  metrics=[Metric(name="tflops", value=0.1 * (i + 1), unit="TFLOP/s", stats={"p50": 0.1})],
                  samples={"latency_ms": [1.0, 2.0]}, telemetry={"w": 1.0}, tags={"team": "a"},
                  software={"torch": "2"})
        for i in range(2)
    ]


@pytest.fixture(scope="module")
def valid_doc() -> str:
    return dumps_records(_valid_records())


@pytest.fixture(scope="module")
def csv_rows(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    path = tmp_path_factory.mktemp("csv") / "export.csv"
    export_records(_valid_records(), "csv", path)
    return list(csv.reader(io.StringIO(path.read_text())))


CELLS = st.one_of(TEXT, NUMBERS.map(str), JSONISH.map(lambda v: json.dumps(v, allow_nan=True)),
                  st.sampled_from(["²", "9" * 5000, "-7", "1.5", "inf", "[]", "{}", '{"a":', "null"]))


@fuzz(250)
@given(
    row=st.integers(1, 2),
    col=st.integers(0, 30),
    cell=CELLS,
    shape=st.sampled_from(["cell", "cell", "drop-column", "extra-column", "truncate", "utf-16", "latin-1"]),
    cut=st.floats(0, 1),
)
def test_parser_of_fuzzed_capplan_csv(csv_rows: list[list[str]], row: int, col: int, cell: str, shape: str,
                                      cut: float, tmp_path: Path) -> None:
    FIGURES["fuzz.import_csv.parser"] += 1
    rows = [list(r) for r in csv_rows]
    col %= len(rows[0])
    if shape == "drop-column":
        rows = [r[:col] + r[col + 1 :] for r in rows]
    elif shape == "extra-column":
        rows = [r + [cell] for r in rows]
    else:
        rows[row][col] = cell
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    text = buf.getvalue()
    data = text.encode(shape if shape in ("utf-16", "latin-1") else "utf-8", errors="surrogatepass"
                       if shape not in ("utf-16", "latin-1") else "replace")
    if shape == "truncate":
        data = data[: int(len(data) * cut)]
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    _parse(path)


PARQUET_COLUMNS = st.one_of(
    st.lists(NUMBERS.filter(lambda v: not isinstance(v, int) or abs(v) < 2**63), min_size=2, max_size=2),
    st.lists(TEXT.filter(lambda s: "\x00" not in s), min_size=2, max_size=2),
    st.lists(st.booleans() | st.none(), min_size=2, max_size=2),
)


@fuzz(40)
@given(col=st.integers(0, 30), values=PARQUET_COLUMNS, cut=st.floats(0, 1), truncate=st.booleans())
def test_parser_of_fuzzed_capplan_parquet(
    col: int, values: list, cut: float, truncate: bool, tmp_path: Path
) -> None:
    import pandas as pd

    FIGURES["fuzz.import_parquet.parser"] += 1
    good = tmp_path / "good.parquet"
    export_records(_valid_records(), "parquet", good)
    frame = pd.read_parquet(good)
    name = frame.columns[col % len(frame.columns)]
    frame[name] = pd.Series(values, dtype=object).infer_objects()
    path = tmp_path / "in.parquet"
    try:
        frame.to_parquet(path, index=False)
    except Exception:  # pyarrow refuses some mixed columns; that is not the importer's concern
        return
    if truncate:
        path.write_bytes(path.read_bytes()[: max(4, int(path.stat().st_size * cut))])
    _parse(path)


# -- explicit edge cases ------------------------------------------------------------------------
def test_file_over_the_import_limit_is_refused_without_reading_it(store_db: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # sparse: costs no disk
        fh.write(b'{"format": "capplan-results"')
        fh.truncate(MAX_IMPORT_BYTES + 1)
    before = store_fingerprint(store_db)
    code, out, err = run_cli(["bench", "import", str(huge), "--store", str(store_db)], capsys)
    assert_user_error(code, out, err)
    assert "limit" in err and store_fingerprint(store_db) == before


def test_large_valid_export_imports_completely(store_db: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    records = [
        RunRecord(
            benchmark=f"b{i}",
            kind="gemm",
            samples={"latency_ms": [float(j) for j in range(2000)]},
            metrics=[Metric(name="latency_ms", value=i + 1, unit="ms")],
        )
        for i in range(300)
    ]
    path = tmp_path / "big.json"
    export_records(records, "json", path)
    assert path.stat().st_size > 5_000_000
    code, out, err = run_cli(["bench", "import", str(path), "--store", str(store_db)], capsys)
    assert code == 0, err
    assert store_fingerprint(store_db)[:2] == (301, 301)
    assert _stored_records_parse(store_db) == 301


@pytest.mark.parametrize("target", ["directory", "missing", "fifo-like-dev-null"])
def test_unreadable_paths(
    target: str, store_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = {
        "directory": tmp_path,
        "missing": tmp_path / "nope.json",
        "fifo-like-dev-null": Path("/dev/null"),
    }[target]
    code, out, err = run_cli(["bench", "import", str(path), "--store", str(store_db)], capsys)
    assert_user_error(code, out, err)


HEADER = '{"format": "capplan-results", "schema_version": 1, "records": '
CRASHERS = {  # inputs that once produced a traceback (found by the fuzzing above), now one error line
    "deep-nesting.json": HEADER + "[" * 100_000 + "]" * 100_000 + "}",
    "5000-digit-seed.json": HEADER + '[{"benchmark": "b", "kind": "k", "seed": ' + "9" * 5000 + "}]}",
    "schema-version-0.json": '{"format": "capplan-results", "schema_version": 0, "records": []}',
    "lone-surrogate.json": HEADER + '[{"benchmark": "b", "kind": "k", "config": {"x": "\\ud800"}}]}',
    "superscript-seed.csv": "run_id,benchmark,kind,seed\nr1,b,k,\u00b2\n",
}


@pytest.mark.parametrize("name", list(CRASHERS))
def test_former_crashers_get_one_line(name: str, store_db: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text(CRASHERS[name], encoding="utf-8")
    before = store_fingerprint(store_db)
    code, out, err = run_cli(["bench", "import", str(path), "--store", str(store_db)], capsys)
    assert_user_error(code, out, err)
    assert name in err and store_fingerprint(store_db) == before


def test_nan_and_inf_statistics_survive_the_store(store_db: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """NaN stats once poisoned the store: stored as null, every later read failed validation."""
    path = tmp_path / "nan.json"
    path.write_text(
        HEADER + '[{"run_id": "nan1", "benchmark": "b", "kind": "k", "samples": {"x_ms": [Infinity]}, '
        '"metrics": [{"name": "x_ms", "value": 1, "unit": "ms", "stats": {"cv": NaN}}]}]}'
    )
    assert run_cli(["bench", "import", str(path), "--store", str(store_db)], capsys)[0] == 0
    code, out, err = run_cli(["bench", "show", "nan1", "--json", "--store", str(store_db)], capsys)
    assert code == 0 and "NaN" in out and "Infinity" in out
    export = tmp_path / "out.csv"
    assert (
        run_cli(["bench", "export", "-o", str(export), "--format", "csv", "--store", str(store_db)], capsys)[
            0
        ]
        == 0
    )
    [again] = [r for r in read_import_file(export) if r.run_id == "nan1"]
    assert (
        again.samples["x_ms"] == [float("inf")]
        and again.metrics[0].stats["cv"] != again.metrics[0].stats["cv"]
    )


def test_store_path_of_an_unknown_users_home_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["bench", "list", "--store", "~no_such_user_xyz/results.db"], capsys)
    assert_user_error(code, out, err)
