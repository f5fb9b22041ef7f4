"""Load the shipped catalog and merge user override files (YAML or CSV) on top of it.

Overrides live in ``user_config_dir('capplan')/catalog/`` or come from ``--catalog PATH`` (file or
directory). A row whose name (accelerators), provider+instance+region (instances),
accelerator+unit+source (purchase prices), provider+region (regions, grid intensity) or accelerator
(embodied emissions) already exists replaces only the fields it gives; a new row must be complete. A bad
row (bad field, unknown accelerator, a date in the future, no source) names file, row and field: one
UserError line, or, for ``capplan catalog check``, one Finding per row.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_config_dir
from pydantic import BaseModel, ValidationError

from capplan.catalog.carbon import ONPREM_PROVIDER, EmbodiedEmission, GridIntensity
from capplan.catalog.models import (
    Accelerator,
    CloudInstance,
    PurchasePrice,
    PurchasePriceRow,
    normalise_name,
)
from capplan.catalog.regions import Region, RegionTable
from capplan.errors import UserError
from capplan.yamlfile import parse_yaml

OVERRIDE_SUFFIXES = (".yaml", ".yml", ".csv")
TABLES: dict[str, type[BaseModel]] = {
    "accelerators": Accelerator,
    "instances": CloudInstance,
    "purchase_prices": PurchasePriceRow,
    "regions": Region,
    "grid_intensity": GridIntensity,
    "embodied_emissions": EmbodiedEmission,
}
SHIPPED_PREFIX = "<shipped "


@dataclass(frozen=True)
class Finding:
    """One problem found in a catalog file: an error (the row is unusable) or a warning."""

    severity: Literal["error", "warning"]
    origin: str
    table: str
    row: int | None
    field: str | None
    message: str

    def line(self) -> str:
        where = self.origin + (f": {self.table}" if self.table else "")
        where += f" row {self.row}" if self.row is not None else ""
        return f"{where}: " + (f"field {self.field!r}: " if self.field else "") + self.message


class _Problems:
    """Collects findings (catalog check) or raises the first error as a UserError (every other use)."""

    def __init__(self, findings: list[Finding] | None) -> None:
        self.findings = findings

    def error(self, finding: Finding) -> None:
        if self.findings is None:
            raise UserError(finding.line())
        self.findings.append(finding)


def user_catalog_dir() -> Path:
    """Directory scanned for user override files."""
    return Path(user_config_dir("capplan")) / "catalog"


class Catalog:
    """Accelerators, cloud instances, purchase prices and cloud regions with name lookup
    (case-insensitive, aliases accepted)."""

    def __init__(
        self,
        accelerators: list[Accelerator],
        instances: list[CloudInstance],
        files: list[str],
        purchase_rows: list[tuple[PurchasePriceRow, str]] | None = None,
        *,
        regions: RegionTable | None = None,
        grid: list[GridIntensity] | None = None,
        embodied: list[EmbodiedEmission] | None = None,
    ) -> None:
        self.accelerators = accelerators
        self.instances = instances
        self.files = files
        shipped = _shipped_carbon() if grid is None or embodied is None else ([], [])
        self.grid: list[GridIntensity] = grid if grid is not None else shipped[0]
        self.embodied: list[EmbodiedEmission] = embodied if embodied is not None else shipped[1]
        self._grid = {g.key: g for g in self.grid}
        self.purchase_rows = purchase_rows or []  # (row, origin file)
        self.regions = regions if regions is not None else RegionTable()
        # (table, row key) -> (file, row number) of the file that last set the row (load_catalog fills it)
        self.origins: dict[tuple[str, Any], tuple[str, int]] = {}
        self._index: dict[str, Accelerator] = {}
        for acc in accelerators:
            for name in acc.names():
                self._index.setdefault(normalise_name(name), acc)
        self._found: dict[str, Accelerator | None] = {}  # name as asked -> answer (planner hot path)

    def find_accelerator(self, name: str) -> Accelerator | None:
        """The accelerator called ``name`` (or one of its aliases), or None."""
        if name not in self._found:
            self._found[name] = self._index.get(normalise_name(name))
        return self._found[name]

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

    def grid_intensity(self, provider: str, region: str) -> GridIntensity | None:
        """Grid row of a cloud region (provider + region: region names collide across providers)."""
        return self._grid.get((provider.lower(), region.lower()))

    def onprem_grid(self, location: str) -> GridIntensity | None:
        """Grid row of an owned data centre's country or area ('US', 'DE', 'World', ...)."""
        return self.grid_intensity(ONPREM_PROVIDER, location)

    def embodied_for(self, accelerator_name: str) -> EmbodiedEmission | None:
        """Cited embodied emissions of an accelerator (aliases accepted), or None when none is cited."""
        acc = self.find_accelerator(accelerator_name)
        return next(
            (e for e in self.embodied if acc is not None and self.find_accelerator(e.accelerator) is acc),
            None,
        )

    def find_region(self, provider: str, region: str) -> Region | None:
        """The region ``region`` of ``provider`` (case-insensitive), or None."""
        return self.regions.get(provider, region)

    def region(self, provider: str, region: str) -> Region:
        """The region ``region`` of ``provider``, e.g. ``region("aws", "us-east-1")``; UserError when
        unknown."""
        found = self.find_region(provider, region)
        if found is None:
            close = self.regions.close_matches(f"{provider}:{region}")
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise UserError(
                f"region {provider}:{region} is not in the catalog{hint} (see `capplan catalog list regions`)"
            )
        return found

    def instances_for(self, accelerator_name: str) -> list[CloudInstance]:
        """Instances whose GPU is ``accelerator_name`` (aliases accepted), cheapest on-demand first."""
        acc = self.accelerator(accelerator_name)
        rows = [i for i in self.instances if i.gpu_name and self.find_accelerator(i.gpu_name) is acc]
        return sorted(rows, key=lambda i: i.on_demand_usd_per_hour or float("inf"))

    def purchase_price(self, accelerator_name: str, unit: str = "gpu") -> PurchasePrice | None:
        """The purchase price used for ``accelerator_name``: range and midpoint over the cited rows.

        Rows from user override files win over the shipped rows (a quote replaces street prices);
        without rows, an accelerator's own ``approx_list_price_usd`` (point figure) is used; else None.
        """
        acc = self.accelerator(accelerator_name)
        rows = [
            (r, o)
            for r, o in self.purchase_rows
            if r.unit == unit and self.find_accelerator(r.accelerator) is acc
        ]
        user = [(r, o) for r, o in rows if not o.startswith(SHIPPED_PREFIX)]
        chosen = [r for r, _ in (user or rows)]
        if not chosen:
            if unit != "gpu" or acc.approx_list_price_usd is None:
                return None
            point = acc.approx_list_price_usd
            chosen = [
                PurchasePriceRow(
                    accelerator=acc.name, low_usd=point, high_usd=point,
                    source=f"catalog approx_list_price_usd ({acc.price_note or acc.source})",
                    source_date=acc.source_date,
                )
            ]
        chosen = [r for r in chosen if r.gpus_per_unit == chosen[0].gpus_per_unit]
        low, high = min(r.low_usd for r in chosen), max(r.high_usd for r in chosen)
        oldest = min(chosen, key=lambda r: r.source_date)
        return PurchasePrice(
            accelerator=acc.name,
            unit=chosen[0].unit,
            gpus_per_unit=chosen[0].gpus_per_unit,
            low_usd=low,
            high_usd=high,
            mid_usd=(low + high) / 2.0,
            source="; ".join(dict.fromkeys(r.source for r in chosen)),
            source_date=oldest.source_date,
            date_basis=oldest.date_basis,
            from_override=bool(user),
            rows=chosen,
        )


Tables = dict[str, dict[Any, tuple[BaseModel, str, int]]]  # key -> (row, origin file, row number)


def load_catalog(
    paths: list[Path] | None = None, *, user_dir: bool = True, findings: list[Finding] | None = None
) -> Catalog:
    """Shipped rows, then files in the user config dir (if ``user_dir``), then ``paths``, merged in that
    order. A bad row raises UserError naming file, row and field; with a ``findings`` list it is
    recorded there and left out instead (``capplan catalog check``)."""
    problems = _Problems(findings)
    tables: Tables = {name: {} for name in TABLES}
    files = []
    data = resources.files("capplan.catalog") / "data"
    for name in TABLES:
        text = data.joinpath(f"{name}.csv").read_text(encoding="utf-8")
        _merge(tables, _read_csv_text(text), name, f"{SHIPPED_PREFIX}{name}.csv>", problems)
    sources: list[Path] = []
    if user_dir and user_catalog_dir().is_dir():
        sources += _override_files(user_catalog_dir())
    for path in paths or []:
        sources += _override_files(Path(path).expanduser())
    for path in sources:
        try:
            table, rows = _read_override(path)
        except UserError as exc:
            if findings is None:
                raise
            findings.append(Finding("error", str(path), "", None, None, str(exc).removeprefix(f"{path}: ")))
            continue
        _merge(tables, rows, table, str(path), problems)
        files.append(str(path))
    accs = [row for row, _, _ in tables["accelerators"].values() if isinstance(row, Accelerator)]
    known = Catalog(accs, [], files)
    insts: list[CloudInstance] = []
    for inst, origin, number in tables["instances"].values():
        assert isinstance(inst, CloudInstance)
        if inst.gpu_name and known.find_accelerator(inst.gpu_name) is None:
            problems.error(_unknown(known, "instances", "gpu_name", inst.gpu_name, origin, number))
        else:
            insts.append(inst)
    purchase: list[tuple[PurchasePriceRow, str]] = []
    for row, origin, number in tables["purchase_prices"].values():
        assert isinstance(row, PurchasePriceRow)
        if known.find_accelerator(row.accelerator) is None:
            problems.error(_unknown(known, "purchase_prices", "accelerator", row.accelerator, origin, number))
        else:
            purchase.append((row, origin))
    regions = RegionTable(row for row, _, _ in tables["regions"].values())  # type: ignore[misc]
    catalog = Catalog(
        accs, insts, files, purchase, regions=regions,
        grid=[row for row, _, _ in tables["grid_intensity"].values()],  # type: ignore[misc]
        embodied=[row for row, _, _ in tables["embodied_emissions"].values()],  # type: ignore[misc]
    )
    catalog.origins = {
        (table, key): (origin, number)
        for table, rows in tables.items()
        for key, (_, origin, number) in rows.items()
    }
    return catalog


@functools.cache
def _shipped_carbon() -> tuple[list[GridIntensity], list[EmbodiedEmission]]:
    """The shipped carbon tables, for catalogs built by hand (tests, benchmarks)."""
    data = resources.files("capplan.catalog") / "data"
    rows = {
        name: _read_csv_text(data.joinpath(f"{name}.csv").read_text(encoding="utf-8"))
        for name in ("grid_intensity", "embodied_emissions")
    }
    return (
        [GridIntensity.model_validate(_clean(r, GridIntensity)) for r in rows["grid_intensity"]],
        [EmbodiedEmission.model_validate(_clean(r, EmbodiedEmission)) for r in rows["embodied_emissions"]],
    )


# CSV override files: the first column found names the table (grid and region rows also have a
# provider column, so they are tried before instances).
_CSV_TABLES = (
    ("grid_gco2e_per_kwh", "grid_intensity"),
    ("kg_co2e_per_gpu", "embodied_emissions"),
    ("country_iso2", "regions"),
    ("provider", "instances"),
    ("low_usd", "purchase_prices"),
    ("name", "accelerators"),
)


def _unknown(catalog: Catalog, table: str, field: str, name: str, origin: str, number: int) -> Finding:
    close = difflib.get_close_matches(normalise_name(name), list(catalog._index), n=3, cutoff=0.6)
    names = sorted({catalog._index[c].name for c in close})
    hint = f" (close: {', '.join(names)})" if names else ""
    return Finding(
        "error", origin, table, number, field,
        f"{name!r} matches no accelerator{hint}; use a name from `capplan catalog list accelerators` "
        "or add that accelerator",
    )


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
        table = next((t for column, t in _CSV_TABLES if column in header), "")
        if not table:
            raise UserError(
                f"{path}: header needs a 'name' column (accelerators), 'provider' (instances), "
                "'low_usd' (purchase_prices), 'provider' and 'country_iso2' (regions), "
                "'grid_gco2e_per_kwh' (grid_intensity) or 'kg_co2e_per_gpu' (embodied_emissions)"
            )
        return table, rows
    doc = parse_yaml(text, str(path))
    if not isinstance(doc, dict) or len(doc) != 1 or next(iter(doc)) not in TABLES:
        raise UserError(
            f"{path}: expected one top-level key ({', '.join(TABLES)}) holding a list of rows"
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
    tables: Tables, rows: Iterable[dict[str, Any]], table: str, origin: str, problems: _Problems
) -> None:
    model = TABLES[table]
    current = tables[table]
    for number, raw in enumerate(rows, start=1):
        row = _clean(raw, model)
        key = _row_key(table, row, current)
        base = current[key][0].model_dump(exclude_unset=True) if key in current else {}
        stale_provenance = _reprice(table, base, row) if base else None
        if stale_provenance:
            problems.error(Finding("error", origin, table, number, stale_provenance[0], stale_provenance[1]))
            continue
        try:
            merged = model.model_validate({**base, **row})
        except ValidationError as exc:
            field, message = _field_error(exc, model)
            field_name = None if field == "row" else field
            problems.error(Finding("error", origin, table, number, field_name, message))
            continue
        current[key] = (merged, origin, number)


def _reprice(table: str, base: dict[str, Any], row: dict[str, Any]) -> tuple[str, str] | None:
    """Keep an instance's provenance true when an override changes its prices: a new on-demand or spot
    price needs its own price_date and source (then the old date basis and snapshot commit go), a new
    reserved price its own reserved_source and reserved_price_date (or the row's). Returns the
    (field, message) of a price given without them, else None (``base`` is edited in place)."""
    if table != "instances":
        return None
    given = set(row)
    if given & {"on_demand_usd_per_hour", "spot_usd_per_hour"} and not {"price_date", "source"} <= given:
        return "price_date", "an override that changes an on-demand or spot price must give its own " \
            "price_date and source"
    reserved = given & {"reserved_1y_usd_per_hour", "reserved_3y_usd_per_hour"}
    own = {"reserved_source", "reserved_price_date"}
    if reserved and not (own <= given or {"price_date", "source"} <= given):
        return "reserved_source", "an override that changes a reserved price must give reserved_source and " \
            "reserved_price_date (or price_date and source)"
    if given & {"price_date", "source"}:
        for name in ("price_date_basis", "snapshot_commit"):
            if name not in given:
                base.pop(name, None)
    if reserved:
        for name in own - given:
            base.pop(name, None)
    return None


def _row_key(table: str, row: dict[str, Any], current: dict[Any, Any]) -> Any:
    if table == "instances":
        return tuple(str(row.get(k, "")).lower() for k in ("provider", "instance", "region"))
    if table == "grid_intensity":
        return tuple(str(row.get(k, "")).lower() for k in ("provider", "region"))
    if table == "embodied_emissions":
        return normalise_name(str(row.get("accelerator", "")))
    if table == "purchase_prices":
        return purchase_key(row)
    if table == "regions":
        return tuple(str(row.get(k, "")).strip().lower() for k in ("provider", "region"))
    wanted = normalise_name(str(row.get("name", "")))
    for key, (acc, _, _) in current.items():
        if wanted in {normalise_name(n) for n in acc.names()}:
            row["name"] = acc.name
            return key
    return wanted


def purchase_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """Identity of a purchase-price row: (accelerator, unit, source), case- and punctuation-insensitive."""
    return (
        normalise_name(str(row.get("accelerator", ""))),
        str(row.get("unit", "gpu")).lower(),
        str(row.get("source", "")).strip().lower(),
    )


def _field_error(exc: ValidationError, model: type[BaseModel]) -> tuple[str, str]:
    """(field, message) of the first validation error: what is wrong, what is allowed, what was given."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "row"
    if err["type"] == "extra_forbidden":
        return field, f"not a known field; allowed: {', '.join(model.model_fields)}"
    info = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
    what = f" ({info.description})" if info is not None and info.description else ""
    msg = str(err["msg"]).removeprefix("Value error, ")
    return field, f"{msg}{what}; got {err.get('input')!r}"
