"""Cost and carbon models: cloud prices and on-prem TCO with explicit, sourced, editable assumptions.

Every formula lives in ``capplan.costs.engine``; the other modules hold assumptions, data models and the
own-vs-rent assembly.
"""

from capplan.costs.carbon import CarbonAssumptions
from capplan.costs.cloud import PRICING_MODELS, CloudAssumptions, CloudPrice, PricingModel
from capplan.costs.compare import Comparison, CostSeries, compare_onprem_cloud
from capplan.costs.engine import (
    BILLING_MODE_TEXT,
    BILLING_MODES,
    BillingMode,
    Flows,
    PerUnit,
    break_even_period,
    break_even_utilisation,
    cloud_gpu_hour_cost_usd,
    cloud_price,
    npv_usd,
    onprem_gpu_hour_cost_usd,
    per_unit_of_work,
    server_tco,
)
from capplan.costs.finance import HOURS_PER_MONTH, HOURS_PER_QUARTER, HOURS_PER_YEAR
from capplan.costs.format import usd
from capplan.costs.hardware import CloudOffer, HardwareComparison, compare_hardware
from capplan.costs.onprem import OnPremAssumptions, ServerConfig, ServerTCO

__all__ = [
    "BILLING_MODES",
    "BILLING_MODE_TEXT",
    "HOURS_PER_MONTH",
    "HOURS_PER_QUARTER",
    "HOURS_PER_YEAR",
    "PRICING_MODELS",
    "BillingMode",
    "CarbonAssumptions",
    "CloudAssumptions",
    "CloudOffer",
    "CloudPrice",
    "Comparison",
    "CostSeries",
    "Flows",
    "HardwareComparison",
    "OnPremAssumptions",
    "PerUnit",
    "PricingModel",
    "ServerConfig",
    "ServerTCO",
    "break_even_period",
    "break_even_utilisation",
    "cloud_gpu_hour_cost_usd",
    "cloud_price",
    "compare_hardware",
    "compare_onprem_cloud",
    "npv_usd",
    "onprem_gpu_hour_cost_usd",
    "per_unit_of_work",
    "server_tco",
    "usd",
]
