"""Export stored records (JSON, CSV, Parquet) and import files back.

Importers form a registry: each entry says whether it recognises a file and parses it into
records. capplan's own formats are here; importers of external results add entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from capplan.errors import UserError
from capplan.results.importers import mlperf, optimum, serving
from capplan.results.schema import SCHEMA_VERSION, RunRecord
from capplan.results.store import dumps_records

EXPORT_FORMATS = ("json", "csv", "parquet")
# Record fields that are nested structures; CSV/Parquet hold them as JSON text so a round trip is lossless.
_NESTED = ("config", "inventory", "software", "metrics", "samples", "telemetry", "tags")
MAX_IMPORT_BYTES = 512 * 1024 * 1024


def export_records(records: Iterable[RunRecord], fmt: str, path: Path) -> int:
    """Write records to ``path`` in ``fmt``; returns the number written."""
    records = list(records)
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"--format: {fmt!r} is not supported; allowed: {', '.join(EXPORT_FORMATS)}")
    try:
        if fmt == "json":
            path.write_text(dumps_records(records), encoding="utf-8")
        else:
            frame = _to_frame(records)
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
    except OSError as exc:
        raise UserError(f"-o: cannot write {path}: {exc.strerror or exc}") from exc
    return len(records)


def _to_frame(records: list[RunRecord]) -> Any:
    import pandas as pd

    rows = []
    for r in records:
        doc = r.model_dump(mode="json")
        for key in _NESTED:
            doc[key] = json.dumps(doc[key], sort_keys=True)
        rows.append(doc)
    return pd.DataFrame(rows, columns=list(RunRecord.model_fields))


def _from_frame_rows(rows: list[dict[str, Any]], path: Path) -> list[RunRecord]:
    out = []
    for i, row in enumerate(rows, start=1):
        doc = {k: (None if _is_missing(v) else v) for k, v in row.items()}
        try:
            for key in _NESTED:
                doc[key] = json.loads(doc[key]) if doc.get(key) is not None else None
            doc = {k: v for k, v in doc.items() if v is not None}
            out.append(RunRecord.model_validate(doc))
        except (ValueError, TypeError, RecursionError) as exc:  # ValueError covers JSON and validation errors
            raise UserError(f"{path}: row {i}: {_describe(exc)}") from exc
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        return f"field {loc}: {err['msg']}"
    return str(exc).splitlines()[0]


# -- importers --------------------------------------------------------------------------------------
Importer = tuple[Callable[[Path, bytes], bool], Callable[[Path, bytes], list[RunRecord]]]


def _is_capplan_json(path: Path, head: bytes) -> bool:
    return b'"capplan-results"' in head


def _load_capplan_json(path: Path, data: bytes) -> list[RunRecord]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8/JSON, over-long integers, deep nesting
        raise UserError(f"{path}: malformed JSON ({_describe(exc)})") from exc
    if (
        not isinstance(doc, dict)
        or doc.get("format") != "capplan-results"
        or not isinstance(doc.get("records"), list)
    ):
        raise UserError(
            f"{path}: not a capplan export (expected an object with format=capplan-results and records)"
        )
    version = doc.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise UserError(f"{path}: schema_version {version!r} not supported; allowed: 1..{SCHEMA_VERSION}")
    out = []
    for i, item in enumerate(doc["records"], start=1):
        try:
            out.append(RunRecord.model_validate(item))
        except ValidationError as exc:
            raise UserError(f"{path}: record {i}: {_describe(exc)}") from exc
    return out


def _is_capplan_csv(path: Path, head: bytes) -> bool:
    return path.suffix.lower() == ".csv" and head.startswith(b"run_id,benchmark,kind")


def _load_capplan_csv(path: Path, data: bytes) -> list[RunRecord]:
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: malformed CSV ({_describe(exc)})") from exc
    return _from_frame_rows(frame.to_dict(orient="records"), path)  # pydantic converts "7", 7.0, numpy ints


def _is_parquet(path: Path, head: bytes) -> bool:
    return head.startswith(b"PAR1")


def _load_parquet(path: Path, data: bytes) -> list[RunRecord]:
    import io

    import pandas as pd

    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise UserError(f"{path}: unreadable Parquet file ({_describe(exc)})") from exc
    return _from_frame_rows(frame.to_dict(orient="records"), path)  # pydantic converts "7", 7.0, numpy ints


IMPORTERS: dict[str, Importer] = {
    "capplan-json": (_is_capplan_json, _load_capplan_json),
    "capplan-csv": (_is_capplan_csv, _load_capplan_csv),
    "capplan-parquet": (_is_parquet, _load_parquet),
    "mlperf-summary-log": (mlperf.is_summary_log, mlperf.load_summary_log),
    "mlperf-results-csv": (mlperf.is_results_csv, mlperf.load_results_csv),
    # before optimum-benchmark: a guidellm report also has top-level "config" and "backend" keys
    "vllm-bench-serve-json": (serving.is_vllm_bench, serving.load_vllm_bench),
    "guidellm-report-json": (serving.is_guidellm_report, serving.load_guidellm_report),
    "aiperf-profile-export-json": (serving.is_aiperf_export, serving.load_aiperf_export),
    "optimum-benchmark-json": (optimum.is_optimum_report, optimum.load_optimum_report),
}


def read_import_file(path: Path) -> list[RunRecord]:
    """Parse ``path`` with the first importer that recognises it."""
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise UserError(f"{path}: file is {size} bytes; the import limit is {MAX_IMPORT_BYTES} bytes")
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise UserError(f"{path}: is a directory; give a file") from exc
    except OSError as exc:
        raise UserError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    head = data[:4096]
    for detect, load in IMPORTERS.values():
        if detect(path, head):
            return _storable(path, load(path, data))
    raise UserError(f"{path}: unknown result format; allowed: {', '.join(IMPORTERS)}")


def _storable(path: Path, records: list[RunRecord]) -> list[RunRecord]:
    """Refuse records the store could not write (e.g. a lone surrogate from a JSON "\\ud800" escape)."""
    for i, r in enumerate(records, start=1):
        try:
            r.model_dump_json()
        except PydanticSerializationError as exc:
            raise UserError(f"{path}: record {i}: cannot be stored ({_describe(exc)})") from exc
    return records
