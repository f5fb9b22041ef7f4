"""Kinds declare their task and role; every list of kinds is derived from the registry, and no other
file names kinds. A ddp (training) record calibrates training, never inference."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from capplan.catalog import load_catalog
from capplan.errors import UserError
from capplan.harness.registry import KINDS, kind_info, kinds_where, record_kind_task, resolve_kind
from capplan.harness.spec import ROLES, TASKS
from capplan.perfmodel.calibration import point_from_record
from capplan.results.schema import Metric, RunRecord

ROOT = Path(__file__).resolve().parents[1]
# The registry and the kinds' own modules are where kind names are written; nowhere else.
ALLOWED = {
    ROOT / "capplan" / "harness" / "registry.py",
    *(ROOT / "capplan" / "harness" / "kinds").glob("*.py"),
}


def test_every_registered_kind_declares_task_and_role() -> None:
    for name in KINDS:
        info = kind_info(name)
        assert info.task in TASKS and info.role in ROLES, name
        if info.role == "distributed":
            assert info.worker and ":" in info.worker, name
        if info.task == "micro":
            assert info.measures, f"{name}: a micro kind says what it measures"


def test_declarations_read_from_source_equal_the_imported_classes() -> None:
    """kind_info reads a registered kind's declarations without importing torch; they are the class's."""
    for name in KINDS:
        cls = type(resolve_kind(name))
        info = kind_info(name)
        assert (info.task, info.role, info.measures, info.worker) == (
            cls.task, cls.role, getattr(cls, "measures", None), getattr(cls, "worker", None)), name


def test_derived_groups_partition_the_registry() -> None:
    micro, model = set(kinds_where(task="micro")), set(kinds_where(exclude_task="micro"))
    assert micro | model == set(KINDS) and not micro & model
    assert kind_info("ddp").task == "train" and kind_info("ddp").role == "distributed"
    assert kind_info("loadgen").task == "infer"
    assert set(kinds_where(measures="compute")) == {"gemm"}


def test_a_kind_without_declarations_is_refused() -> None:
    with pytest.raises(UserError, match="needs name, task, role"):
        resolve_kind("capplan.harness.spec:BenchmarkSpec")


def _training_record(kind: str, config_extra: dict[str, object] | None = None) -> RunRecord:
    """A DDP-style training run of BERT-base on H100s, laid out as the runner stores it."""
    facts = {"model": "bert", "size": "base", "dtype": "bf16", "seq_len": 128, "flops_per_sample": 22.4e9,
             "train_flops_per_sample": 67.2e9, "param_count": 109_000_000, "activation_bytes_per_sample": 4e6,
             "world_size": 8}
    return RunRecord(
        benchmark="ddp-bert",
        kind=kind,
        tags={"accelerator": "H100"},
        config={
            "device": "cuda",
            "dtype": "bf16",
            "params": {"model": "bert", "size": "base"},
            "facts": facts,
            **(config_extra or {}),
        },
        metrics=[Metric(name="throughput_samples_per_s", value=4000.0, unit="samples/s")],
    )


def test_ddp_record_calibrates_as_training() -> None:
    """Before kinds declared their task, 'ddp' fell through the name guess to an infer point."""
    point = point_from_record(_training_record("ddp"), load_catalog(user_dir=False))
    assert point is not None and point.task == "train"


def test_plugin_kind_record_uses_the_stored_declaration_and_is_never_imported() -> None:
    """A module:Class kind is classified by the declaration the runner stored, not by importing it."""
    stored = _training_record(
        "nonexistent_pkg.kinds:TrainLikeKind", {"kind_meta": {"task": "train", "role": "model"}}
    )
    assert record_kind_task(stored.kind, stored.config) == "train"
    point = point_from_record(stored, load_catalog(user_dir=False))
    assert point is not None and point.task == "train"
    undeclared = _training_record("nonexistent_pkg.kinds:TrainLikeKind")
    assert record_kind_task(undeclared.kind, undeclared.config) is None
    assert point_from_record(undeclared, load_catalog(user_dir=False)) is None


def _names_kinds(node: ast.AST) -> str | None:
    """Why ``node`` names kinds: a comparison of a ``kind`` value with a kind name, or a literal
    collection of two or more kind names (a list of task names, which kinds share, is not one)."""
    strings = lambda elts: [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]  # noqa: E731
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        named = [s for s in strings(node.elts) if s in KINDS]
        if len(named) >= 2 and not set(named) <= set(TASKS):
            return f"literal list of kinds {named}"
    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        about_kind = any(
            isinstance(s, ast.Attribute) and s.attr == "kind" or isinstance(s, ast.Name) and s.id == "kind"
            for s in sides
        )
        literals = [s.value for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str)]
        if about_kind and any(v in KINDS for v in literals):
            return f"comparison with kind name {literals}"
    if isinstance(node, ast.Call) and any(
        isinstance(a, ast.Constant) and a.value in KINDS for a in node.args
    ):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if "run" in name or "kind" in name:
            return f"call {name}() with a kind name"
    return None


def test_no_file_outside_the_registry_names_kinds() -> None:
    offenders = []
    for path in [*(ROOT / "capplan").rglob("*.py"), *(ROOT / "dashboards").rglob("*.py")]:
        if path in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            why = _names_kinds(node)
            if why:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {why}")
    assert not offenders, "\n".join(offenders)
