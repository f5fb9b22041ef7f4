"""Fuzzing suite YAML: `load_suite` (the parser behind `capplan bench run --suite FILE`) returns a
validated suite or raises one-line UserError for any file; `bench run` with a bad suite exits 2 with
one line and creates no store. Nothing is run: only parse-level failures are exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_import import NUMBERS, TEXT
from test_reliability_figures import FIGURES, assert_user_error, fuzz, run_cli

from capplan.errors import UserError
from capplan.harness.suite import load_suite

# Fixed kind names only: a "module:Class" kind is imported at load time, so random module names must not be
# used.
KINDS = ["gemm", "membw", "copy", "dispatch", "collective", "nosuch", "harness_fixture_kinds:OkKind",
         "no_such_module_xyz:Kind", "os:path", "1bad:X", "", "gemm:", ":X"]
VALUES = st.one_of(NUMBERS, TEXT, st.none(), st.booleans(), st.lists(NUMBERS | TEXT, max_size=3),
                   st.dictionaries(TEXT, NUMBERS | TEXT, max_size=2))
ENTRY_FIELDS = {
    "name": st.sampled_from(["a", "b-1", "gemm.x", "dup"]) | TEXT,
    "kind": st.sampled_from(KINDS),
    "device": st.sampled_from(["cpu", "cuda", "cuda:0", "cuda:-1", "tpu", ""]) | TEXT,
    "dtype": st.sampled_from(["fp32", "bf16", "fp16", "int8", "fp4", ""]),
    "backend": st.sampled_from(["eager", "compile", "onnxruntime", "jax"]),
    "params": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "shapes": st.lists(st.lists(NUMBERS, max_size=4), max_size=2),
                "ops": st.lists(TEXT | st.sampled_from(["triad", "add"]), max_size=2),
                "value": NUMBERS,
                "bogus": VALUES,
            },
        ),
        VALUES,
    ),
    "budget": st.one_of(
        st.dictionaries(
            st.sampled_from(["min_iters", "max_time_s", "warmup_max_s", "target_rel_ci", "x"]),
            NUMBERS | TEXT,
            max_size=3,
        ),
        VALUES,
    ),
    "timeout_s": VALUES,
    "memory_limit_mb": VALUES,
    "seed": VALUES,
    "tags": VALUES,
    "requires": st.lists(st.sampled_from(["cuda", "nvml", "multi_gpu", "quantum"]), max_size=2) | VALUES,
    "unknown": VALUES,
}
ENTRY = st.fixed_dictionaries({"name": ENTRY_FIELDS["name"], "kind": st.sampled_from(KINDS)},
                              optional={k: v for k, v in ENTRY_FIELDS.items() if k not in ("name", "kind")})
DOC = st.fixed_dictionaries(
    {"benchmarks": st.lists(ENTRY | VALUES, max_size=3) | VALUES},
    optional={
        "suite": TEXT | NUMBERS,
        "description": TEXT,
        "defaults": st.dictionaries(
            st.sampled_from(list(ENTRY_FIELDS)), st.one_of(*ENTRY_FIELDS.values()), max_size=3
        )
        | VALUES,
        "extra": VALUES,
    },
)
TEXT_MUTATIONS = [
    "none",
    "none",
    "none",
    "truncate",
    "tab-indent",
    "python-tag",
    "alias-bomb",
    "duplicate-key",
    "utf-16",
    "latin-1",
    "binary",
]
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def _render(doc: dict[str, Any], mutation: str, cut: float) -> bytes:
    try:
        text = yaml.dump(doc, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False)
    except UnicodeEncodeError:  # lone surrogates: only the pure-Python dumper writes them
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    if mutation == "truncate":
        text = text[: int(len(text) * cut)]
    elif mutation == "tab-indent":
        text = text.replace("  ", "\t")
    elif mutation == "python-tag":
        text = "suite: !!python/object/apply:os.system ['echo pwned']\n" + text
    elif mutation == "alias-bomb":
        text = (
            BOMB.replace("a:", "suite:", 1)
            + "benchmarks:\n- {name: x, kind: gemm, params: {shapes: *i}, tags: *i}\n"
        )
    elif mutation == "duplicate-key":
        text += "benchmarks: []\n"
    if mutation in ("utf-16", "latin-1"):
        return text.encode(mutation, errors="replace")
    data = text.encode("utf-8", errors="surrogatepass")
    return bytes(b ^ 0x80 for b in data[:64]) + data[64:] if mutation == "binary" else data


def _load(path: Path) -> None:
    try:
        suite = load_suite(str(path))
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert suite.benchmarks and len({b.spec.name for b in suite.benchmarks}) == len(suite.benchmarks)


@fuzz(500)
@given(doc=DOC, mutation=st.sampled_from(TEXT_MUTATIONS), cut=st.floats(0, 1))
def test_load_suite_accepts_or_rejects_in_one_line(
    doc: dict[str, Any], mutation: str, cut: float, tmp_path: Path
) -> None:
    FIGURES["fuzz.suite_yaml.parser"] += 1
    path = tmp_path / "suite.yaml"
    path.write_bytes(_render(doc, mutation, cut))
    _load(path)


@fuzz(100)
@given(
    doc=DOC,
    mutation=st.sampled_from(TEXT_MUTATIONS),
    cut=st.floats(0, 1),
    suite_arg=st.sampled_from(["FILE", "FILE", "FILE", "quick.yml", "nosuch", "", "dir.yaml"]),
    extra=st.sampled_from(
        [[], ["--only", "zzz"], ["--device", "tpu"], ["--device", "cuda:x"], ["--only", ""]]
    ),
)
def test_bench_run_with_a_bad_suite_exits_2_and_creates_no_store(
    doc: dict[str, Any],
    mutation: str,
    cut: float,
    suite_arg: str,
    extra: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    FIGURES["fuzz.suite_yaml.cli"] += 1
    path = tmp_path / "suite.yaml"
    path.write_bytes(_render(doc, mutation, cut))
    (tmp_path / "dir.yaml").mkdir(exist_ok=True)
    try:
        load_suite(str(path), only=[a for a in extra[1:] if extra[:1] == ["--only"]] or None)
        if suite_arg == "FILE" and extra[:1] != ["--device"]:
            return  # a valid suite would run benchmarks: not in a fuzz loop
    except UserError:
        pass
    store = tmp_path / "never.db"
    arg = (
        str(path)
        if suite_arg == "FILE"
        else str(tmp_path / suite_arg)
        if suite_arg.endswith("yaml")
        else suite_arg
    )
    code, out, err = run_cli(["bench", "run", "--suite", arg, *extra, "--store", str(store)], capsys)
    assert_user_error(code, out, err)
    assert not store.exists(), "a rejected suite touched the store"


def test_alias_bomb_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_bytes(_render({}, "alias-bomb", 1.0))
    with pytest.raises(UserError):
        load_suite(str(path))

