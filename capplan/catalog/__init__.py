"""Catalog of accelerators, cloud instances and cloud regions: dated, sourced facts plus user override
files."""

from capplan.catalog.loader import Catalog, load_catalog, user_catalog_dir
from capplan.catalog.models import PRICE_MODELS, Accelerator, CloudInstance, PriceModel
from capplan.catalog.regions import Region, RegionTable, missing_instance_regions, qualified_name

__all__ = [
    "PRICE_MODELS",
    "Accelerator",
    "Catalog",
    "CloudInstance",
    "PriceModel",
    "Region",
    "RegionTable",
    "load_catalog",
    "missing_instance_regions",
    "qualified_name",
    "user_catalog_dir",
]
