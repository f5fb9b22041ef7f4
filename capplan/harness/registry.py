"""Registry of benchmark kinds: name -> "module:Class", imported only when a kind is used.

Adding a kind = one module + one line in KINDS. A kind class has ``name``, a pydantic ``Params``
model (extra="forbid") and ``run(spec, params, ctx) -> KindResult``; it may also declare
``dtypes`` and ``backends`` tuples, which suites are checked against at load time. Kind modules
import torch inside ``run`` so that loading a suite stays cheap.

A suite may also name a kind as ``package.module:Class`` (an importable module on sys.path;
nothing is evaluated), e.g. the test-only kinds in tests/harness_fixture_kinds.py.
"""

from __future__ import annotations

import importlib
import re

from capplan.errors import UserError
from capplan.harness.spec import BenchmarkKind

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
    raise UserError(f"kind: unknown kind {kind!r}; allowed: {', '.join(sorted(KINDS))} or package.module:Class")


def resolve_kind(kind: str) -> BenchmarkKind:
    """Import and instantiate the kind class; KindImportError if its module cannot be imported."""
    module_name, _, class_name = kind_target(kind).partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of a plugin module, reported per benchmark
        raise KindImportError(f"kind {kind!r}: cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None or not all(hasattr(cls, attr) for attr in ("name", "Params", "run")):
        raise UserError(f"kind: {kind!r} does not name a benchmark kind class (needs name, Params and run)")
    return cls()
