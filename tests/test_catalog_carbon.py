"""Shipped carbon tables: pinned counts, a source, date and basis on every row, and user overrides."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from capplan.catalog import load_catalog
from capplan.costs import CarbonAssumptions
from capplan.errors import UserError


def test_grid_and_embodied_tables_are_pinned_and_sourced() -> None:
    cat = load_catalog(user_dir=False)
    assert len(cat.grid) == 151 and len(cat.embodied) == 6  # a change here is a reviewed data diff
    assert Counter(g.provider for g in cat.grid) == {
        "GCP": 29, "CoreWeave": 23, "Azure": 22, "AWS": 19, "Lambda": 18, "OCI": 17, "onprem": 13,
        "Nebius": 10,
    }
    assert all(g.source and g.source_date and g.basis and g.year == 2024 for g in cat.grid)
    # one basis per provider family, said on every row and in the short form shown beside figures
    assert {g.basis_short for g in cat.grid if g.provider == "GCP"} == {"Google 2024 operational"}
    assert {g.basis_short for g in cat.grid if g.provider == "onprem"} == {"Ember 2024 life-cycle"}
    assert {g.basis_short for g in cat.grid if g.provider not in ("GCP", "onprem")} == {
        "Electricity Maps 2024 life-cycle"
    }
    # region names collide across providers: lookups take provider and region
    assert cat.grid_intensity("AWS", "us-west-2").grid_gco2e_per_kwh == 109
    assert cat.grid_intensity("Lambda", "us-west-2").grid_gco2e_per_kwh != 109
    # the default on-prem intensity is the catalog's US row
    assert CarbonAssumptions().onprem_grid_gco2e_per_kwh == cat.onprem_grid("US").grid_gco2e_per_kwh == 383.55
    h100 = cat.embodied_for("H100")  # alias lookup
    assert h100 is not None and h100.kg_co2e_per_gpu == 164 and "SECOND-HAND" in (h100.notes or "")
    assert "DERIVED" in (h100.notes or "") and cat.embodied_for("NVIDIA L4") is None


def test_grid_rows_can_be_overridden_and_bad_rows_name_the_field(tmp_path: Path) -> None:
    good = tmp_path / "grid.csv"
    good.write_text(
        "provider,region,grid_gco2e_per_kwh,basis,year,source,source_date\n"
        "AWS,us-east-1,250,my utility contract,2025,supplier letter,2025-06-01\n",
        encoding="utf-8",
    )
    cat = load_catalog([good], user_dir=False)
    assert cat.grid_intensity("aws", "US-EAST-1").grid_gco2e_per_kwh == 250 and len(cat.grid) == 151
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "provider,region,grid_gco2e_per_kwh,basis,year,source,source_date\nAWS,x,-5,b,2024,s,2025\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError, match="grid_intensity row 1: field 'grid_gco2e_per_kwh'"):
        load_catalog([bad], user_dir=False)
