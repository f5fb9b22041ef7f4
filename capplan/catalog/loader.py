"""Load the shipped catalog and merge user override files (YAML or CSV) on top of it.

Overrides live in ``user_config_dir('capplan')/catalog/`` or come from ``--catalog PATH`` (file or
directory). A row whose name (accelerators) or provider+instance+region (instances) already exists
replaces only the fields it gives; a new row must be complete. A bad row names file, row and field.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir
from pydantic import BaseModel, ValidationError

from capplan.catalog.models import Accelerator, CloudInstance, normalise_name
from capplan.errors import UserError
from capplan.yamlfile import parse_yaml

OVERRIDE_SUFFIXES = (".yaml", ".yml", ".csv")
TABLES: dict[str, type[BaseModel]] = {"accelerators": Accelerator, "instances": CloudInstance}


def user_catalog_dir() -> Path:
    """Directory scanned for user override files."""
    return Path(user_config_dir("capplan")) / "catalog"


class Catalog:
    """Accelerators and cloud instances with name lookup (case-insensitive, aliases accepted)."""

    def __init__(
        self, accelerators: list[Accelerator], instances: list[CloudInstance], files: list[str]
    ) -> None:
        self.accelerators = accelerators
        self.instances = instances
        self.files = files
        self._index: dict[str, Accelerator] = {}
        for acc in accelerators:
            for name in acc.names():
                self._index.setdefault(normalise_name(name), acc)

    def find_accelerator(self, name: str) -> Accelerator | None:
        """The accelerator called ``name`` (or one of its aliases), or None."""
        return self._index.get(normalise_name(name))

    def accelerator(self, name: str) -> Accelerator:
        """The accelerator called ``name``; UserError listing close matches when unknown."""
        found = self.find_accelerator(name)
        if found is None:
            close = difflib.get_close_matches(normalise_name(name), list(self._index), n=4, cutoff=0.5)
            names = sorted({self._index[c].name for c in close})
            hint = f"; close matches: {', '.join(names)}" if names else ""
            raise UserError(
                f"accelerator {name!r} is not in the catalog{hint} (see `capplan catalog list accelerators`)"
            )
        return found

    def instances_for(self, accelerator_name: str) -> list[CloudInstance]:
        """Instances whose GPU is ``accelerator_name`` (aliases accepted), cheapest on-demand first."""
        acc = self.accelerator(accelerator_name)
        rows = [i for i in self.instances if i.gpu_name and self.find_accelerator(i.gpu_name) is acc]
        return sorted(rows, key=lambda i: i.on_demand_usd_per_hour or float("inf"))


def load_catalog(paths: list[Path] | None = None, *, user_dir: bool = True) -> Catalog:
    """Shipped rows, then files in the user config dir (if ``user_dir``), then ``paths``, merged in that
    order."""
    tables: dict[str, dict[Any, BaseModel]] = {name: {} for name in TABLES}
    files = []
    data = resources.files("capplan.catalog") / "data"
    for name in TABLES:
        _merge(
            tables,
            _read_csv_text(data.joinpath(f"{name}.csv").read_text(encoding="utf-8")),
            name,
            f"<shipped {name}.csv>",
        )
    sources: list[Path] = []
    if user_dir and user_catalog_dir().is_dir():
        sources += _override_files(user_catalog_dir())
    for path in paths or []:
        sources += _override_files(Path(path).expanduser())
    for path in sources:
        table, rows = _read_override(path)
        _merge(tables, rows, table, str(path))
        files.append(str(path))
    accs = list(tables["accelerators"].values())
    insts = list(tables["instances"].values())
    return Catalog(accs, insts, files)  # type: ignore[arg-type]


def _override_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in OVERRIDE_SUFFIXES and p.is_file())
    if not path.is_file():
        raise UserError(f"--catalog: {path} does not exist; give a YAML/CSV file or a directory of them")
    if path.suffix.lower() not in OVERRIDE_SUFFIXES:
        raise UserError(
            f"--catalog: {path} has suffix {path.suffix!r}; allowed: {', '.join(OVERRIDE_SUFFIXES)}"
        )
    return [path]


def _read_csv_text(text: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k is not None} for row in csv.DictReader(io.StringIO(text))]


def _read_override(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """(table, rows) of one override file. CSV: table from its columns; YAML: top-level keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read catalog file ({exc})") from exc
    if path.suffix.lower() == ".csv":
        rows = _read_csv_text(text)
        header = set(rows[0]) if rows else set()
        table = "instances" if "provider" in header else "accelerators" if "name" in header else ""
        if not table:
            raise UserError(f"{path}: header needs a 'name' column (accelerators) or 'provider' (instances)")
        return table, rows
    doc = parse_yaml(text, str(path))
    if not isinstance(doc, dict) or len(doc) != 1 or next(iter(doc)) not in TABLES:
        raise UserError(
            f"{path}: expected one top-level key, accelerators: or instances:, holding a list of rows"
        )
    table, rows = next(iter(doc.items()))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{path}: {table}: expected a list of mappings (one per row)")
    return table, rows


def _clean(row: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Drop empty cells; YAML dates become ISO text; split CSV alias lists (';'-separated)."""
    out = {
        str(k).strip(): v.isoformat() if isinstance(v, date) else v
        for k, v in row.items()
        if v is not None and v != ""
    }
    if isinstance(out.get("aliases"), str) and "aliases" in model.model_fields:
        out["aliases"] = [a.strip() for a in out["aliases"].split(";") if a.strip()]
    return out


def _merge(
    tables: dict[str, dict[Any, BaseModel]], rows: Iterable[dict[str, Any]], table: str, origin: str
) -> None:
    model = TABLES[table]
    current = tables[table]
    for number, raw in enumerate(rows, start=1):
        row = _clean(raw, model)
        key = _row_key(table, row, current)
        base = current[key].model_dump() if key in current else {}
        try:
            merged = model.model_validate({**base, **row})
        except ValidationError as exc:
            raise UserError(f"{origin}: {table} row {number}: {_field_error(exc, model)}") from exc
        current[key] = merged


def _row_key(table: str, row: dict[str, Any], current: dict[Any, BaseModel]) -> Any:
    if table == "instances":
        return tuple(str(row.get(k, "")).lower() for k in ("provider", "instance", "region"))
    wanted = normalise_name(str(row.get("name", "")))
    for key, acc in current.items():
        if wanted in {normalise_name(n) for n in acc.names()}:  # type: ignore[attr-defined]
            row["name"] = acc.name  # type: ignore[attr-defined]
            return key
    return wanted


def _field_error(exc: ValidationError, model: type[BaseModel]) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "row"
    if err["type"] == "extra_forbidden":
        return f"field {field!r} is unknown; allowed: {', '.join(model.model_fields)}"
    info = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
    what = f" ({info.description})" if info is not None and info.description else ""
    return f"field {field!r}: {err['msg']}{what}; got {err.get('input')!r}"
