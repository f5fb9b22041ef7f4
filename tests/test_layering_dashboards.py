"""Layering: dashboard pages import only capplan.views (any submodule), streamlit, the standard library
and their sibling dashboard modules; all logic lives in capplan.views."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
FILES = sorted(DASHBOARDS.rglob("*.py"))
SIBLINGS = {p.stem for p in DASHBOARDS.glob("*.py")}  # dash_common, dash_models, nav…: on sys.path with the app
# screenshots.py is not a page: it drives a browser over the running app for tests and docs images.
EXTRA = {"screenshots.py": {"playwright"}}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, at any depth (function-level imports included)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, "." * node.level + (node.module or "")))
    return out


def allowed(module: str, extra: set[str]) -> bool:
    top = module.split(".")[0]
    return (module == "capplan.views" or module.startswith("capplan.views.") or top == "streamlit"
            or top in sys.stdlib_module_names or top in SIBLINGS or top in extra)


def test_the_check_sees_the_pages_and_tells_allowed_from_forbidden():
    assert {"app.py", "dash_common.py", "overview.py", "benchmarks.py"} <= {p.name for p in FILES}
    assert all(allowed(m, set()) for m in ("capplan.views.runs", "streamlit.testing.v1", "datetime", "dash_common"))
    assert not any(allowed(m, set()) for m in ("capplan.results.store", "capplan", "capplan.viewsx", "pandas", ".x"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DASHBOARDS)))
def test_dashboard_file_imports_only_views_streamlit_stdlib_and_siblings(path: Path):
    extra = EXTRA.get(path.name, set())
    bad = [f"{path.name}:{line} imports {module}" for line, module in imported_modules(path)
           if not allowed(module, extra)]
    assert not bad, "dashboards may import only capplan.views*, streamlit, stdlib and sibling modules:\n" + "\n".join(bad)
