"""Catalog of accelerators, cloud instances, purchase prices, cloud regions, grid intensities and embodied
emissions: dated, sourced facts plus user override files."""

from capplan.catalog.carbon import ONPREM_PROVIDER, EmbodiedEmission, GridIntensity
from capplan.catalog.freshness import DEFAULT_MAX_PRICE_AGE_DAYS, PriceAge, max_price_age_days, price_age
from capplan.catalog.loader import Catalog, Finding, load_catalog, user_catalog_dir
from capplan.catalog.models import (
    PRICE_MODELS,
    Accelerator,
    CloudInstance,
    PriceModel,
    PurchasePrice,
    PurchasePriceRow,
)
from capplan.catalog.regions import Region, RegionTable, missing_instance_regions, qualified_name

__all__ = [
    "ONPREM_PROVIDER",
    "EmbodiedEmission",
    "GridIntensity",
    "DEFAULT_MAX_PRICE_AGE_DAYS",
    "PRICE_MODELS",
    "Accelerator",
    "Catalog",
    "CloudInstance",
    "Finding",
    "PriceAge",
    "PriceModel",
    "PurchasePrice",
    "PurchasePriceRow",
    "Region",
    "RegionTable",
    "load_catalog",
    "max_price_age_days",
    "missing_instance_regions",
    "price_age",
    "qualified_name",
    "user_catalog_dir",
]
