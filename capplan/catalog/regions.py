"""Cloud regions as jurisdictions: (provider, region) -> location, ISO 3166 country, economic areas.

Region names are unique only per provider (AWS and Lambda both name a region "us-east-1"; GCP and Nebius
both have "us-central1"), so every lookup takes the provider too, and a region is written
``provider:region`` (``aws:us-east-1``) wherever one string must name it. Economic-area membership (EU,
EEA) has one definition, ``data/economic_areas.csv``; a region row's ``economic_area`` must agree with it
and is filled from it when left empty. Shipped rows: ``data/regions.csv`` (source and date per row).
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
from collections.abc import Iterable, Iterator
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, Any

import pycountry
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from capplan.catalog.loader import Catalog
    from capplan.catalog.models import CloudInstance

# Codes people write that ISO 3166-1 spells differently (the EU itself writes Greece as EL).
_NOT_ISO = {"UK": "GB (United Kingdom)", "EL": "GR (Greece)"}


@functools.cache
def economic_areas() -> dict[str, frozenset[str]]:
    """Economic area (EU, EEA) -> its member countries (ISO 3166-1 alpha-2), from economic_areas.csv."""
    text = (resources.files("capplan.catalog") / "data" / "economic_areas.csv").read_text(encoding="utf-8")
    out: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        out.setdefault(row["economic_area"], set()).add(row["country_iso2"])
    return {area: frozenset(members) for area, members in out.items()}


def economic_areas_of(country_iso2: str) -> tuple[str, ...]:
    """The economic areas a country belongs to, e.g. 'DE' -> ('EU', 'EEA'); () for none."""
    return tuple(sorted((a for a, m in economic_areas().items() if country_iso2 in m), key=_area_order))


def _area_order(area: str) -> tuple[int, str]:
    return (len(economic_areas().get(area, ())), area)  # smaller (more specific) area first: EU before EEA


def not_yaml_boolean(value: Any) -> Any:
    """Refuse the YAML 1.1 boolean a bare NO (Norway) becomes, naming the fix; other values pass."""
    if isinstance(value, bool):
        raise ValueError(f"got {value}: YAML reads a bare NO (Norway) as false; quote the code: 'NO'")
    return value


def country_code(text: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased; ValueError naming the fix otherwise."""
    code = text.strip().upper()
    if code in _NOT_ISO:
        raise ValueError(f"{text!r} is not an ISO 3166-1 alpha-2 code; write {_NOT_ISO[code]}")
    if len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None:
        return code
    found = pycountry.countries.get(alpha_3=code) if len(code) == 3 else None
    hint = f"; write {found.alpha_2} ({found.name})" if found is not None else ""
    raise ValueError(f"{text!r} is not an ISO 3166-1 alpha-2 country code (US, DE, GB...){hint}")


def jurisdiction(text: str) -> str:
    """A jurisdiction a plan may name: an ISO 3166-1 alpha-2 country or an economic area (EU, EEA)."""
    token = text.strip().upper()
    if token in economic_areas():
        return token
    try:
        return country_code(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; or an economic area: {', '.join(sorted(economic_areas()))}") from None


def country_name(code: str) -> str:
    found = pycountry.countries.get(alpha_2=code)
    return found.name if found is not None else code


def qualified_name(provider: str, region: str) -> str:
    """The one-string name of a cloud region: 'aws:us-east-1' (provider lower-case, region as written)."""
    return f"{provider.strip().lower()}:{region.strip()}"


def region_key(provider: str, region: str) -> tuple[str, str]:
    """Case-insensitive identity of a cloud region."""
    return (provider.strip().lower(), region.strip().lower())


class Region(BaseModel):
    """One cloud region of one provider, with where it is and whose law applies."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: str = Field(min_length=1, description="provider as the instance catalog spells it (AWS...)")
    region: str = Field(min_length=1, description="the provider's region id, e.g. us-east-1")
    location: str = Field(min_length=1, description="city/state/country as the source gives it")
    country_iso2: str = Field(description="ISO 3166-1 alpha-2 country the region's data centres are in")
    economic_area: list[str] = Field(
        default_factory=list, description="economic areas of that country (EU, EEA); filled when empty"
    )
    source: str = Field(min_length=1, description="page or file (with commit) the row comes from")
    source_date: str = Field(description="YYYY-MM-DD the source was published or read")
    notes: str | None = None

    @field_validator("country_iso2", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        value = not_yaml_boolean(value)
        return country_code(value) if isinstance(value, str) else value

    @field_validator("economic_area", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [a.strip().upper() for a in value.split(";") if a.strip()]
        return value

    @field_validator("source_date")
    @classmethod
    def _date(cls, value: str) -> str:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}") from None
        if len(value) != 10:
            raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}")
        if day > date.today():
            raise ValueError(f"{value} lies in the future; give the date the source was published or read")
        return day.isoformat()

    @model_validator(mode="after")
    def _areas_agree(self) -> Region:
        expected = list(economic_areas_of(self.country_iso2))
        if not self.economic_area:
            self.economic_area = expected
        elif sorted(self.economic_area) != sorted(expected):
            raise ValueError(
                f"economic_area {';'.join(self.economic_area)!r} disagrees with {self.country_iso2}'s "
                f"membership {';'.join(expected) or '(none)'!r} (capplan/catalog/data/economic_areas.csv)"
            )
        return self

    @property
    def qualified(self) -> str:
        return qualified_name(self.provider, self.region)

    @property
    def key(self) -> tuple[str, str]:
        return region_key(self.provider, self.region)

    def jurisdictions(self) -> tuple[str, ...]:
        """Country first, then its economic areas: ('DE', 'EU', 'EEA')."""
        return (self.country_iso2, *self.economic_area)

    def describe(self) -> str:
        """'US East (N. Virginia), US' or 'Frankfurt, DE, EU/EEA'."""
        areas = f", {'/'.join(self.economic_area)}" if self.economic_area else ""
        return f"{self.location}, {self.country_iso2}{areas}"


class RegionTable:
    """Regions by (provider, region), case-insensitive; regions sharing a name across providers."""

    def __init__(self, rows: Iterable[Region] = ()) -> None:
        self._rows: dict[tuple[str, str], Region] = {}
        for row in rows:
            self._rows[row.key] = row

    def __iter__(self) -> Iterator[Region]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, provider: str, region: str) -> Region | None:
        return self._rows.get(region_key(provider, region))

    def named(self, region: str) -> list[Region]:
        """Every provider's region called ``region`` (more than one means the bare name is ambiguous)."""
        wanted = region.strip().lower()
        return sorted((r for r in self._rows.values() if r.key[1] == wanted), key=lambda r: r.key)

    def merged(self, rows: Iterable[Region]) -> RegionTable:
        """A copy with ``rows`` added or replacing rows of the same (provider, region)."""
        return RegionTable([*self._rows.values(), *rows])

    def close_matches(self, text: str, n: int = 4) -> list[str]:
        names = {r.qualified.lower(): r.qualified for r in self._rows.values()}
        names.update({r.region.lower(): r.qualified for r in self._rows.values()})
        hits = difflib.get_close_matches(text.strip().lower(), list(names), n=n, cutoff=0.6)
        return list(dict.fromkeys(names[h] for h in hits))


def missing_instance_regions(catalog: Catalog) -> list[CloudInstance]:
    """The catalog's instances whose (provider, region) has no regions row (`capplan catalog check`
    reports each as an error: residency rules need every instance's country)."""
    return [i for i in catalog.instances if catalog.regions.get(i.provider, i.region) is None]
