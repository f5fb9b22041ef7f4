"""Suite YAML loading: defaults, overrides, and one clear error (file, benchmark, key, allowed) per
mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from harness_cli_helper import cli

from capplan.errors import UserError
from capplan.harness.registry import KINDS
from capplan.harness.suite import BUILTIN_SUITES, load_suite

GEMM = {"name": "g", "kind": "gemm", "params": {"shapes": [[8, 8, 8]]}}


def suite_file(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


def load_error(tmp_path: Path, doc: object, **kwargs: object) -> str:
    with pytest.raises(UserError) as info:
        load_suite(str(suite_file(tmp_path, doc)), **kwargs)  # type: ignore[arg-type]
    return str(info.value)


@pytest.mark.parametrize("name", BUILTIN_SUITES)
def test_builtin_suites_load(name: str) -> None:
    suite = load_suite(name)
    assert suite.name == name and suite.benchmarks
    kinds = {b.spec.kind for b in suite.benchmarks}
    # quick/standard/full measure the device's micro properties; distributed.yaml holds the torchrun kinds
    assert (
        {"gemm", "membw", "dispatch", "collective"} <= kinds
        if name != "distributed"
        else kinds == {"collective", "ddp"}
    )


def test_defaults_merge_and_params_are_resolved(tmp_path: Path) -> None:
    doc = {
        "defaults": {"timeout_s": 7, "budget": {"max_time_s": 0.5}, "tags": {"team": "x"}},
        "benchmarks": [GEMM | {"budget": {"min_iters": 3}}, {"name": "m", "kind": "membw", "dtype": "fp64"}],
    }
    suite = load_suite(str(suite_file(tmp_path, doc)), device="cuda:1")
    g, m = suite.benchmarks
    assert g.spec.timeout_s == 7 and g.spec.budget.max_time_s == 0.5 and g.spec.budget.min_iters == 3
    assert g.spec.device == "cuda:1" and g.spec.tags == {"team": "x"} and suite.name == "suite"
    assert m.params["ops"] == ["triad", "copy", "scale", "add"]  # the kind's defaults are filled in
    assert [b.spec.name for b in load_suite(str(suite_file(tmp_path, doc)), only=["m"]).benchmarks] == ["m"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"benchmarks": [GEMM | {"colour": "red"}]},
            ["benchmark 'g'", "colour: unknown key; allowed: name, kind"],
        ),
        (
            {"benchmarks": [GEMM | {"budget": {"max_tim_s": 1}}]},
            ["budget.max_tim_s: unknown key; allowed: warmup_min_iters"],
        ),
        ({"benchmarks": [GEMM | {"device": "tpu"}]}, ["device:", "cpu or cuda[:N]"]),
        (
            {"benchmarks": [GEMM | {"kind": "gemmm"}]},
            ["kind: unknown kind 'gemmm'; allowed: ", ", ".join(sorted(KINDS)), "package.module:Class"],
        ),
        ({"benchmarks": [GEMM | {"params": {"shape": [1]}}]}, ["params.shape: unknown key; allowed: shapes"]),
        ({"benchmarks": [GEMM | {"params": {"shapes": [[1, 2]]}}]}, ["params.shapes.0"]),
        (
            {"benchmarks": [GEMM | {"dtype": "fp64"}]},
            ["dtype: 'fp64' is not supported by kind gemm; allowed: fp32, tf32"],
        ),
        ({"benchmarks": [GEMM | {"timeout_s": -1}]}, ["timeout_s: Input should be greater than 0"]),
        (
            {"benchmarks": [GEMM | {"requires": ["tpu"]}]},
            ["requires: unknown capability 'tpu'; allowed: cuda, nvml"],
        ),
        ({"benchmarks": [GEMM, GEMM]}, ["name: duplicate"]),
        (
            {
                "benchmarks": [
                    {"name": "c", "kind": "collective", "params": {"sizes_bytes": [1000], "world_size": 4}}
                ]
            },
            [
                "benchmark 'c': params: Value error, sizes_bytes: 1000 is not a positive multiple of 4 * "
                "world_size = 16"
            ],
        ),
        (
            {"benchmark": [GEMM]},
            ["unknown key 'benchmark'; allowed: suite, description, defaults, benchmarks"],
        ),
        ({"benchmarks": []}, ["benchmarks: a non-empty list"]),
        ("benchmarks: [\n  {name: x", ["not valid YAML at line"]),
    ],
)
def test_mistakes_name_file_benchmark_key_and_allowed_values(
    tmp_path: Path, doc: object, expected: list[str]
) -> None:
    message = load_error(tmp_path, doc)
    assert str(tmp_path / "suite.yaml") in message
    for part in expected:
        assert part in message
    assert "\n" not in message


def test_only_and_suite_names_are_checked(tmp_path: Path) -> None:
    assert "--only: no benchmark 'nope'" in load_error(tmp_path, {"benchmarks": [GEMM]}, only=["nope"])
    with pytest.raises(UserError, match="--suite: 'quik' is neither quick, standard, full"):
        load_suite("quik")


def test_cli_exits_2_with_one_line_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = suite_file(tmp_path, {"benchmarks": [GEMM | {"params": {"shapes": [[8, 8, 8]], "sizes": 3}}]})
    db = tmp_path / "runs.db"
    code, _, err = cli(capsys, "bench", "run", "--suite", str(bad), "--store", str(db))
    assert code == 2
    lines = err.strip().splitlines()
    assert (
        len(lines) == 1 and str(bad) in lines[0] and "params.sizes: unknown key; allowed: shapes" in lines[0]
    )
    assert not db.exists()
