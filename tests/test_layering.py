"""The layering of ARCHITECTURE.md as an executable contract (an AST check of every import).

A module imports only from its own layer or below, packages form no cycle, the harness never imports
the reference server it measures, and dashboard pages import only the view layer and streamlit.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Layer of each package (lower = more basic). Keep in step with the README's architecture paragraph.
LAYERS: dict[str, int] = {
    "capplan": 0, "capplan.errors": 0, "capplan.yamlfile": 0, "capplan.signals": 0,
    "capplan.hardware": 1, "capplan.workloads": 1, "capplan.catalog": 1, "capplan.serving": 1,
    "capplan.results": 2,
    "capplan.harness": 3,
    "capplan.perfmodel": 4,
    "capplan.costs": 5,
    "capplan.planner": 6,
    "capplan.views": 7,
    "capplan.reports": 8, "dashboards": 8,
    "capplan.cli": 9, "capplan.fleet": 9, "capplan.__main__": 9,
}
FORBIDDEN = {("capplan.harness", "capplan.serving")}  # the serve kind is an HTTP client, never in-process
# What a dashboard file may import besides the standard library and its sibling modules.
DASHBOARD_ALLOWED = ("streamlit", "capplan.views", "capplan.reports")
DASHBOARD_TOOLS = {"dashboards.screenshots"}  # a developer tool that drives a browser, not a page


def package_of(module: str) -> str:
    """capplan.<pkg> (or the top-level module) that ``module`` belongs to; 'dashboards' for the app."""
    parts = module.split(".")
    if parts[0] != "capplan":
        return parts[0]
    top = {p.stem for p in (ROOT / "capplan").iterdir() if p.is_dir() or p.suffix == ".py"}
    return f"capplan.{parts[1]}" if len(parts) > 1 and parts[1] in top - {"__init__"} else "capplan"


def source_files() -> list[tuple[str, Path]]:
    """(module name, path) of every module in capplan/ and dashboards/."""
    files = []
    for top in ("capplan", "dashboards"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            files.append((".".join(parts), path))
    return files


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``path``, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))  # and "from pkg import submodule" names the submodule
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_every_package_has_a_layer() -> None:
    packages = {package_of(module) for module, _ in source_files()}
    assert packages <= set(LAYERS), (
        f"add these to LAYERS (and ARCHITECTURE.md): {sorted(packages - set(LAYERS))}"
    )


def test_imports_only_go_down_the_layers() -> None:
    offenders = []
    for module, path in source_files():
        here = package_of(module)
        for line, name in imports_of(path):
            there = package_of(name)
            if not name.startswith("capplan") or there == here:
                continue
            if LAYERS.get(there, 99) > LAYERS[here] or (here, there) in FORBIDDEN:
                offenders.append(
                    f"{path.relative_to(ROOT)}:{line}: {here} (layer {LAYERS[here]}) imports {name} "
                    f"(layer {LAYERS.get(there)})"
                )
    assert not offenders, "\n".join(offenders)


def test_packages_form_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in source_files():
        for _, name in imports_of(path):
            if name.startswith("capplan") and package_of(name) != package_of(module):
                graph[package_of(module)].add(package_of(name))
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*trail, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_cli_modules_form_no_cycle() -> None:
    """Within the CLI too: one command module never imports another that imports it back."""
    graph = {module: {name for _, name in imports_of(path) if name.startswith("capplan.cli.")}
             for module, path in source_files() if module.startswith("capplan.cli.")}
    for module, targets in graph.items():
        for target in targets:
            assert module not in graph.get(target, set()), f"{module} and {target} import each other"


def test_dashboard_pages_import_only_views_and_streamlit() -> None:
    siblings = {p.stem for p in (ROOT / "dashboards").rglob("*.py")} | {"sections"}
    offenders = []
    for module, path in source_files():
        if not module.startswith("dashboards") or module in DASHBOARD_TOOLS:
            continue
        for line, name in imports_of(path):
            top = name.split(".")[0]
            allowed = (top in sys.stdlib_module_names or top in siblings or top == "__future__"
                       or any(name == a or name.startswith(a + ".") for a in DASHBOARD_ALLOWED))
            if not allowed:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    assert not offenders, "\n".join(offenders)
