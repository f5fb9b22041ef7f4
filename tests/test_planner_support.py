"""Helpers shared by the planner tests: a tiny, self-contained catalog and plan builder (no shipped data)."""

from __future__ import annotations

import copy
from typing import Any

from capplan.catalog import Accelerator, Catalog, CloudInstance
from capplan.planner import Plan, load_plan


def tiny_catalog(price_a_usd_per_hour: float = 4.0, price_b_usd_per_hour: float = 2.0) -> Catalog:
    """One accelerator type, rentable in two regions at different prices (on-demand and spot)."""
    acc = Accelerator(
        name="GPU-A", vendor="Test", memory_gib=80, mem_bw_gbps=2000, bf16_tflops_dense=500, tdp_w=500,
        source="test fixture", source_date="2026-01-15",
    )
    common = {
        "provider": "TestCloud",
        "gpu_name": "GPU-A",
        "gpu_count": 1,
        "price_date": "2026-01-15",
        "source": "test fixture",
    }
    insts = [
        CloudInstance(instance="a1", region="r1", on_demand_usd_per_hour=price_a_usd_per_hour,
                      spot_usd_per_hour=price_a_usd_per_hour / 2, **common),
        CloudInstance(instance="b1", region="r2", on_demand_usd_per_hour=price_b_usd_per_hour,
                      spot_usd_per_hour=price_b_usd_per_hour / 2, **common),
    ]
    return Catalog([acc], insts, [])


BASE: dict[str, Any] = {
    "name": "test plan",
    "start": "2026-01-01",
    "horizon_quarters": 4,
    "candidates": {
        "onprem": [
            {
                "accelerator": "GPU-A",
                "gpus_per_server": 4,
                "gpu_price_usd": 10000,
                "price_source": "test quote",
                "lead_time_weeks": 0,
            }
        ]
    },
    "solver": {"mip_rel_gap": 0.0},
    "assumptions": {
        "cloud": {"derive_reserved_from_on_demand": False}
    },  # the fixture cites no reserved prices
    "workloads": [
        {
            "name": "svc",
            "type": "inference",
            "model": {
                "per_device": {"GPU-A": {"throughput_per_s": 100, "latency_ms": 50, "source": "test figure"}}
            },
            "demand": {"now": 300, "unit": "qps", "growth_pct_per_quarter": 10},
            "slo": {"p99_latency_ms": 200, "availability_pct": 99.9},
            "burstiness": 2.0,
        }
    ],
}


def make_plan(**changes: Any) -> Plan:
    """BASE with top-level keys replaced and ``workload`` keys merged into the first workload."""
    data = copy.deepcopy(BASE)
    workload = changes.pop("workload", {})
    data.update(changes)
    data["workloads"][0].update(workload)
    return load_plan(data)
