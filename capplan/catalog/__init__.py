"""Catalog of accelerators and cloud instances: dated, sourced figures plus user override files."""

from capplan.catalog.carbon import ONPREM_PROVIDER, EmbodiedEmission, GridIntensity
from capplan.catalog.loader import Catalog, load_catalog, user_catalog_dir
from capplan.catalog.models import PRICE_MODELS, Accelerator, CloudInstance, PriceModel

__all__ = [
    "ONPREM_PROVIDER",
    "EmbodiedEmission",
    "GridIntensity",
    "PRICE_MODELS",
    "Accelerator",
    "Catalog",
    "CloudInstance",
    "PriceModel",
    "load_catalog",
    "user_catalog_dir",
]
