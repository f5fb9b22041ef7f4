"""Carbon assumptions: grid intensity of owned data centres, cloud PUE, embodied emissions defaults.

Per-region grid intensities and per-GPU embodied figures come from the catalog (``grid_intensity.csv``,
``embodied_emissions.csv``); the arithmetic is in ``capplan.costs.engine``.
"""

from __future__ import annotations

from capplan.costs.assumptions import AssumptionSet, assumption

_EMBER_US = (
    "catalog grid_intensity.csv row onprem/US: Ember 2024 US power-sector average, life-cycle basis "
    "(thegreenwebfoundation/co2.js data/output/average-intensities.json @ b459b5e5, 2025-08-03); "
    "set your own site's figure"
)
_CCF = (
    "Cloud Carbon Footprint coefficients (cloud-carbon-footprint/ccf-coefficients ccfcoef/constants.py "
    "@ 0bdac997, 2023-04-26)"
)


class CarbonAssumptions(AssumptionSet):
    """Editable carbon assumptions (cloud regions' grid intensities are catalog rows)."""

    onprem_grid_gco2e_per_kwh: float = assumption(
        383.55,
        unit="gCO2e/kWh",
        le=2000,
        description="carbon intensity of the electricity of the owned data centre",
        source=_EMBER_US,
    )
    cloud_pue: float = assumption(
        1.10,
        unit="ratio",
        ge=1.0,
        le=4.0,
        description="power usage effectiveness of cloud data centres (facility energy per IT energy)",
        source="Google fleet PUE 1.10 (Q2 2021), as reported by CNBC 2022-04-13 "
        "(https://www.cnbc.com/2022/04/13/google-data-center-goal-100percent-green-energy-by-2030.html)",
    )
    embodied_kg_per_gpu_default: float = assumption(
        150.0,
        unit="kgCO2e/GPU",
        description="embodied emissions of a GPU the catalog has no cited figure for",
        source=_CCF + ": model constant for one additional GPU card (not a measured PCF)",
    )
    embodied_kg_per_server_host: float = assumption(
        3476.79,
        unit="kgCO2e/server",
        description="embodied emissions of one server without its GPUs (chassis, CPUs, DRAM, storage)",
        source="derived: CCF model estimate of an AWS p4d.24xlarge host, 4676.79 kg, minus its 8 x 150 kg "
        "GPU term (ccf-coefficients output/coefficients-aws-embodied.csv @ e31b0d53, 2021-12-15); a model "
        "output, not a vendor PCF",
    )
    cloud_hardware_life_years: float = assumption(
        6.0,
        unit="years",
        ge=0.5,
        le=15,
        description="life over which a cloud provider's embodied emissions are spread per rented GPU-hour",
        source="hyperscaler 10-K server useful lives (Microsoft, Alphabet 6 y)",
    )
