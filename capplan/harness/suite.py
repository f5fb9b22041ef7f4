"""Load a benchmark suite from YAML into validated specs with their kinds' parameters resolved.

Format::

    suite: quick                 # optional; defaults to the file name
    description: ...             # optional
    defaults: {device: cpu, timeout_s: 60, budget: {max_time_s: 1}}   # merged into every entry
    benchmarks:
      - {name: gemm-fp32, kind: gemm, params: {shapes: [[512, 512, 512]]}}

Any mistake is a UserError naming the file, the benchmark, the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from capplan.errors import UserError
from capplan.harness.registry import KindImportError, kind_target, resolve_kind
from capplan.harness.runner import PlannedBenchmark
from capplan.harness.spec import BenchmarkSpec
from capplan.harness.trust import check_trusted
from capplan.yamlfile import read_yaml

# Built-in suites ship inside the package (so a wheel install has them). They are edited in the
# repository's benchmarks/ and copied here by `make suites`; tests/test_packaging.py checks the copies.
SUITES_DIR = Path(__file__).resolve().parent / "suites"
BUILTIN_SUITES = ("quick", "standard", "full", "distributed", "gpu")
TOP_KEYS = ("suite", "description", "defaults", "benchmarks")
CAPABILITIES = ("cuda", "nvml", "multi_gpu")


@dataclass
class Suite:
    name: str
    path: Path
    benchmarks: list[PlannedBenchmark]


def suite_path(name_or_path: str) -> Path:
    """A built-in suite's file, or the user's YAML file."""
    if name_or_path in BUILTIN_SUITES:
        return SUITES_DIR / f"{name_or_path}.yaml"
    path = Path(name_or_path).expanduser()
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        raise UserError(
            f"--suite: {name_or_path!r} is neither {', '.join(BUILTIN_SUITES)} nor an existing .yaml file"
        )
    return path


def _merge(defaults: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Entry over defaults; nested dicts (budget, params, tags) merge one level deep."""
    out = dict(defaults)
    for key, value in entry.items():
        out[key] = (
            {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel], str | None]:
    """The model owning the last key of ``loc`` and that field's description."""
    description = None
    for key in loc:
        info = model.model_fields.get(str(key))
        if info is None:
            break
        description = info.description
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            model = info.annotation
    return model, description


def _describe(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    key = (prefix + ".".join(str(p) for p in loc)).rstrip(".")
    if err["type"] == "extra_forbidden":
        owner, _ = _model_at(model, loc[:-1])
        return f"{key}: unknown key; allowed: {', '.join(owner.model_fields)}"
    _, description = _model_at(model, loc)
    return f"{key}: {err['msg']}" + (f" ({description})" if description else "")


def _read_suite_doc(path: Path) -> dict[str, Any]:
    doc = read_yaml(path, "suite")
    if not isinstance(doc, dict):
        raise UserError(f"{path}: a suite is a mapping with keys {', '.join(TOP_KEYS)}")
    unknown = set(doc) - set(TOP_KEYS)
    if unknown:
        raise UserError(f"{path}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(TOP_KEYS)}")
    if not isinstance(doc.get("benchmarks"), list) or not doc["benchmarks"]:
        raise UserError(f"{path}: benchmarks: a non-empty list of benchmarks is required")
    if not isinstance(doc.get("defaults", {}), dict):
        raise UserError(f"{path}: defaults: must be a mapping of benchmark keys")
    return doc


def _plan(spec: BenchmarkSpec, where: str, allow_code: bool) -> PlannedBenchmark:
    """Validate the kind's params (and dtype/backend where the kind declares them)."""
    bad_caps = set(spec.requires) - set(CAPABILITIES)
    if bad_caps:
        raise UserError(
            f"{where}: requires: unknown capability {sorted(bad_caps)[0]!r}; allowed: "
            f"{', '.join(CAPABILITIES)}"
        )
    try:
        kind_target(spec.kind)  # an unknown name is refused before any trust question
        check_trusted(spec.kind, allow_code)  # before importing anything the suite names
        kind = resolve_kind(spec.kind)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from exc
    except KindImportError:
        return PlannedBenchmark(spec, dict(spec.params))  # recorded as failed when it runs
    for attr in ("dtype", "backend"):
        allowed = getattr(kind, attr + "s", None)
        if allowed is not None and getattr(spec, attr) not in allowed:
            raise UserError(
                f"{where}: {attr}: {getattr(spec, attr)!r} is not supported by kind {spec.kind}; allowed: "
                f"{', '.join(allowed)}"
            )
    try:
        params = kind.Params.model_validate(spec.params)
    except ValidationError as exc:
        raise UserError(f"{where}: {_describe(exc, kind.Params, 'params.')}") from exc
    return PlannedBenchmark(spec, params.model_dump(mode="json"))


def load_suite(name_or_path: str, *, only: list[str] | None = None, device: str | None = None,
               allow_code: bool = False) -> Suite:
    """Parse and validate a suite; ``only`` keeps the named benchmarks, ``device`` overrides all.
    ``module:Class`` kinds are refused unless ``allow_code`` or the allow-list trusts them."""
    path = suite_path(name_or_path)
    doc = _read_suite_doc(path)
    defaults = doc.get("defaults") or {}
    planned: list[PlannedBenchmark] = []
    seen: set[str] = set()
    for i, entry in enumerate(doc["benchmarks"], start=1):
        if not isinstance(entry, dict):
            raise UserError(f"{path}: benchmark #{i}: must be a mapping with name, kind, params, ...")
        merged = _merge(defaults, entry) | ({"device": device} if device else {})
        where = f"{path}: benchmark {merged.get('name', f'#{i}')!r}"
        try:
            spec = BenchmarkSpec.model_validate(merged)
        except ValidationError as exc:
            raise UserError(f"{where}: {_describe(exc, BenchmarkSpec)}") from exc
        if spec.name in seen:
            raise UserError(f"{where}: name: duplicate benchmark name in this suite")
        seen.add(spec.name)
        planned.append(_plan(spec, where, allow_code))
    if only:
        missing = [n for n in only if n not in seen]
        if missing:
            raise UserError(
                f"--only: no benchmark {missing[0]!r} in {path}; allowed: {', '.join(sorted(seen))}"
            )
        planned = [p for p in planned if p.spec.name in only]
    return Suite(name=str(doc.get("suite") or path.stem), path=path, benchmarks=planned)
