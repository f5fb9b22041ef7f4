"""The hardware and cloud catalog as the pages use it: loaded once, accelerators to pick from."""

from __future__ import annotations

from capplan.catalog import Accelerator, Catalog, load_catalog

__all__ = ["Accelerator", "Catalog", "accelerator_names", "costable_accelerators", "load_catalog"]


def accelerator_names(catalog: Catalog) -> list[str]:
    """Names of every catalog accelerator, in catalog order."""
    return [a.name for a in catalog.accelerators]


def costable_accelerators(catalog: Catalog) -> list[Accelerator]:
    """Accelerators that can be costed both ways: a TDP (power for on-prem) and at least one cloud
    instance."""
    return [a for a in catalog.accelerators if a.tdp_w and catalog.instances_for(a.name)]
