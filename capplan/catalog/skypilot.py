"""Convert a SkyPilot catalog CSV (AWS or GCP ``vms.csv`` layout) into capplan instance rows, offline.

AWS rows are one per availability zone: on-demand is the region's price, spot the lowest AZ spot.
GCP bills GPUs separately: a host row (InstanceType set, no accelerator) plus GPU-only rows
(InstanceType empty) priced for their AcceleratorCount; total = host + GPU price. The GPU count of
a GCP machine type comes from its name (a2/a3 ``-Ng``) or, for g2, from SkyPilot's own table.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capplan.catalog.loader import Catalog
from capplan.catalog.models import CloudInstance
from capplan.errors import UserError

AWS_COLUMNS = (
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "Price",
    "SpotPrice",
    "Region",
)
GCP_COLUMNS = (
    "InstanceType",
    "vCPUs",
    "MemoryGiB",
    "AcceleratorName",
    "AcceleratorCount",
    "Region",
    "Price",
    "SpotPrice",
)
# GCP machine families with built-in GPUs -> SkyPilot accelerator name (GCP machine-type docs).
GCP_FAMILY_GPU = {
    "a2-highgpu": "A100",
    "a2-megagpu": "A100",
    "a2-ultragpu": "A100-80GB",
    "a3-highgpu": "H100",
    "a3-megagpu": "H100-MEGA",
    "a3-edgegpu": "H100",
    "a3-ultragpu": "H200",
    "g2-standard": "L4",
}
# g2 sizes -> L4 count, from skypilot-org/skypilot sky/catalog/gcp_catalog.py _ACC_INSTANCE_TYPE_DICTS.
G2_L4_COUNT = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}


def convert_skypilot_csv(
    path: Path, catalog: Catalog, source_note: str | None = None
) -> tuple[list[CloudInstance], int]:
    """Instances with GPUs found in ``path`` and the number of rows skipped (no GPU, no price)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read SkyPilot catalog ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    layouts = {"AWS": (AWS_COLUMNS, _aws_rows), "GCP": (GCP_COLUMNS, _gcp_rows)}
    provider = "AWS" if fields[1:2] == ["AcceleratorName"] else "GCP" if fields[1:2] == ["vCPUs"] else None
    if provider is None or not set(layouts[provider][0]) <= set(fields):
        raise UserError(
            f"{path}: not a SkyPilot AWS or GCP vms.csv; expected a header starting "
            f"'InstanceType,AcceleratorName,...' (AWS) or 'InstanceType,vCPUs,...' (GCP)"
        )
    rows = list(reader)
    today = datetime.now(UTC).date().isoformat()
    source = (
        f"SkyPilot catalog CSV {path.name}"
        + (f" ({source_note})" if source_note else "")
        + f", converted by capplan {today}"
    )
    convert = layouts[provider][1]
    return convert(rows, catalog, source, today, path)


def _num(value: str | None, path: Path, line: int, field: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise UserError(f"{path}: row {line}: field {field!r}: {value!r} is not a number") from exc


def _gpu_name(catalog: Catalog, name: str) -> tuple[str, str | None]:
    acc = catalog.find_accelerator(name)
    return (acc.name, None) if acc else (name, f"GPU {name!r} is not in the capplan catalog")


def _aws_rows(
    rows: list[dict[str, str]], catalog: Catalog, source: str, today: str, path: Path
) -> tuple[list[CloudInstance], int]:
    groups: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    skipped = 0
    for line, row in enumerate(rows, start=2):
        if not row.get("AcceleratorName") or not row.get("Price"):
            skipped += 1
            continue
        groups[(row["InstanceType"], row["Region"])].append((line, row))
    out = []
    for (itype, region), members in groups.items():
        line, first = members[0]
        spots = [s for ln, r in members if (s := _num(r.get("SpotPrice"), path, ln, "SpotPrice")) is not None]
        gpu, note = _gpu_name(catalog, first["AcceleratorName"])
        out.append(
            _instance(
                "AWS",
                itype,
                region,
                gpu,
                first,
                path,
                line,
                _num(first["Price"], path, line, "Price"),
                min(spots) if spots else None,
                source,
                today,
                note,
            )
        )
    return out, skipped


def _gcp_gpu(itype: str) -> tuple[str, int] | None:
    match = re.fullmatch(r"([a-z0-9]+-[a-z]+)-(\d+)(g)?(-nolssd)?", itype)
    if not match or match.group(1) not in GCP_FAMILY_GPU:
        return None
    size = int(match.group(2))
    count = G2_L4_COUNT.get(size) if match.group(1) == "g2-standard" else size if match.group(3) else None
    return (GCP_FAMILY_GPU[match.group(1)], count) if count else None


def _gcp_rows(
    rows: list[dict[str, str]], catalog: Catalog, source: str, today: str, path: Path
) -> tuple[list[CloudInstance], int]:
    gpu_price: dict[tuple[str, int, str], tuple[float | None, float | None]] = {}
    hosts: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    skipped = 0
    for line, row in enumerate(rows, start=2):
        price = _num(row.get("Price"), path, line, "Price")
        spot = _num(row.get("SpotPrice"), path, line, "SpotPrice")
        if not row.get("InstanceType") and row.get("AcceleratorName"):
            count = int(_num(row.get("AcceleratorCount"), path, line, "AcceleratorCount") or 1)
            key = (row["AcceleratorName"], count, row["Region"])
            old = gpu_price.get(key, (price, spot))
            gpu_price[key] = (_min(old[0], price), _min(old[1], spot))
        elif row.get("InstanceType") and _gcp_gpu(row["InstanceType"]) and price is not None:
            hosts[(row["InstanceType"], row["Region"])].append((line, row))
        else:
            skipped += 1
    out = []
    for (itype, region), members in hosts.items():
        line, row = members[0]
        spots = [s for ln, r in members if (s := _num(r.get("SpotPrice"), path, ln, "SpotPrice")) is not None]
        acc_name, count = _gcp_gpu(itype)  # type: ignore[misc]
        gpu = gpu_price.get((acc_name, count, region))
        if gpu is None and (acc_name, 1, region) in gpu_price:
            one = gpu_price[(acc_name, 1, region)]
            gpu = (None if one[0] is None else one[0] * count, None if one[1] is None else one[1] * count)
        if gpu is None or gpu[0] is None:
            skipped += 1
            continue
        host = _num(row["Price"], path, line, "Price") or 0.0
        spot = min(spots) + gpu[1] if spots and gpu[1] is not None else None
        name, note = _gpu_name(catalog, acc_name)
        row = {**row, "AcceleratorCount": str(count)}
        out.append(_instance("GCP", itype, region, name, row, path, line, host + gpu[0], spot,
                             source + f"; total = host {host} + {count} x {acc_name} GPU price", today, note))
    return out, skipped


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _instance(
    provider: str,
    itype: str,
    region: str,
    gpu: str,
    row: dict[str, Any],
    path: Path,
    line: int,
    price: float | None,
    spot: float | None,
    source: str,
    today: str,
    note: str | None,
) -> CloudInstance:
    vcpus = _num(row.get("vCPUs"), path, line, "vCPUs")
    return CloudInstance(
        provider=provider, instance=itype, region=region, gpu_name=gpu,
        gpu_count=int(_num(row.get("AcceleratorCount"), path, line, "AcceleratorCount") or 0),
        vcpus=int(vcpus) if vcpus else None, ram_gib=_num(row.get("MemoryGiB"), path, line, "MemoryGiB"),
        on_demand_usd_per_hour=price, spot_usd_per_hour=spot, price_date=f"converted {today}",
        source=source, notes=note,
    )


def write_instances_csv(instances: list[CloudInstance], out: io.TextIOBase | Any) -> None:
    """Write rows in capplan's instance CSV layout (usable as a ``--catalog`` override file)."""
    fields = list(CloudInstance.model_fields)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for inst in instances:
        writer.writerow({k: ("" if v is None else v) for k, v in inst.model_dump().items()})
