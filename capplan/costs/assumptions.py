"""Assumption fields: every knob has a default, a unit, a description and a cited source."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PLANNING_ASSUMPTION = "capplan planning assumption (no public survey behind it); replace with your own figure"


def assumption(
    default: float | int | bool,
    *,
    unit: str,
    description: str,
    source: str,
    ge: float | None = 0.0,
    le: float | None = None,
) -> Any:
    """A pydantic field carrying its unit and source in the JSON schema, finite and range-checked."""
    extra = {"unit": unit, "source": source}
    if isinstance(default, bool):
        return Field(default, description=description, json_schema_extra=extra)
    return Field(default, description=description, ge=ge, le=le, allow_inf_nan=False, json_schema_extra=extra)


class AssumptionSet(BaseModel):
    """Base of the assumption groups; ``table()`` lists them for reports."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def table(self, group: str) -> list[dict[str, Any]]:
        """One row per assumption: group, name, value, unit, description, source (plan-set values say so)."""
        rows = []
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            source = str(extra.get("source", ""))
            if name in self.model_fields_set:
                source = f"set in the plan file (default {info.default!r}: {source})"
            rows.append(
                {
                    "group": group,
                    "name": name,
                    "value": getattr(self, name),
                    "unit": extra.get("unit", ""),
                    "description": info.description or "",
                    "source": source,
                }
            )
        return rows
