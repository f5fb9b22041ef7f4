"""Fuzzing the importers of external results: MLPerf LoadGen summary logs, MLPerf results CSV and
optimum-benchmark JSON reports. Each mutated file imports cleanly or gets one error line (exit 2 at
the CLI) with the store untouched.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_import import (
    MUTATIONS,
    NUMBERS,
    ODD_VALUES,
    _encode,
    _import_and_check,
    _parse,
    _set_path,
    store_db,
)
from test_reliability_figures import FIGURES, fuzz

from capplan.errors import UserError
from capplan.results.io import read_import_file

__all__ = ["store_db"]  # the fixture, shared with test_fuzz_import

SUMMARY_LINES = [
    "================================================", "MLPerf Results Summary",
    "================================================", "SUT name : TestSUT", "Scenario : Offline",
    "Mode     : PerformanceOnly", "Samples per second: 1234.5", "Result is : VALID",
    "Min latency (ns)                : 1000", "Max latency (ns)                : 900000",
    "Mean latency (ns)               : 5000", "50.00 percentile latency (ns)   : 4000",
    "90.00 percentile latency (ns)   : 8000", "99.00 percentile latency (ns)   : 9000",
    "samples_per_query : 1000", "target_qps : 1000", "min_duration (ms): 100", "qsl_rng_seed : 1",
]
# Integers beyond float range have their own test at the end, so the fuzzing spends its cases elsewhere.
FLOATABLE = NUMBERS.filter(lambda v: not (isinstance(v, int) and abs(v) > 1e300))
ODD_FLOATABLE = [v for v in ODD_VALUES if not (isinstance(v, int) and abs(v) > 1e300)]
SUMMARY_VALUES = st.sampled_from(
    [
        "",
        "-1",
        "NaN",
        "inf",
        "1e999",
        "9" * 5000,
        "0",
        "Server",
        "SingleStream",
        "MultiStream",
        "Bogus",
        "INVALID",
        "12 ms",
        "µs",
        "\x00",
    ]
) | FLOATABLE.map(str)
CSV_HEADER = (
    "Organization,System Name,Accelerator,# of Accelerators,Model,Scenario,Result,Units,Division,Version"
)
CSV_ROW = [
    "Org",
    "Sys-x1",
    "H100-PCIe-80GB",
    "1",
    "bert-99",
    "Offline",
    "5711",
    "Samples/s",
    "closed",
    "v3.1",
]
OPTIMUM = {
    "config": {
        "name": "bert",
        "backend": {"name": "pytorch", "model": "bert-base", "device": "cpu", "dtype": None},
        "scenario": {"name": "inference", "input_shapes": {"batch_size": 8, "sequence_length": 128}},
        "environment": {"cpu": "Test CPU", "cpu_count": 2, "gpu": [], "gpu_count": 0},
    },
    "report": {
        "forward": {
            "latency": {
                "unit": "s",
                "values": [0.1, 0.2],
                "count": 2,
                "mean": 0.15,
                "p50": 0.15,
                "p90": 0.2,
                "p99": 0.2,
                "stdev": 0.05,
            },
            "throughput": {"unit": "samples/s", "value": 53.3},
            "memory": None,
            "energy": None,
        }
    },
}
OPTIMUM_PATHS = [
    ("config",),
    ("config", "name"),
    ("config", "backend"),
    ("config", "backend", "device"),
    ("config", "backend", "dtype"),
    ("config", "scenario", "input_shapes", "batch_size"),
    ("config", "environment", "gpu"),
    ("config", "environment", "gpu_count"),
    ("report",),
    ("report", "forward"),
    ("report", "forward", "latency"),
    ("report", "forward", "latency", "unit"),
    ("report", "forward", "latency", "values"),
    ("report", "forward", "latency", "values", 0),
    ("report", "forward", "latency", "p50"),
    ("report", "forward", "throughput", "unit"),
    ("report", "forward", "throughput", "value"),
    ("report", "new"),
    ("report", "forward", "memory"),
    ("report", "forward", "energy"),
]


def _summary(line: int, value: str, op: str) -> str:
    lines = list(SUMMARY_LINES)
    i = line % len(lines)
    key, sep, _ = lines[i].partition(":")
    if op == "value" and sep:
        lines[i] = f"{key}: {value}"
    elif op == "drop":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i].replace("1", "2"))
    else:
        lines[i] = value
    return "\n".join(lines) + "\n"


@fuzz(1000)
@given(
    line=st.integers(0, 100),
    value=SUMMARY_VALUES,
    op=st.sampled_from(["value", "value", "drop", "duplicate", "line"]),
    enc=st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]),
    cut=st.floats(0.5, 1),
    name=st.sampled_from(["mlperf_log_summary.txt", "summary.log", "x"]),
)
def test_parser_of_mutated_mlperf_summary(line: int, value: str, op: str, enc: str, cut: float, name: str,
                                          tmp_path: Path) -> None:
    FIGURES["fuzz.import_mlperf_log.parser"] += 1
    text = _summary(line, value, op)
    path = (
        tmp_path
        / "closed"
        / "Org"
        / "results"
        / "Sys-x1"
        / "resnet50"
        / "Offline"
        / "performance"
        / "run_1"
        / name
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(enc, errors="replace")
    path.write_bytes(data[: max(300, int(len(data) * cut))])
    _parse(path)


@fuzz(1200)
@given(
    col=st.integers(0, 9),
    value=SUMMARY_VALUES | st.sampled_from(["", "a,b", '"', "H100", "0", "-3", "x" * 500]),
    op=st.sampled_from(["cell", "cell", "drop-column", "empty-rows", "extra-cell"]),
)
def test_parser_of_mutated_mlperf_csv(col: int, value: str, op: str, tmp_path: Path) -> None:
    FIGURES["fuzz.import_mlperf_csv.parser"] += 1
    header, row = CSV_HEADER.split(","), list(CSV_ROW)
    if op == "cell":
        row[col] = value
    elif op == "drop-column":
        del header[col], row[col]
    elif op == "extra-cell":
        row.append(value)
    rows = [] if op == "empty-rows" else [row, CSV_ROW]
    text = "\n".join(",".join(f'"{c}"' if "," in c else c for c in r) for r in [header, *rows]) + "\n"
    path = tmp_path / "results.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _parse(path)


@fuzz(1800)
@given(
    path=st.sampled_from(OPTIMUM_PATHS),
    value=st.sampled_from(ODD_FLOATABLE) | FLOATABLE | st.text(max_size=8),
    mutation=st.sampled_from(MUTATIONS),
    cut=st.floats(0, 1),
    depth=st.sampled_from([1, 999, 100_000]),
)
def test_parser_of_mutated_optimum_report(path: tuple, value: Any, mutation: str, cut: float, depth: int,
                                          tmp_path: Path) -> None:
    FIGURES["fuzz.import_optimum.parser"] += 1
    doc = copy.deepcopy(OPTIMUM)
    _set_path(doc, path, value)
    file = tmp_path / "benchmark.json"
    file.write_bytes(_encode(doc, mutation if mutation != "deep" else "none", cut, depth))
    _parse(file)


@fuzz(100)
@given(fmt=st.sampled_from(["log", "csv", "optimum"]), index=st.integers(0, 100), value=SUMMARY_VALUES)
def test_cli_import_of_mutated_external_files(
    fmt: str, index: int, value: str, store_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FIGURES["fuzz.import_external.cli"] += 1
    if fmt == "log":
        file = tmp_path / "mlperf_log_summary.txt"
        file.write_text(_summary(index, value, "value"), encoding="utf-8", errors="surrogatepass")
    elif fmt == "csv":
        row = list(CSV_ROW)
        row[index % len(row)] = value.replace(",", ";")
        file = tmp_path / "results.csv"
        file.write_text(f"{CSV_HEADER}\n{','.join(row)}\n", encoding="utf-8", errors="surrogatepass")
    else:
        doc = copy.deepcopy(OPTIMUM)
        _set_path(doc, OPTIMUM_PATHS[index % len(OPTIMUM_PATHS)], value)
        file = tmp_path / "benchmark.json"
        file.write_text(json.dumps(doc), encoding="utf-8", errors="surrogatepass")
    _import_and_check(file, store_db, capsys)


@pytest.mark.parametrize("fmt", ["mlperf-log", "optimum"])
def test_external_file_with_an_over_float_integer_is_one_line(fmt: str, tmp_path: Path) -> None:
    if fmt == "mlperf-log":
        path = tmp_path / "mlperf_log_summary.txt"
        path.write_text(_summary(9, str(10**400), "value"))
    else:
        doc = copy.deepcopy(OPTIMUM)
        _set_path(doc, ("report", "forward", "throughput", "value"), 10**400)
        path = tmp_path / "benchmark.json"
        path.write_text(json.dumps(doc))
    _parse(path)


def test_mlperf_summary_with_negative_results_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mlperf_log_summary.txt"
    path.write_text(_summary(6, "-5", "value"))
    with pytest.raises(UserError, match="negative|>= 0|must be"):
        read_import_file(path)
