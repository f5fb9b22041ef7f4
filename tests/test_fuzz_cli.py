"""Fuzzing command-line arguments of the store commands: random subcommands, options, --filter
values, --limit numbers and --store URLs. Every invocation ends in exit 0 or one error line with
exit 2; the store is never changed; a store password never reaches the output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_reliability_figures import FIGURES, assert_clean_exit, fuzz, run_cli, store_fingerprint

from capplan.results.schema import Metric, RunRecord, Status
from capplan.results.store import Store

SECRET = "s3cr3t-Pa55"
ARG_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00/"), max_size=12)
STORE_URLS = st.one_of(
    st.sampled_from([
        "STORE", "sqlite://", "sqlite:///fresh.db", "://", "mysql://u@127.0.0.1:1/x", "http://example/x", "sqlite:////",
        f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db", f"postgresql://u:{SECRET}@127.0.0.1:1/db",
        f"postgresql+psycopg://u:{SECRET}@127.0.0.1:notaport/db", f"postgresql://u:{SECRET}@[::1/db", "postgresql://",
        "sqlite:///file:ro.db?mode=ro&uri=true", "~nouser/x.db", "dir", "notsqlite.txt", ".",
    ]),
    ARG_TEXT.map(lambda t: t or "empty"),
)
FILTERS = st.one_of(
    st.tuples(
        st.sampled_from(["benchmark", "suite", "kind", "status", "host", "source", "bogus", ""]),
        st.sampled_from(["=", "", "=="]),
        st.sampled_from(["ok", "failed", "local", "gemm", "b1", ""]) | ARG_TEXT,
    ).map("".join),
    ARG_TEXT,
)
OPTIONS = st.one_of(
    st.tuples(st.just("--filter"), FILTERS), st.tuples(st.just("-f"), FILTERS),
    st.tuples(st.just("--limit"), st.integers(-5, 10**20).map(str) | ARG_TEXT),
    st.tuples(st.just("--format"), st.sampled_from(["json", "csv", "parquet", "xml", ""]) | ARG_TEXT),
    st.tuples(st.just("--store"), STORE_URLS), st.just(("--json",)), st.just(("--help",)),
    st.tuples(st.sampled_from(["--bogus", "-x", "--", "-", "--limit"])), st.tuples(ARG_TEXT),
    st.tuples(st.sampled_from(["--a", "--b"]), FILTERS),
)
COMMANDS = st.sampled_from(
    [
        ["bench", "list"],
        ["bench", "show"],
        ["bench", "export", "-o", "out.file"],
        ["bench", "export"],
        ["bench", "import"],
        ["bench", "compare"],
        ["bench"],
        ["bench", "nosuch"],
        [],
        ["catalog", "list"],
        ["catalog"],
        ["--version"],
    ]
)
RUN_IDS = st.sampled_from(["RUN0", "RUN1", "r", "", "%", "_", "' OR 1=1 --", "a" * 300]) | ARG_TEXT


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch cwd with a filled store, a directory and a non-SQLite file (relative --store paths land
    here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAPPLAN_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the default store must not be the user's
    (tmp_path / "dir").mkdir()
    (tmp_path / "notsqlite.txt").write_text("hello")
    records = [
        RunRecord(
            run_id=f"RUN{i}",
            benchmark=f"b{i}",
            kind="gemm",
            suite="quick",
            status=Status.ok,
            metrics=[Metric(name="tflops", value=1.0 + i, unit="TFLOP/s")],
            samples={"tflops": [1.0, 1.1]},
        )
        for i in range(3)
    ]
    Store(str(tmp_path / "store.db")).add_many(records)
    return tmp_path


@fuzz(800)
@given(command=COMMANDS, positional=st.lists(RUN_IDS, max_size=2), options=st.lists(OPTIONS, max_size=4))
def test_random_arguments_end_in_exit_0_or_one_error_line(command: list[str], positional: list[str],
                                                          options: list[tuple[str, ...]], workdir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    FIGURES["fuzz.cli_args"] += 1
    _run_and_check([*command, *positional], options, workdir, capsys)


def _run_and_check(argv: list[str], options: list[tuple[str, ...]], workdir: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    """Run ARGV + OPTIONS (STORE = the filled store); exit 0 or one error line, no password, store
    unchanged."""
    store = workdir / "store.db"
    for opt in options:
        argv += [str(store) if part == "STORE" else part for part in opt]
    if "--store" not in argv:
        argv += ["--store", str(store)]
    before = store_fingerprint(store)
    code, out, err = run_cli(argv, capsys)
    assert_clean_exit(code, out, err)
    assert SECRET not in out + err, "a store password was printed"
    assert store_fingerprint(store) == before  # no argument here names an importable file


HARDWARE = st.sampled_from(["H100", "A100-80GB", "L4", "NVIDIA L40S", "nosuch", "", "h100", "T4"]) | ARG_TEXT
NUMBER_ARGS = st.sampled_from(
    ["0", "-1", "1", "8", "65", "1e308", "nan", "inf", "-0", "0.5", "99999999999999999999", "x"]
)
MODEL_OPTIONS = st.one_of(
    st.tuples(st.just("--to"), HARDWARE),
    st.tuples(st.sampled_from(["--count", "--batch", "--gpus", "--months"]), NUMBER_ARGS),
    st.tuples(st.just("--utilisation"), NUMBER_ARGS),
    st.tuples(st.sampled_from(["--dtype"]), st.sampled_from(["fp32", "bf16", "fp8", "int4", ""]) | ARG_TEXT),
    st.tuples(st.just("--task"), st.sampled_from(["infer", "train", "generate", "serve"]) | ARG_TEXT),
    st.tuples(st.sampled_from(["-H", "--hardware"]), HARDWARE),
    st.tuples(
        st.just("--gpu-price"),
        st.tuples(HARDWARE, st.sampled_from(["=", "", "=="]), NUMBER_ARGS).map("".join),
    ),
    st.tuples(st.just("--catalog"), st.sampled_from(["dir", "notsqlite.txt", "missing.yaml", "store.db"])),
    st.tuples(st.just("--store"), STORE_URLS),
    st.just(("--json",)),
    st.tuples(ARG_TEXT),
)
WORKLOADS = st.sampled_from(["bert-base", "gpt2", "llama-7b", "resnet50", "nosuch", "", "RUN0"]) | ARG_TEXT


@fuzz(250)
@given(
    command=st.sampled_from(
        [["project"], ["cost", "compare", "-w"], ["cost", "compare", "-H", "H100", "-w"]]
    ),
    workload=WORKLOADS,
    options=st.lists(MODEL_OPTIONS, max_size=4),
)
def test_random_projection_and_cost_arguments(
    command: list[str],
    workload: str,
    options: list[tuple[str, ...]],
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    FIGURES["fuzz.cli_args_project_cost"] += 1
    _run_and_check([*command, workload], options, workdir, capsys)
