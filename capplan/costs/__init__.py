"""Cost models: cloud prices and on-prem TCO with explicit, sourced, editable assumptions."""

from capplan.costs.cloud import (
    CloudAssumptions,
    CloudPrice,
    PricingModel,
    cloud_gpu_hour_cost_usd,
    cloud_price,
)
from capplan.costs.compare import (
    Comparison,
    CostSeries,
    UnitCosts,
    break_even_utilisation,
    compare_onprem_cloud,
    unit_costs,
)
from capplan.costs.finance import (
    HOURS_PER_MONTH,
    HOURS_PER_QUARTER,
    HOURS_PER_YEAR,
    break_even_period,
    npv_usd,
)
from capplan.costs.hardware import CloudOffer, HardwareComparison, compare_hardware
from capplan.costs.onprem import (
    OnPremAssumptions,
    ServerConfig,
    ServerTCO,
    onprem_gpu_hour_cost_usd,
    server_tco,
)

__all__ = [
    "HOURS_PER_MONTH",
    "HOURS_PER_QUARTER",
    "HOURS_PER_YEAR",
    "CloudAssumptions",
    "CloudOffer",
    "CloudPrice",
    "Comparison",
    "HardwareComparison",
    "CostSeries",
    "OnPremAssumptions",
    "PricingModel",
    "ServerConfig",
    "ServerTCO",
    "UnitCosts",
    "break_even_period",
    "break_even_utilisation",
    "cloud_gpu_hour_cost_usd",
    "cloud_price",
    "compare_hardware",
    "compare_onprem_cloud",
    "npv_usd",
    "onprem_gpu_hour_cost_usd",
    "server_tco",
    "unit_costs",
]
