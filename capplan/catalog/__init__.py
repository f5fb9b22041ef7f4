"""Catalog of accelerators, cloud instances and purchase prices: dated, sourced figures plus user
override files."""

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

__all__ = [
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
    "load_catalog",
    "max_price_age_days",
    "price_age",
    "user_catalog_dir",
]
