"""Safe defaults, checked on the source tree and by running the CLI: no unsafe deserialisation, eval,
shell or string-built SQL; the dashboard binds 127.0.0.1, keeps XSRF protection, caps uploads and
never renders user text as HTML; `make test` runs ruff's security rules; a store password never
reaches stdout, stderr or the logs; SQL-looking filter values are data, not SQL.
"""

from __future__ import annotations

import ast
import inspect
import logging
import re
import tomllib
from pathlib import Path

import pytest
from test_reliability_figures import FIGURES, assert_user_error, run_cli

from capplan.cli.dashboard import dashboard, streamlit_argv
from capplan.results.schema import Metric, RunRecord
from capplan.results.store import Store

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("capplan", "dashboards", "benchmarks", "scripts")
SECRET = "Sup3r-s3cret-pw"
UNSAFE_IMPORTS = {"pickle", "cPickle", "dill", "marshal", "shelve", "jsonpickle"}
UNSAFE_YAML = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
UNSAFE_LOADERS = {"Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader", "CUnsafeLoader"}
SQL_CALLS = {"execute", "exec_driver_sql", "text", "executescript"}


def _sources() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS if (ROOT / d).exists() for p in (ROOT / d).rglob("*.py"))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _built_sql(node: ast.AST) -> bool:
    """An f-string, %-format or .format() SQL text, unless every interpolated value is int(...) or a
    constant."""
    if isinstance(node, ast.JoinedStr):
        values = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
        return not all(
            isinstance(v, ast.Constant) or (isinstance(v, ast.Call) and _dotted(v.func) == "int")
            for v in values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _findings(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    out = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {a.name.split(".")[0] for a in node.names} | (
                {node.module.split(".")[0]} if getattr(node, "module", None) else set()
            )
            out += [f"{where}: imports {n}" for n in names & UNSAFE_IMPORTS]
        elif (
            isinstance(node, ast.Attribute) and _dotted(node.value) == "yaml" and node.attr in UNSAFE_LOADERS
        ):
            out.append(f"{where}: yaml.{node.attr} (use yaml.safe_load)")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            tail = name.rsplit(".", 1)[-1]
            if name in ("eval", "exec", "compile", "__import__"):
                out.append(f"{where}: {name}()")
            elif name.startswith("yaml.") and tail in UNSAFE_YAML:
                out.append(f"{where}: {name}() (use yaml.safe_load)")
            elif name in ("os.system", "os.popen", "pd.read_pickle", "pandas.read_pickle"):
                out.append(f"{where}: {name}()")
            elif _is_true(_kw(node, "shell")):
                out.append(f"{where}: {name}(shell=True)")
            elif name == "torch.load" and not _is_true(_kw(node, "weights_only")):
                out.append(f"{where}: torch.load without weights_only=True")
            elif tail == "load" and _is_true(_kw(node, "allow_pickle")):
                out.append(f"{where}: {name}(allow_pickle=True)")
            elif (
                tail in SQL_CALLS
                and node.args
                and _built_sql(node.args[0])
                and "noqa: S608" not in lines[node.lineno - 1]
            ):
                out.append(
                    f"{where}: {name}() with SQL built from strings (bind parameters; a reviewed constant "
                    "identifier may carry '# noqa: S608')"
                )
            elif _is_true(_kw(node, "unsafe_allow_html")) and not (
                node.args and isinstance(node.args[0], ast.Constant)
            ):
                out.append(f"{where}: {name}(unsafe_allow_html=True) with non-constant content")
    return out


def test_source_tree_has_no_unsafe_calls() -> None:
    files = _sources()
    findings = [f for p in files for f in _findings(p)]
    FIGURES["security.files_scanned"] = len(files)
    FIGURES["security.rules_checked"] = 10
    assert len(files) > 50 and findings == []


def test_scanner_catches_what_it_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle, yaml, subprocess, torch, streamlit as st\n"
        "yaml.load(s, Loader=yaml.Loader)\neval(x)\nsubprocess.run(c, shell=True)\ntorch.load(f)\n"
        "conn.execute(f\"SELECT * FROM runs WHERE id = '{rid}'\")\nst.markdown(user_text, "
        "unsafe_allow_html=True)\n"
        "conn.execute(f'PRAGMA busy_timeout={int(ms)}')\nst.markdown('<b>fixed</b>', "
        "unsafe_allow_html=True)\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    found = " | ".join(_findings(bad))
    for needle in ("imports pickle", "yaml.load()", "yaml.Loader", "eval()", "shell=True", "torch.load",
                   "SQL built", "unsafe_allow_html"):
        assert needle in found
    assert len(_findings(bad)) == 8  # the int()-only PRAGMA and the constant HTML are allowed


def test_make_test_runs_ruff_security_rules() -> None:
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "S" in lint["select"]
    assert not {"S102", "S301", "S307", "S506", "S602", "S604", "S605", "S608"} & set(lint.get("ignore", []))
    test_target = re.search(r"^test:.*?(?=^\S)", (ROOT / "Makefile").read_text() + "\nend", re.S | re.M)
    assert test_target and "ruff check ." in test_target.group(0)


def test_dashboard_defaults_are_private_and_protected() -> None:
    assert inspect.signature(dashboard).parameters["host"].default == "127.0.0.1"
    argv = streamlit_argv(Path("app.py"), "127.0.0.1", 8501)
    options = dict(zip(argv[5::2], argv[6::2], strict=True))  # after: python -m streamlit run app.py
    assert options["--server.enableXsrfProtection"] == "true" and options["--server.address"] == "127.0.0.1"
    assert 0 < int(options["--server.maxUploadSize"]) <= 50  # MB
    dirs = [ROOT / d for d in (*SOURCE_DIRS, ".streamlit", "examples") if (ROOT / d).is_dir()]
    texts = [
        p
        for p in [*ROOT.iterdir(), *(f for d in dirs for f in d.rglob("*"))]
        if p.is_file()
        and p.suffix in (".py", ".toml", ".yaml", ".yml", ".sh", ".cfg", "")
        and p.stat().st_size < 2_000_000
    ]
    off = re.compile(r"enableXsrfProtection\W+(false|0)\b|enable_xsrf_protection\W+(false|0)\b", re.I)
    assert [str(p) for p in texts if off.search(p.read_text(errors="replace"))] == []
    binds = re.compile(r"server\.address\W+[\"']?(0\.0\.0\.0|::)")
    assert [str(p) for p in texts if binds.search(p.read_text(errors="replace"))] == []


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    db = tmp_path / "s.db"
    Store(str(db)).add_many([RunRecord(run_id=f"run{i}", benchmark=f"b{i}", kind="gemm",
                                       metrics=[Metric(name="x_ms", value=1, unit="ms")]) for i in range(3)])
    return db


PG_URLS = [
    f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:1/capplan",
    f"postgresql://alice:{SECRET}@127.0.0.1:1/capplan?sslmode=disable",
    f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:notaport/capplan",
    f"postgresql://alice:{SECRET}@[::1/capplan",
    f"mysql://alice:{SECRET}@127.0.0.1:1/capplan",
]
COMMANDS = [
    ["bench", "list"],
    ["bench", "show", "run1"],
    ["bench", "export", "-o", "OUT"],
    ["bench", "import", "IN"],
    ["bench", "compare", "run1", "run2"],
    ["bench", "run", "--suite", "SUITE"],
    ["dashboard"],
]


@pytest.mark.parametrize("via_env", [False, True], ids=["--store", "CAPPLAN_STORE"])
def test_store_password_never_reaches_output_or_logs(
    via_env: bool,
    tmp_path: Path,
    filled: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("benchmarks:\n  - {name: a, kind: harness_fixture_kinds:OkKind}\n")
    files = {"OUT": str(tmp_path / "out.json"), "IN": str(tmp_path / "in.json"), "SUITE": str(suite)}
    run_cli(["bench", "export", "-o", files["IN"], "--store", str(filled)], capsys)
    caplog.set_level(logging.DEBUG)
    checked = 0
    for url in PG_URLS:
        for command in COMMANDS:
            argv = [files.get(a, a) for a in command]
            if via_env:
                monkeypatch.setenv("CAPPLAN_STORE", url)
            else:
                argv += ["--store", url]
            code, out, err = run_cli(argv, capsys)
            assert_user_error(code, out, err)
            assert SECRET not in out + err + caplog.text, (argv, err)
            checked += 1
    FIGURES["security.password_leak_checks"] += checked


def test_sql_looking_values_are_data(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("' OR 1=1 --", "b1' OR '1'='1", "%", "b%"):
        code, out, err = run_cli(
            ["bench", "list", "--json", "--filter", f"benchmark={value}", "--store", str(filled)], capsys
        )
        assert code == 0 and out.strip() == "[]", (value, out)
    for prefix in ("%", "_", "run%", "' OR 1=1 --"):
        code, out, err = run_cli(["bench", "show", prefix, "--store", str(filled)], capsys)
        assert_user_error(code, out, err)
        assert "no run" in err


def test_dashboard_never_shows_the_store_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Streamlit app, pointed at an unreachable PostgreSQL store with a password, shows an error
    without the password anywhere on the page (AppTest renders the real app)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CAPPLAN_STORE", PG_URLS[0])
    at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=120).run()
    kinds = (
        "error",
        "warning",
        "info",
        "success",
        "exception",
        "markdown",
        "caption",
        "title",
        "header",
        "subheader",
        "text",
        "code",
    )
    page = " | ".join(str(getattr(e, "value", e)) for kind in kinds for e in getattr(at, kind)).replace(
        "\\", ""
    )
    assert "alice:***@127.0.0.1" in page, page  # markdown escapes removed: the page named the store, redacted
    assert SECRET not in page
    FIGURES["security.password_leak_checks"] += 1
