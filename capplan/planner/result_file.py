"""Read a result.json written by ``capplan plan --out``; anything else is refused with one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from capplan.errors import UserError
from capplan.planner.result import RESULT_FORMAT, RESULT_FORMAT_VERSION, PlanResult

_REGENERATE = "re-run `capplan plan PLAN.yaml --out DIR` with this capplan to write a current result.json"
_OLD_RESULT_KEYS = {"plan_name", "recommended_net_usd", "purchases"}  # what every capplan result had


def read_result_file(path: Path) -> PlanResult:
    """The plan result stored at ``path``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read result file ({exc.strerror or exc})") from exc
    return parse_result(data, str(path))


def parse_result(data: bytes | str, origin: str) -> PlanResult:
    """A plan result from result.json bytes; ``origin`` (file name) starts every error message."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc: Any = json.loads(text)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{origin}: not UTF-8 text; a plan result is the result.json that capplan plan writes"
        ) from exc
    except json.JSONDecodeError as exc:
        hint = " (the file ends early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise UserError(
            f"{origin}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from exc
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON may spell a lone UTF-16 surrogate ("\ud800"); no text holds one
        raise UserError(
            f"{origin}: holds a string that is not valid Unicode (a lone surrogate escape such as \\ud800); "
            "a plan result is the result.json that capplan plan writes"
        ) from exc
    if not isinstance(doc, dict):
        raise UserError(
            f"{origin}: not a capplan plan result (a JSON object with \"format\": \"{RESULT_FORMAT}\")"
        )
    fmt, version = doc.get("format"), doc.get("format_version")
    if fmt is None and _OLD_RESULT_KEYS <= doc.keys():
        raise UserError(
            f"{origin}: a plan result from an older capplan (before format_version {RESULT_FORMAT_VERSION}); "
            f"it lacks the demand, prices and plan inputs a comparison needs: {_REGENERATE}"
        )
    if fmt != RESULT_FORMAT:
        found = "no format field" if fmt is None else f"format {str(fmt)[:40]!r}"
        raise UserError(
            f"{origin}: not a capplan plan result ({found}; expected format {RESULT_FORMAT!r}, as in the "
            "result.json that `capplan plan --out DIR` writes)"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"{origin}: format_version must be a positive integer (got {str(version)[:20]!r})")
    if version > RESULT_FORMAT_VERSION:
        raise UserError(
            f"{origin}: plan result format_version {version} is from a newer capplan "
            f"(this one reads {RESULT_FORMAT_VERSION}); upgrade capplan"
        )
    if version < RESULT_FORMAT_VERSION:
        raise UserError(f"{origin}: plan result format_version {version} is out of date: {_REGENERATE}")
    try:
        return PlanResult.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "result"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserError(f"{origin}: not a valid plan result: {where}: {err['msg']}{more}") from exc
