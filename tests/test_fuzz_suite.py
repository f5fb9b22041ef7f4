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
    *["typed-scalar"] * 3,
    "merge-key",
    "self-alias",
    "deep-nesting",
]
# YAML's typed scalars, which the loader resolves (and may fail on) before a parser sees a value:
# impossible dates and times, timestamps with bad offsets, binary, oversized integers, sets, ordered maps.
TYPED_SCALARS = [
    "2026-02-30", "2026-13-01", "0000-01-01", "2026-02-29", "2024-02-29", "2026-01-01 25:61:61",
    "2001-12-14t21:59:43.10-25:00", "2001-12-14 21:59:43.10 +05:30", "!!timestamp 2026-04-31",
    '!!binary "@@@"', '!!binary "aGVsbG8="', "!!int 1" + "0" * 5000, "!!float .inf", "!!float .nan",
    "!!set {a, b}", "!!omap [a: 1, b: 2]", "!!str 2026-02-30", "25:61:61", "0x1F", "0o17", "1_000",
]
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def _with_typed_scalar(text: str, cut: float) -> str:
    """Replace one plain ``key: value`` scalar (chosen by ``cut``) with a typed scalar (also by ``cut``)."""
    lines = text.splitlines()
    slots = [i for i, line in enumerate(lines) if ": " in line and not line.rstrip().endswith(":")]
    snippet = TYPED_SCALARS[int(cut * 7919) % len(TYPED_SCALARS)]
    if not slots:
        return f"_typed: {snippet}\n" + text
    i = slots[int(cut * 104729) % len(slots)]
    key = lines[i].split(": ", 1)[0]
    lines[i] = f"{key}: {snippet}"
    return "\n".join(lines) + "\n"


def _with_merge_key(doc: Any) -> str:
    """The same document with its first top-level key brought in through a YAML merge key (<<)."""
    if not isinstance(doc, dict) or not doc:
        return "<<: [{_a: 1}, {_b: 2}]\n"
    first, *rest = doc
    merged = yaml.safe_dump({first: doc[first]}, default_flow_style=True, allow_unicode=True).strip()
    body = yaml.safe_dump({k: doc[k] for k in rest}, allow_unicode=True, sort_keys=False) if rest else ""
    return f"<<: {merged}\n{body}"


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
    elif mutation == "typed-scalar":
        text = _with_typed_scalar(text, cut)
    elif mutation == "merge-key":
        text = _with_merge_key(doc)
    elif mutation == "self-alias":
        text = "_self: &self [1, *self]\n" + text
    elif mutation == "deep-nesting":
        text += "_deep: " + "[" * 600 + "]" * 600 + "\n"  # past the loader's recursion limit
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


@pytest.mark.parametrize("snippet", TYPED_SCALARS)
def test_typed_scalars_in_a_suite_are_accepted_or_one_line(snippet: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    FIGURES["fuzz.suite_yaml.typed_scalars"] += 1
    path = tmp_path / "suite.yaml"
    path.write_text(f"suite: t\ndescription: {snippet}\nbenchmarks:\n- {{name: a, kind: gemm}}\n")
    _load(path)
    if snippet in ("2026-02-30", "!!timestamp 2026-04-31"):  # impossible dates: the loader itself fails
        match = r"suite.yaml: line 2: '2026-0[24]-3[01]' is not a valid timestamp"
        with pytest.raises(UserError, match=match):
            load_suite(str(path))
        code, out, err = run_cli(["bench", "run", "--suite", str(path), "--store", str(tmp_path / "x.db")],
                                 capsys)
        assert_user_error(code, out, err)


def test_alias_bomb_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_bytes(_render({}, "alias-bomb", 1.0))
    with pytest.raises(UserError):
        load_suite(str(path))

