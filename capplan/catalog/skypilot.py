"""Import SkyPilot catalog snapshots as capplan instance rows, offline, and diff them with the catalog.

Reads ``catalogs/vN/<cloud>/vms.csv`` of a local checkout of skypilot-org/skypilot-catalog (newest
``vN`` per cloud) for the clouds the shipped catalog covers, or one ``vms.csv`` file. Columns are found
by header name. Two layouts:

- flat (AWS, Azure, Lambda, Nebius, OCI): one row per instance type and region (and zone, for AWS
  and OCI) with AcceleratorName/AcceleratorCount, Price (on-demand) and SpotPrice.
- GCP: host rows (InstanceType set, no accelerator) plus accelerator-only rows (InstanceType empty)
  priced for their AcceleratorCount; total = host + accelerator price. The GPU count of a machine
  type comes from its name (a2/a3/a4 ``-Ng``) or, for g2, from SkyPilot's own table. TPU slices are
  accelerator-only rows named ``tpu-<generation>-<n>``, priced as a whole slice.

Per (instance type, region): on-demand = Price (the lowest if zones differ); spot = the lowest
SpotPrice over the region's zones, leaving out AWS Local Zones (zone ids with a second '-', e.g.
use1-atl2-az1) and zones whose spot is at least 99.9 % of on-demand (no real spot offer there).
A row that already exists in the catalog keeps its curated accelerator, count, notes and reserved
prices; the import replaces its prices, size, date and source.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan.catalog.freshness import today_utc
from capplan.catalog.loader import Catalog
from capplan.catalog.models import CloudInstance
from capplan.errors import UserError

# skypilot-catalog directory name -> provider as the capplan catalog spells it.
PROVIDER_DIRS: dict[str, str] = {
    "aws": "AWS",
    "gcp": "GCP",
    "azure": "Azure",
    "lambda": "Lambda",
    "nebius": "Nebius",
    "oci": "OCI",
}
# Single-host rows only: a TPU pod slice of N chips costs N x the per-chip price of a small slice.
MAX_ACCELERATORS_PER_ROW = 16
# Zones whose spot price is within 0.1 % of on-demand list no real spot offer.
NO_SPOT_FRACTION = 0.999
FLAT_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")
GCP_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "SpotPrice", "Region")
# GCP machine families with built-in GPUs -> SkyPilot accelerator name (GCP machine-type docs).
GCP_FAMILY_GPU = {
    "a2-highgpu": "A100",
    "a2-megagpu": "A100",
    "a2-ultragpu": "A100-80GB",
    "a3-highgpu": "H100",
    "a3-megagpu": "H100-MEGA",
    "a3-edgegpu": "H100",
    "a3-ultragpu": "H200",
    "a4-highgpu": "B200",
    "g2-standard": "L4",
}
# g2 sizes -> L4 count, from skypilot-org/skypilot sky/catalog/gcp_catalog.py _ACC_INSTANCE_TYPE_DICTS.
G2_L4_COUNT = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}
# TPU generation in a slice name -> (catalog accelerator name, TensorCores per chip in the slice size).
# v5p slice names count TensorCores (2 per chip); v5e/v6e names count chips (GCP TPU docs).
TPU_GENERATIONS = {"v5litepod": ("TPU v5e", 1), "v6e": ("TPU v6e", 1), "v5p": ("TPU v5p", 2)}
PRICE_FIELDS = ("on_demand_usd_per_hour", "spot_usd_per_hour")


@dataclass(frozen=True)
class Snapshot:
    """One vms.csv of a SkyPilot catalog checkout and the git commit it was read at, if known."""

    provider: str
    path: Path
    name: str  # path inside the checkout, e.g. catalogs/v8/aws/vms.csv
    commit: str | None = None
    commit_date: str | None = None


@dataclass
class Offer:
    """One instance type in one region as the snapshot lists it."""

    provider: str
    instance: str
    region: str
    accelerator: str
    count: int
    vcpus: float | None
    ram_gib: float | None
    on_demand: float | None
    spot: float | None
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """Imported rows and their diff against the catalog in use."""

    rows: list[CloudInstance]
    changed: list[tuple[CloudInstance, CloudInstance]]
    added: list[CloudInstance]
    removed: list[CloudInstance]
    unchanged: list[CloudInstance]
    skipped: list[str]
    snapshots: list[Snapshot]


def find_snapshots(root: Path, provider: str | None = None) -> list[Snapshot]:
    """The newest ``catalogs/vN/<cloud>/vms.csv`` per cloud under ``root``, or ``root`` itself if a file."""
    root = root.expanduser()
    if root.is_file():
        name = provider or root.parent.name
        if name.lower() not in PROVIDER_DIRS:
            raise UserError(
                f"{root}: a SkyPilot vms.csv does not say which cloud it lists; give --provider "
                f"({', '.join(PROVIDER_DIRS)}) or a path like catalogs/v8/aws/vms.csv"
            )
        return [_with_commit(Snapshot(PROVIDER_DIRS[name.lower()], root, root.name))]
    if not root.is_dir():
        raise UserError(f"{root} does not exist; give a skypilot-catalog checkout or one vms.csv file")
    out = []
    wanted = [provider.lower()] if provider else list(PROVIDER_DIRS)
    for cloud in wanted:
        if cloud not in PROVIDER_DIRS:
            raise UserError(f"--provider: {cloud!r}; allowed: {', '.join(PROVIDER_DIRS)}")
        found = [p for p in root.glob(f"catalogs/v*/{cloud}/vms.csv") if p.parent.parent.name[1:].isdigit()]
        if found:
            newest = max(found, key=lambda p: int(p.parent.parent.name[1:]))
            name = newest.relative_to(root).as_posix()
            out.append(_with_commit(Snapshot(PROVIDER_DIRS[cloud], newest, name)))
    if not out:
        raise UserError(
            f"{root}: no catalogs/vN/<cloud>/vms.csv for {', '.join(wanted)}; give a checkout of "
            "https://github.com/skypilot-org/skypilot-catalog"
        )
    return out


def _with_commit(snap: Snapshot) -> Snapshot:
    """The snapshot with the last commit that touched its file, when it lies in a git checkout."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(snap.path.parent), "log", "-1", "--format=%H %cs", "--", snap.path.name],  # noqa: S607
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return snap
    parts = done.stdout.split()
    if done.returncode != 0 or len(parts) != 2:
        return snap
    return Snapshot(snap.provider, snap.path, snap.name, parts[0], parts[1])


def import_snapshots(
    snapshots: list[Snapshot],
    catalog: Catalog,
    *,
    regions: list[str] | None = None,
    all_regions: bool = False,
    note: str | None = None,
) -> ImportResult:
    """Rows converted from ``snapshots`` and their diff against ``catalog``.

    Scope per cloud: the regions the catalog already lists for it (``regions`` to name others,
    ``all_regions`` for every region), accelerators the catalog knows, at most 16 per row.
    """
    current = {i.key: i for i in catalog.instances}
    rows: list[CloudInstance] = []
    skipped: list[str] = []
    in_scope: set[tuple[str, str]] = set()
    for snap in snapshots:
        offers, bad = read_offers(snap)
        skipped += bad
        wanted = {r.lower() for r in regions} if regions else {
            i.region.lower() for i in catalog.instances if i.provider.lower() == snap.provider.lower()
        }
        in_scope |= {(snap.provider.lower(), r) for r in wanted}
        for offer in offers:
            if not all_regions and offer.region.lower() not in wanted:
                continue
            row = _instance(offer, snap, catalog, current, note)
            if isinstance(row, str):
                skipped.append(row)
            else:
                rows.append(row)
    new_keys = {r.key for r in rows}
    changed, added, unchanged = [], [], []
    for row in rows:
        old = current.get(row.key)
        if old is None:
            added.append(row)
        elif any(getattr(old, f) != getattr(row, f) for f in PRICE_FIELDS):
            changed.append((old, row))
        else:
            unchanged.append(row)
    clouds = {s.provider.lower() for s in snapshots}
    removed = [
        i
        for i in catalog.instances
        if i.provider.lower() in clouds
        and (all_regions or (i.provider.lower(), i.region.lower()) in in_scope)
        and i.key not in new_keys
    ]
    return ImportResult(rows, changed, added, removed, unchanged, skipped, snapshots)


def percent_change(old: float | None, new: float | None) -> float | None:
    """(new - old) / old in percent; None when either price is missing."""
    return None if old is None or new is None or old == 0 else 100.0 * (new - old) / old


def read_offers(snap: Snapshot) -> tuple[list[Offer], list[str]]:
    """Offers (instance type x region) of one snapshot file and lines saying what was skipped."""
    try:
        text = snap.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{snap.path}: cannot read SkyPilot catalog ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or [])
    need = GCP_COLUMNS if snap.provider == "GCP" else FLAT_COLUMNS
    missing = [c for c in need if c not in fields]
    if missing:
        raise UserError(
            f"{snap.path}: not a SkyPilot {snap.provider} vms.csv; missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(need)})"
        )
    rows = list(reader)
    return _gcp_offers(rows, snap) if snap.provider == "GCP" else _flat_offers(rows, snap)


def _num(value: str | None, snap: Snapshot, line: int, name: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        out = float(value)
    except ValueError as exc:
        raise UserError(f"{snap.path}: row {line}: field {name!r}: {value!r} is not a number") from exc
    if out != out or out in (float("inf"), float("-inf")) or out < 0:
        raise UserError(f"{snap.path}: row {line}: field {name!r}: {value!r} must be a number >= 0")
    return out


def _spot(zones: list[tuple[str, float | None, float | None]], provider: str) -> tuple[float | None, str]:
    """Lowest spot over regular zones with a real spot offer, and a note naming what was left out."""
    usable, dropped = [], []
    for zone, price, spot in zones:
        if spot is None or spot <= 0:
            continue
        if provider == "AWS" and zone.count("-") > 1:
            dropped.append(f"Local Zone {zone} spot {spot:g}")
        elif price is not None and spot >= NO_SPOT_FRACTION * price:
            dropped.append(f"{zone or 'zone'} spot = on-demand (no spot offer)")
        else:
            usable.append((spot, zone))
    if not usable:
        return None, "; ".join(dropped)
    low, zone = min(usable)
    high = max(s for s, _ in usable)
    spread = f"spot = lowest zone ({zone}), zone range {low:g}-{high:g} over {len(usable)}"
    return low, "; ".join([spread, *dropped])


def _flat_offers(rows: list[dict[str, str]], snap: Snapshot) -> tuple[list[Offer], list[str]]:
    groups: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    skipped = []
    for line, row in enumerate(rows, start=2):
        if not row.get("AcceleratorName"):
            continue  # CPU-only instance types are not catalog rows
        groups[(row["InstanceType"], row["Region"])].append((line, row))
    out = []
    for (itype, region), members in groups.items():
        line, first = members[0]
        count = _num(first.get("AcceleratorCount"), snap, line, "AcceleratorCount") or 0
        if count < 1 or count > MAX_ACCELERATORS_PER_ROW or count != int(count):
            skipped.append(f"{snap.provider} {itype} {region}: {count:g} accelerators per row (whole "
                           f"devices, at most {MAX_ACCELERATORS_PER_ROW}, are imported)")
            continue
        zones = [
            (r.get("AvailabilityZone") or "", _num(r.get("Price"), snap, ln, "Price"),
             _num(r.get("SpotPrice"), snap, ln, "SpotPrice"))
            for ln, r in members
        ]
        prices = [p for _, p, _ in zones if p]
        spot, note = _spot(zones, snap.provider)
        if not prices and spot is None:
            skipped.append(f"{snap.provider} {itype} {region}: no price in the snapshot")
            continue
        out.append(Offer(
            snap.provider, itype, region, first["AcceleratorName"], int(count),
            _num(first.get("vCPUs"), snap, line, "vCPUs"),
            _num(first.get("MemoryGiB"), snap, line, "MemoryGiB"),
            min(prices) if prices else None, spot,
            ([note] if note else []) + ([] if prices else ["snapshot has no on-demand price"]),
        ))
    return out, skipped


def _gcp_machine(itype: str) -> tuple[str, int] | None:
    match = re.fullmatch(r"([a-z0-9]+-[a-z]+)-(\d+)(g)?(-nolssd)?", itype)
    if not match or match.group(1) not in GCP_FAMILY_GPU:
        return None
    size = int(match.group(2))
    count = G2_L4_COUNT.get(size) if match.group(1) == "g2-standard" else size if match.group(3) else None
    return (GCP_FAMILY_GPU[match.group(1)], count) if count else None


def _tpu(name: str) -> tuple[str, int] | None:
    match = re.fullmatch(r"tpu-([a-z0-9]+)-(\d+)", name)
    if not match or match.group(1) not in TPU_GENERATIONS:
        return None
    accelerator, cores_per_chip = TPU_GENERATIONS[match.group(1)]
    return accelerator, int(match.group(2)) // cores_per_chip


def _gcp_offers(rows: list[dict[str, str]], snap: Snapshot) -> tuple[list[Offer], list[str]]:
    acc_rows: dict[tuple[str, int, str], list[tuple[str, float | None, float | None]]] = defaultdict(list)
    hosts: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    out, skipped = [], []
    for line, row in enumerate(rows, start=2):
        if not row.get("InstanceType") and row.get("AcceleratorName"):
            count = int(_num(row.get("AcceleratorCount"), snap, line, "AcceleratorCount") or 1)
            acc_rows[(row["AcceleratorName"], count, row["Region"])].append((
                row.get("AvailabilityZone") or "",
                _num(row.get("Price"), snap, line, "Price"),
                _num(row.get("SpotPrice"), snap, line, "SpotPrice"),
            ))
        elif row.get("InstanceType") and _gcp_machine(row["InstanceType"]):
            hosts[(row["InstanceType"], row["Region"])].append((line, row))
    for (name, _, region), zones in acc_rows.items():
        tpu = _tpu(name)
        if tpu is None or not 1 <= tpu[1] <= MAX_ACCELERATORS_PER_ROW:
            continue
        prices = [p for _, p, _ in zones if p]
        spot, note = _spot(zones, "GCP")
        if prices:
            out.append(Offer("GCP", name, region, tpu[0], tpu[1], None, None, min(prices), spot,
                             [f"{tpu[1]} chip(s), whole-slice price", *([note] if note else [])]))
    for (itype, region), members in hosts.items():
        line, row = members[0]
        acc_name, count = _gcp_machine(itype)  # type: ignore[misc]
        gpu = acc_rows.get((acc_name, count, region))
        scale = 1
        if gpu is None and (acc_name, 1, region) in acc_rows:
            gpu, scale = acc_rows[(acc_name, 1, region)], count
        gpu_prices = [p for _, p, _ in gpu or [] if p]
        if not gpu_prices:
            skipped.append(f"GCP {itype} {region}: no {acc_name} price row in the snapshot")
            continue
        host_zones = [
            (r.get("AvailabilityZone") or "", _num(r.get("Price"), snap, ln, "Price"),
             _num(r.get("SpotPrice"), snap, ln, "SpotPrice"))
            for ln, r in members
        ]
        host = min((p for _, p, _ in host_zones if p is not None), default=0.0)
        gpu_od = min(gpu_prices) * scale
        host_spots = [s for _, _, s in host_zones if s is not None]
        gpu_spots = [s for _, _, s in gpu or [] if s]
        # snapshot prices carry at most 6 decimals; round the sums so float noise is no "price change"
        spot = round(min(host_spots) + min(gpu_spots) * scale, 6) if host_spots and gpu_spots else None
        notes = [f"total = host {host:g} + {count} x {acc_name} price {gpu_od:g}"]
        if host == 0:
            notes.append("host row priced 0 in the snapshot: total is the accelerator price only")
        if spot is not None and spot >= NO_SPOT_FRACTION * (host + gpu_od):
            notes.append(f"snapshot spot {spot:g} is not below on-demand: spot left empty")
            spot = None
        out.append(Offer("GCP", itype, region, acc_name, count, _num(row.get("vCPUs"), snap, line, "vCPUs"),
                         _num(row.get("MemoryGiB"), snap, line, "MemoryGiB"), round(host + gpu_od, 6), spot,
                         notes))
    return out, skipped


def _instance(
    offer: Offer, snap: Snapshot, catalog: Catalog, current: dict[Any, CloudInstance], note: str | None
) -> CloudInstance | str:
    """The catalog row for ``offer`` (curated fields kept when the row exists), or why it was skipped."""
    key = (offer.provider.lower(), offer.instance.lower(), offer.region.lower())
    old = current.get(key)
    if old is None:
        acc = catalog.find_accelerator(offer.accelerator)
        if acc is None:
            return (
                f"{offer.provider} {offer.instance} {offer.region}: accelerator {offer.accelerator!r} is "
                "not in the capplan catalog (add it to import this row)"
            )
        gpu_name, gpu_count, notes = acc.name, offer.count, None
    else:
        gpu_name, gpu_count, notes = old.gpu_name, old.gpu_count, old.notes
    where = f"skypilot-org/skypilot-catalog {snap.name}" + (f" @ {snap.commit}" if snap.commit else "")
    source = "; ".join([where, *(f"{n}" for n in offer.notes), *([note] if note else [])])
    dated = snap.commit_date is not None
    fields: dict[str, Any] = {
        **(old.model_dump(exclude_unset=True) if old else {}),
        "provider": offer.provider, "instance": offer.instance, "region": offer.region,
        "gpu_name": gpu_name, "gpu_count": gpu_count,
        "vcpus": int(offer.vcpus) if offer.vcpus else None, "ram_gib": offer.ram_gib or None,
        "on_demand_usd_per_hour": offer.on_demand or None, "spot_usd_per_hour": offer.spot or None,
        "price_date": snap.commit_date if dated else today_utc().isoformat(),
        "price_date_basis": "commit" if dated else "read",
        "snapshot_commit": snap.commit, "source": source, "notes": notes,
    }
    return CloudInstance.model_validate(fields)


def write_instances_csv(instances: list[CloudInstance], out: io.TextIOBase | Any) -> None:
    """Write rows in capplan's instance CSV layout (usable as a ``--catalog`` override file)."""
    fields = list(CloudInstance.model_fields)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for inst in instances:
        writer.writerow({k: ("" if v is None else v) for k, v in inst.model_dump().items()})
