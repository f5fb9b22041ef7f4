"""Carbon data rows: grid carbon intensity per cloud region / on-prem location, embodied emissions per GPU.

Shipped in ``capplan/catalog/data/grid_intensity.csv`` and ``embodied_emissions.csv`` (sources, dates and
the emission-factor basis on every row; see each row's ``basis`` and ``notes``); users override rows the
same way as accelerators and instances (``--catalog`` files or the user catalog directory).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ONPREM_PROVIDER = "onprem"  # provider value of the rows for owned data centres (keyed by country/area)
_DATE = r"^\d{4}-\d{2}-\d{2}$"


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GridIntensity(_Row):
    """Average carbon intensity of the electricity grid behind one cloud region or on-prem location."""

    provider: str = Field(min_length=1, description="cloud provider, or 'onprem' for owned data centres")
    region: str = Field(min_length=1, description="provider's region id, or a country/area code for onprem")
    country: str | None = None
    grid_gco2e_per_kwh: float = Field(gt=0, lt=2000, allow_inf_nan=False, description="gCO2e per kWh")
    basis: str = Field(min_length=1, description="what the factor counts (operational/life-cycle, zone)")
    year: int = Field(ge=2000, le=2100, description="year the average covers")
    source: str = Field(min_length=1)
    source_date: str = Field(pattern=_DATE, description="date of the cited source version (YYYY-MM-DD)")
    notes: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider.lower(), self.region.lower())

    @property
    def basis_short(self) -> str:
        """A few words naming the basis: whose factor and whether it is life-cycle."""
        b = self.basis.lower()
        who = "Google" if b.startswith("google") else "Ember" if "ember" in b else "Electricity Maps"
        kind = "operational" if "operational" in b else "life-cycle" if "life-cycle" in b else "average"
        return f"{who} {self.year} {kind}"


class EmbodiedEmission(_Row):
    """Manufacturing (embodied) emissions of one accelerator, per GPU."""

    accelerator: str = Field(min_length=1, description="accelerator name as in the catalog")
    kg_co2e_per_gpu: float = Field(gt=0, lt=100_000, allow_inf_nan=False)
    scope: str = Field(min_length=1, description="what the figure covers (cradle-to-gate, host share)")
    source: str = Field(min_length=1)
    source_date: str = Field(pattern=_DATE, description="publication or reading date (YYYY-MM-DD)")
    date_kind: Literal["published", "read"] = Field(description="whether source_date is when it was read")
    notes: str | None = None
