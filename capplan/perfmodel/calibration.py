"""Choosing the efficiency of a projection from calibration points, its 80% band and the Server factor.

Which points calibrate a projection (first tier with any point wins; every tier keeps the task):
1. same workload, same accelerator;      5. same workload, any device of the same class (CPU or not);
2. same workload, same architecture;     6. same family, same accelerator;
3. same workload, same vendor and kind;  7. same family, same device kind;
4. same workload, same device kind;      8. any workload, same device kind.
Within a tier, points in the projection's dtype are preferred, then of its MLPerf accuracy target
(a 99.9% variant such as dlrm-v2-99.9 can need more exact arithmetic), then in its scenario. A CPU
measurement never calibrates an accelerator projection. With no point at all a documented default is
used and flagged. In tier 1 every point counts once; in the cross-device tiers every accelerator
counts once (the median of its points), so a device with a hundred submissions does not outvote the
rest and the spread is the spread between devices.

Scenarios: MLPerf Server results are latency-bounded. Where a tier has points in the projection's
scenario they are used as measured. Otherwise the other scenario's points are converted with the
Server/Offline factor learned from the systems that published both for the same benchmark: the median
ratio per workload, else per family, else over all pairs.

Band: efficiencies are treated as log-normal around the median. The spread is the chosen points' own
(log) standard deviation, shrunk toward the pooled spread of the calibration set's points of the
same task at the same level (within a device: groups of like results; between devices: the
accelerators' mean log efficiency for each workload) with the weight of PRIOR_POINTS points, and
widened for the uncertainty of the median; the band is the central BAND_COVERAGE interval.
Validation reports how often held-out results fall in it.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from capplan.catalog import Accelerator
from capplan.perfmodel.desc import WorkloadDesc
from capplan.perfmodel.points import (
    CalibrationPoint,
    gather_points,
    make_point,
    point_from_record,
    published_points,
    resolve_device,
)

__all__ = [
    "BAND_COVERAGE",
    "Calibration",
    "CalibrationPoint",
    "Context",
    "PointTable",
    "ServerFactors",
    "TIERS",
    "gather_points",
    "make_point",
    "point_from_record",
    "published_points",
    "resolve_device",
    "select",
    "server_factors",
]

# No calibration point: assume half of the roofline, band a quarter to three quarters. This is an
# assumption, not a measurement; projections using it say so ("uncalibrated").
DEFAULT_EFFICIENCY = 0.5
DEFAULT_EFFICIENCY_BAND = (0.25, 0.75)
BAND_COVERAGE = 0.8
Z_BAND = statistics.NormalDist().inv_cdf(0.5 + BAND_COVERAGE / 2)  # 1.2816 for a central 80% interval
PRIOR_POINTS = 2.0
# With a native peak the central projection never beats the roofline; where the dtype runs at a wider
# precision's peak (4-bit on an 8-bit peak, see roofline.PEAK_FALLBACK) measured efficiencies can exceed 1.
MAX_EFFICIENCY = 1.0
TIERS = (
    "same workload, same accelerator",
    "same workload, same architecture",
    "same workload, same vendor",
    "same workload, same device kind",
    "same workload, same device class",
    "same family, same accelerator",
    "same family, same device kind",
    "same task, same device kind",
)


class Calibration(BaseModel):
    """Efficiency chosen for one projection (in its scenario), with its band and the points behind it."""

    efficiency: float
    low: float
    high: float
    tier: str
    points: list[CalibrationPoint]
    server_factor: float | None = Field(None, description="Server/Offline factor applied, when one was")
    server_pairs: int = 0
    scenario_basis: str = Field("", description="how the scenario was handled (measured, or converted)")


@dataclass(frozen=True)
class ServerFactors:
    """Server/Offline throughput ratios: (median ratio, system pairs) per workload and per family."""

    by_workload: dict[str, tuple[float, int]]
    by_family: dict[str, tuple[float, int]]
    overall: tuple[float, int]

    def factor(self, workload: str, family: str) -> tuple[float, int, str]:
        """(factor, pairs, level) for a workload: its own pairs, else its family's, else all pairs."""
        if workload in self.by_workload:
            return (*self.by_workload[workload], f"{workload} pairs")
        if family in self.by_family:
            return (*self.by_family[family], f"{family}-family pairs")
        return (*self.overall, "pairs of all workloads")


class PointTable:
    """Points as numpy columns (and integer group codes), so that selecting and validating over
    hundreds of points stays fast."""

    def __init__(self, points: Sequence[CalibrationPoint]) -> None:
        self.points = list(points)

        def col(attr: str) -> np.ndarray:
            return np.array([str(getattr(p, attr) or "") for p in self.points], dtype=object)

        self.workload, self.family, self.task, self.dtype = (
            col("workload"),
            col("family"),
            col("task"),
            col("dtype"),
        )
        self.accelerator, self.arch, self.vendor, self.kind = (
            col("accelerator"),
            col("arch"),
            col("vendor"),
            col("device_kind"),
        )
        self.scenario, self.system, self.benchmark = col("scenario"), col("system"), col("benchmark")
        self.variant = col("variant")
        self.efficiency = np.array([p.efficiency for p in self.points], dtype=float)
        self.log_eff = np.log(self.efficiency) if len(self.points) else np.zeros(0)
        self.cpu = self.kind == "cpu"
        self._ids: dict[str, tuple[dict[str, int], np.ndarray]] = {}
        for name in (
            "workload",
            "family",
            "task",
            "dtype",
            "variant",
            "accelerator",
            "arch",
            "vendor",
            "kind",
            "scenario",
        ):
            values, codes = (
                np.unique(getattr(self, name), return_inverse=True)
                if len(self.points)
                else (np.zeros(0, object), np.zeros(0, int))
            )
            self._ids[name] = ({str(v): i for i, v in enumerate(values)}, codes.astype(int))
        self.like = _codes(self.workload, self.accelerator, self.dtype, self.variant, self.scenario)
        self.device = _codes(self.workload, self.accelerator)
        self.device_workload = np.zeros(int(self.device.max(initial=-1)) + 1, int)
        self.device_workload[self.device] = _codes(self.workload)
        # Offline/Server pairs: the same system's two results for one benchmark (mlperf-<bench>-<scenario>).
        seen: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for i, (system, bench, scen) in enumerate(
            zip(self.system, self.benchmark, self.scenario, strict=True)
        ):
            if scen:
                seen[(system, bench.rsplit("-", 1)[0])][scen] = i
        both = [(by["offline"], by["server"]) for by in seen.values() if "offline" in by and "server" in by]
        self.pair_offline = np.array([o for o, _ in both], int)
        self.pair_server = np.array([v for _, v in both], int)

    def __len__(self) -> int:
        return len(self.points)

    def equals(self, column: str, value: str | None) -> np.ndarray:
        """Mask of the points whose ``column`` is ``value`` (fast integer comparison)."""
        index, codes = self._ids[column]
        return codes == index.get(value or "", -1)


def _codes(*columns: np.ndarray) -> np.ndarray:
    """One integer per distinct combination of ``columns`` values."""
    if not len(columns[0]):
        return np.zeros(0, int)
    keys = np.array(["\x1f".join(parts) for parts in zip(*columns, strict=True)], dtype=object)
    return np.unique(keys, return_inverse=True)[1].astype(int)


def server_factors(table: PointTable, keep: np.ndarray | None = None) -> ServerFactors:
    """Median Server/Offline ratio of the systems with both results for one benchmark (``keep`` masks)."""
    keep = np.ones(len(table), bool) if keep is None else keep
    valid = (
        keep[table.pair_offline] & keep[table.pair_server] if len(table.pair_offline) else np.zeros(0, bool)
    )
    off, srv = table.pair_offline[valid], table.pair_server[valid]
    ratios = table.efficiency[srv] / table.efficiency[off]

    def med(names: np.ndarray) -> dict[str, tuple[float, int]]:
        groups: dict[str, list[float]] = defaultdict(list)
        for name, ratio in zip(names, ratios, strict=True):
            groups[str(name)].append(float(ratio))
        return {k: (statistics.median(v), len(v)) for k, v in groups.items()}

    overall = (float(np.median(ratios)), len(ratios)) if len(ratios) else (1.0, 0)
    return ServerFactors(med(table.workload[off]), med(table.family[off]), overall)


class Context:
    """What selection needs about one calibration set: the points it may use, Server factors, each
    point's Offline and Server equivalents, and the pooled spreads for the band."""

    def __init__(
        self, table: PointTable, keep: np.ndarray | None = None, factors: ServerFactors | None = None
    ) -> None:
        self.table = table
        self.keep = np.ones(len(table), bool) if keep is None else keep
        self.factors = factors or server_factors(table, self.keep)
        by_name = {
            (w, f): self.factors.factor(w, f)[0]
            for w, f in set(zip(table.workload, table.family, strict=True))
        }
        ratio = np.array([by_name[(w, f)] for w, f in zip(table.workload, table.family, strict=True)])
        server = table.scenario == "server"
        self.offline_eff = (
            np.where(server, table.efficiency / ratio, table.efficiency) if len(table) else ratio
        )
        self.server_eff = (
            np.where(server, table.efficiency, table.efficiency * ratio) if len(table) else ratio
        )
        self._spreads: dict[str, tuple[float, float]] = {}

    def spreads(self, task: str) -> tuple[float, float]:
        """(within-device, between-device) pooled log-SD of the kept points of ``task``."""
        if task not in self._spreads:
            t = self.table
            keep = self.keep & t.equals("task", task)
            within = _pooled_sd(t.like[keep], t.log_eff[keep])
            logs = np.log(self.offline_eff[keep]) if len(t) else np.zeros(0)
            devices = t.device[keep]
            count = np.bincount(devices, minlength=len(t.device_workload))
            present = count > 0
            means = np.bincount(devices, weights=logs, minlength=len(count))[present] / count[present]
            self._spreads[task] = (within, _pooled_sd(t.device_workload[present], means))
        return self._spreads[task]


def _pooled_sd(groups: np.ndarray, values: np.ndarray) -> float:
    """Pooled standard deviation of ``values`` within ``groups`` (integer codes); 0.25 when no group has
    two values."""
    if not len(values):
        return 0.25
    n = np.bincount(groups)
    total = np.bincount(groups, weights=values)
    squares = np.bincount(groups, weights=values**2)
    many = n > 1
    dof = float(np.sum(n[many] - 1))
    ss = float(np.sum(squares[many] - total[many] ** 2 / n[many]))
    return math.sqrt(max(ss, 0.0) / dof) if dof else 0.25


def _tier_masks(desc: WorkloadDesc, target: Accelerator, t: PointTable, keep: np.ndarray) -> list[np.ndarray]:
    cls = keep & t.equals("task", desc.task) & (t.cpu == (target.kind == "cpu"))
    base = cls & t.equals("kind", target.kind)
    same_workload = t.equals("workload", desc.name)
    work, fam = base & same_workload, base & t.equals("family", desc.family)
    same_acc = t.equals("accelerator", target.name)
    return [
        work & same_acc,
        work & t.equals("arch", target.arch or "\0"),
        work & t.equals("vendor", target.vendor),
        work,
        cls & same_workload,
        fam & same_acc,
        fam,
        base,
    ]


def _summary(values: np.ndarray, accelerators: np.ndarray, per_device: bool) -> tuple[float, np.ndarray]:
    """The median and the log-values the spread is computed over: points, or accelerator medians."""
    if not per_device:
        return float(np.median(values)), np.log(values)
    medians = np.array([np.median(values[accelerators == a]) for a in np.unique(accelerators)])
    return float(np.median(medians)), np.log(medians)


def select(
    desc: WorkloadDesc,
    target: Accelerator,
    context: Context,
    scenario: str | None = None,
    *,
    native_peak: bool = True,
) -> Calibration:
    """Efficiency for ``desc`` on ``target`` in ``scenario`` (offline/server/None) from ``context``."""
    t = context.table
    factor, pairs, level = context.factors.factor(desc.name, desc.family)
    for number, (tier, mask) in enumerate(
        zip(TIERS, _tier_masks(desc, target, t, context.keep), strict=True)
    ):
        if not mask.any():
            continue
        same_dtype = mask & t.equals("dtype", desc.dtype)
        chosen = same_dtype if same_dtype.any() else mask
        same_variant = chosen & t.equals("variant", desc.variant or "99")
        chosen = same_variant if same_variant.any() else chosen
        used_factor: float | None = None
        in_scenario = chosen & t.equals("scenario", scenario)
        if scenario in {"offline", "server"} and in_scenario.any():
            chosen = in_scenario
            values, basis = t.efficiency[chosen], f"{scenario} points as measured"
        elif scenario == "server":
            values, used_factor = context.server_eff[chosen], factor
            basis = f"offline points x the Server/Offline factor {factor:.3f} ({pairs} {level})"
        else:
            values, basis = context.offline_eff[chosen], "offline equivalents"
        per_device = number > 0
        mid, logs = _summary(values, t.accelerator[chosen], per_device)
        within, between = context.spreads(desc.task)
        prior = between if per_device else within
        n = len(logs)
        spread = float(np.sum((logs - math.log(mid)) ** 2))
        sd = math.sqrt((spread + PRIOR_POINTS * prior**2) / (n - 1 + PRIOR_POINTS) * (1 + 1 / n))
        if native_peak:
            mid = min(mid, MAX_EFFICIENCY)
        return Calibration(
            efficiency=mid,
            low=mid * math.exp(-Z_BAND * sd),
            high=mid * math.exp(Z_BAND * sd),
            tier=tier,
            points=[t.points[i] for i in np.flatnonzero(chosen)],
            server_factor=used_factor,
            server_pairs=pairs if used_factor else 0,
            scenario_basis=basis,
        )
    scale = factor if scenario == "server" else 1.0
    return Calibration(
        efficiency=DEFAULT_EFFICIENCY * scale,
        low=DEFAULT_EFFICIENCY_BAND[0] * scale,
        high=DEFAULT_EFFICIENCY_BAND[1] * scale,
        tier="uncalibrated (default efficiency)",
        points=[],
        server_factor=factor if scenario == "server" else None,
        server_pairs=pairs if scenario == "server" else 0,
        scenario_basis="default efficiency",
    )
