"""Registry of benchmark kinds: name -> "module:Class", imported only when a kind is used.

Adding a kind = one module + one line in KINDS. A kind class has ``name``, ``task`` and ``role``
(see capplan.harness.spec), a pydantic ``Params`` model (extra="forbid") and ``run(spec, params,
ctx) -> KindResult``; it may also declare ``dtypes`` and ``backends`` tuples, which suites are checked
against at load time, ``measures`` (micro kinds) and ``worker`` (distributed kinds). Every list of
kinds elsewhere is derived from these declarations (``kinds_where``), never written out or guessed
from a kind's name. Kind modules import torch inside ``run`` so that reading the registry stays cheap.

A suite may also name a kind as ``package.module:Class`` (an importable module on sys.path;
nothing is evaluated), e.g. the test-only kinds in tests/harness_fixture_kinds.py.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capplan.errors import UserError
from capplan.harness.spec import ROLES, TASKS, BenchmarkKind

KINDS: dict[str, str] = {
    "gemm": "capplan.harness.kinds.gemm:GemmKind",
    "membw": "capplan.harness.kinds.membw:MembwKind",
    "copy": "capplan.harness.kinds.copy:CopyKind",
    "collective": "capplan.harness.kinds.collective:CollectiveKind",
    "dispatch": "capplan.harness.kinds.dispatch:DispatchKind",
    "train": "capplan.harness.kinds.train:TrainKind",
    "infer": "capplan.harness.kinds.infer:InferKind",
    "generate": "capplan.harness.kinds.generate:GenerateKind",
    "loadgen": "capplan.harness.kinds.loadgen:LoadGenKind",
    "ddp": "capplan.harness.kinds.ddp:DdpKind",
    "serve": "capplan.harness.kinds.serve:ServeKind",
}

_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class KindImportError(Exception):
    """A registered kind's module failed to import (a broken or missing optional dependency)."""


def kind_target(kind: str) -> str:
    """The ``module:Class`` path of ``kind`` (a registry name or a module:Class path)."""
    if kind in KINDS:
        return KINDS[kind]
    if _IMPORT_PATH.match(kind):
        return kind
    raise UserError(
        f"kind: unknown kind {kind!r}; allowed: {', '.join(sorted(KINDS))} or package.module:Class"
    )


def resolve_kind(kind: str) -> BenchmarkKind:
    """Import and instantiate the kind class; KindImportError if its module cannot be imported."""
    module_name, _, class_name = kind_target(kind).partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of a plugin module, reported per benchmark
        raise KindImportError(
            f"kind {kind!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None or not all(hasattr(cls, attr) for attr in ("name", "task", "role", "Params", "run")):
        raise UserError(
            f"kind: {kind!r} does not name a benchmark kind class (needs name, task, role, Params and run)"
        )
    if cls.task not in TASKS or cls.role not in ROLES:
        raise UserError(f"kind: {kind!r} declares task {cls.task!r} and role {cls.role!r}; "
                        f"allowed tasks: {', '.join(TASKS)}; roles: {', '.join(ROLES)}")
    if cls.role == "distributed" and not getattr(cls, "worker", None):
        raise UserError(f"kind: {kind!r} has the distributed role but declares no worker (module:function)")
    return cls()


@dataclass(frozen=True)
class KindInfo:
    """What a kind declares about itself (read from its class, so it cannot drift from the code)."""

    name: str
    target: str
    task: str
    role: str
    measures: str | None = None
    worker: str | None = None

    def as_config(self) -> dict[str, Any]:
        """The declarations a record stores, so readers need not import a plugin kind to classify it."""
        return {"task": self.task, "role": self.role, "measures": self.measures}


DECLARED = ("task", "role", "measures", "worker")


def _declared_statically(target: str) -> dict[str, str] | None:
    """The class's declarations read from its module's source without importing it (kind modules
    import torch; the dashboard and the perfmodel only need the declarations). None when the class
    does not assign them itself as plain string constants, e.g. it inherits them."""
    module_name, _, class_name = target.partition(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    found: dict[str, str] = {}
    for stmt in cls.body if cls else []:
        target_node = stmt.target if isinstance(stmt, ast.AnnAssign) else None
        if (
            isinstance(target_node, ast.Name)
            and target_node.id in DECLARED
            and isinstance(stmt.value, ast.Constant)
        ):
            found[target_node.id] = stmt.value.value
    return found if "task" in found and "role" in found else None


@functools.cache
def kind_info(kind: str) -> KindInfo:
    """Declarations of ``kind`` (a registry name or module:Class path). A registered kind's are read
    from its source; a plugin's (or one that inherits them) by importing its class."""
    target = kind_target(kind)
    found = _declared_statically(target) if kind in KINDS else None
    if found is None:
        cls = type(resolve_kind(kind))
        found = {name: getattr(cls, name, None) for name in DECLARED}
    return KindInfo(name=kind, target=target, task=found["task"], role=found["role"],
                    measures=found.get("measures"), worker=found.get("worker"))


def kinds_where(*, task: str | None = None, role: str | None = None, measures: str | None = None,
                exclude_task: str | None = None) -> tuple[str, ...]:
    """Registered kind names whose declarations match every given field."""
    infos = [kind_info(name) for name in KINDS]
    return tuple(
        i.name
        for i in infos
        if (task is None or i.task == task)
        and (role is None or i.role == role)
        and (measures is None or i.measures == measures)
        and (exclude_task is None or i.task != exclude_task)
    )


def record_kind_task(kind: str, config: dict[str, Any]) -> str | None:
    """The task of a stored record: the registry's declaration for a registered kind, else the
    declaration the runner stored with the record (``config["kind_meta"]``); None when neither exists.
    A record's plugin kind is never imported to classify it (stores may come from elsewhere)."""
    if kind in KINDS:
        return kind_info(kind).task
    meta = config.get("kind_meta")
    task = meta.get("task") if isinstance(meta, dict) else None
    return task if task in TASKS else None
