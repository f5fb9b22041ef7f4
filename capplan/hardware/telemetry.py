"""Background telemetry sampler: CPU/RSS/system memory via psutil, GPU via NVML, energy counters.

GPUs are named by UUID (capplan.hardware.inventory.cuda_devices maps CUDA ordinals to UUIDs); several
GPUs (a torchrun node's ranks) are summarised together, see ``_GpuGroup``.

Energy is read from counters where the platform exposes them (NVML total energy, RAPL powercap);
otherwise GPU energy is integrated from sampled power, and CPU energy is recorded as None — never
estimated from TDP or load.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from capplan.hardware.nvml import handle_by_uuid, nvml_session

# 5 Hz: fine enough for >1 s benchmarks while costing the measured process's cores next to nothing.
DEFAULT_INTERVAL_S = 0.2
TREE_REFRESH_S = 1.0  # listing descendants scans all of /proc, so it is refreshed only this often
RAPL_ROOT = Path("/sys/class/powercap")
MB = 1e6  # telemetry memory figures are decimal megabytes


class _Series:
    """Running mean/max of one sampled quantity."""

    def __init__(self) -> None:
        self.n, self.total, self.peak = 0, 0.0, float("-inf")

    def add(self, value: float | None) -> None:
        if value is None:
            return
        self.n += 1
        self.total += value
        self.peak = max(self.peak, value)

    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def max(self) -> float | None:
        return self.peak if self.n else None


def _rapl_domains() -> list[Path]:
    """Top-level RAPL packages (intel-rapl:N, also used by AMD); sub-domains would double count."""
    if not RAPL_ROOT.is_dir():
        return []
    return sorted(p for p in RAPL_ROOT.glob("intel-rapl:*") if p.name.count(":") == 1)


def read_rapl_uj() -> dict[Path, tuple[int, int]] | None:
    """Energy counter and wrap range (µJ) of each package, or None when none is readable."""
    out: dict[Path, tuple[int, int]] = {}
    for domain in _rapl_domains():
        try:
            energy = int((domain / "energy_uj").read_text())
            wrap = int((domain / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            return None  # unreadable (permissions): report unavailable rather than partial energy
        out[domain] = (energy, wrap)
    return out or None


def rapl_delta_j(
    before: dict[Path, tuple[int, int]] | None, after: dict[Path, tuple[int, int]] | None
) -> float | None:
    """Joules consumed between two RAPL readings (handles counter wrap-around)."""
    if not before or not after or before.keys() != after.keys():
        return None
    total_uj = 0
    for domain, (e0, wrap) in before.items():
        e1 = after[domain][0]
        total_uj += e1 - e0 if e1 >= e0 else e1 + wrap - e0
    return total_uj * 1e-6


def _nvml(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # unsupported query on this GPU/driver
        return None


class _GpuProbe:
    """NVML readings of one GPU."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml, self.handle = nvml, handle
        self.energy_start_mj = self.energy_mj()

    def energy_mj(self) -> int | None:
        return _nvml(self.nvml.nvmlDeviceGetTotalEnergyConsumption, self.handle)

    def read(self) -> dict[str, float | None]:
        nv, h = self.nvml, self.handle
        util = _nvml(nv.nvmlDeviceGetUtilizationRates, h)
        mem = _nvml(nv.nvmlDeviceGetMemoryInfo, h)
        power_mw = _nvml(nv.nvmlDeviceGetPowerUsage, h)
        reasons_fn = (
            getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
            or nv.nvmlDeviceGetCurrentClocksThrottleReasons
        )
        return {
            "util": util.gpu if util else None,
            "mem": mem.used / MB if mem else None,
            "power": power_mw / 1e3 if power_mw is not None else None,
            "temp": _nvml(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU),
            "clock": _nvml(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM),
            "throttle": _nvml(reasons_fn, h),
        }


def _combined(values: list[float | None], how: str) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return {"sum": sum, "max": max, "mean": lambda v: sum(v) / len(v)}[how](present)


class _GpuGroup:
    """NVML readings of the GPUs a benchmark uses, combined per tick: power and energy are summed over
    the GPUs (what they draw together), utilisation and SM clock averaged, memory and temperature
    the highest GPU's. With one GPU these are simply its readings."""

    def __init__(self, probes: list[_GpuProbe]) -> None:
        self.probes = probes
        self.util, self.mem, self.power, self.temp, self.clock = (_Series() for _ in range(5))
        self.throttle = 0
        self.power_trace: list[tuple[float, float]] = []

    def sample(self, now: float) -> None:
        readings = [p.read() for p in self.probes]
        col = {k: [r[k] for r in readings] for k in readings[0]}
        self.util.add(_combined(col["util"], "mean"))
        self.mem.add(_combined(col["mem"], "max"))
        self.temp.add(_combined(col["temp"], "max"))
        self.clock.add(_combined(col["clock"], "mean"))
        for mask in col["throttle"]:
            self.throttle |= int(mask or 0)
        if all(v is not None for v in col["power"]):  # a partial sum would understate the draw
            total_w = float(sum(col["power"]))  # type: ignore[arg-type]
            self.power.add(total_w)
            self.power_trace.append((now, total_w))

    def energy(self) -> tuple[float | None, float]:
        """Joules over the window and 1.0 when from NVML's energy counters, else 0.0 (integrated power)."""
        deltas = [(p.energy_start_mj, p.energy_mj()) for p in self.probes]
        if all(a is not None and b is not None for a, b in deltas):
            return sum(b - a for a, b in deltas) / 1e3, 1.0  # type: ignore[operator]
        trace = self.power_trace  # trapezoidal integral of the sampled total power
        if len(trace) < 2:
            return None, 0.0
        pairs = zip(trace, trace[1:], strict=False)
        return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in pairs), 0.0

    def summary(self) -> dict[str, float | None]:
        energy, from_counter = self.energy()
        return {
            "gpu_count": float(len(self.probes)),
            "gpu_util_pct_mean": self.util.mean(),
            "gpu_util_pct_max": self.util.max(),
            "gpu_mem_used_mb_max": self.mem.max(),
            "gpu_power_w_mean": self.power.mean(),
            "gpu_power_w_max": self.power.max(),
            "gpu_temp_c_max": self.temp.max(),
            "gpu_sm_clock_mhz_mean": self.clock.mean(),
            "gpu_throttle_reasons_mask": float(self.throttle),
            "gpu_energy_j": energy,
            "gpu_energy_from_counter": from_counter if energy is not None else None,
        }


def open_gpu_group(nvml: Any, uuids: Sequence[str]) -> _GpuGroup | None:
    """Probes of the GPUs with these UUIDs; None (no GPU telemetry) when there are none, NVML is
    missing, or any of them cannot be opened: a record never mixes some GPUs' readings as all of them."""
    if nvml is None or not uuids:
        return None
    try:
        return _GpuGroup([_GpuProbe(nvml, handle_by_uuid(nvml, u)) for u in uuids])
    except Exception:  # LookupError, NVMLError: this GPU is not NVML's to read
        return None


class _ProcessTree:
    """CPU% and RSS of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        try:
            self.root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:  # already gone: nothing to sample
            self.root = None
        self.procs: list[psutil.Process] = [self.root] if self.root else []
        self.listed = float("-inf")
        self.cpu_s: dict[int, float] = {}
        self.cpu, self.rss = _Series(), _Series()
        self.last = time.perf_counter()
        self.primed = False  # the first tick only sets the CPU-time baseline
        self.busy_s = self.span_s = 0.0

    def mean_cpu_pct(self) -> float | None:
        """Exact mean over the whole window (CPU-time counters), not a mean of sparse samples."""
        return 100.0 * self.busy_s / self.span_s if self.span_s else None

    def sample(self) -> None:
        if self.root is None:
            return
        if time.perf_counter() - self.listed >= TREE_REFRESH_S:
            try:
                self.procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            self.listed = time.perf_counter()
        busy_s, rss = 0.0, 0
        for proc in self.procs:
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            total = t.user + t.system
            busy_s += total - self.cpu_s.get(proc.pid, 0.0)  # a process born since the last tick counts whole
            self.cpu_s[proc.pid] = total
        now = time.perf_counter()  # read after the CPU times: the GIL may have delayed this thread
        dt, self.last = now - self.last, now
        if self.primed and dt > 0:
            self.cpu.add(100.0 * busy_s / dt)
            self.busy_s += busy_s
            self.span_s += dt
        self.primed = True
        self.rss.add(rss / MB)


@contextlib.contextmanager
def sample_telemetry(
    pid: int | None = None, gpu_uuids: Sequence[str] = (), interval_s: float = DEFAULT_INTERVAL_S
) -> Iterator[dict[str, float | None]]:
    """Sample telemetry on a background thread; the yielded dict holds the summary after exit.

    ``pid``: the process tree to watch (default: this process). ``gpu_uuids``: the GPUs to read via
    NVML, by UUID (CUDA ordinals are not NVML indices); none, or one NVML cannot open, means no GPU
    keys in the summary. CPU% is percent of one core (like top); memory is in MB.
    """
    summary: dict[str, float | None] = {}
    tree = _ProcessTree(pid or psutil.Process().pid)
    sys_used, sys_pct = _Series(), _Series()
    stop = threading.Event()
    rapl_before = read_rapl_uj()
    with nvml_session() as nvml:
        gpu = open_gpu_group(nvml, gpu_uuids)

        def tick() -> None:
            tree.sample()
            vm = psutil.virtual_memory()
            sys_used.add((vm.total - vm.available) / MB)
            sys_pct.add(vm.percent)
            if gpu:
                with contextlib.suppress(Exception):  # a GPU lost mid-run ends its readings, not the run
                    gpu.sample(time.perf_counter())

        def loop() -> None:
            while not stop.wait(interval_s):
                tick()

        started = time.perf_counter()
        tick()
        thread = threading.Thread(target=loop, name="capplan-telemetry", daemon=True)
        thread.start()
        try:
            yield summary
        finally:
            stop.set()
            thread.join()
            tick()
            summary.update(
                {
                    "duration_s": time.perf_counter() - started,
                    "cpu_util_pct_mean": tree.mean_cpu_pct(),
                    "cpu_util_pct_max": tree.cpu.max(),
                    "rss_mb_mean": tree.rss.mean(),
                    "rss_mb_peak_sampled": tree.rss.max(),
                    "sys_mem_used_mb_max": sys_used.max(),
                    "sys_mem_used_pct_max": sys_pct.max(),
                    "cpu_energy_j": rapl_delta_j(rapl_before, read_rapl_uj()),
                }
            )
            if gpu:
                summary.update(gpu.summary())


def host_busy_pct(window_s: float = 0.2) -> float:
    """CPU busy percent of the whole host (0-100, all cores) over ``window_s``; call while idle."""
    return float(psutil.cpu_percent(interval=window_s))


# Other processes using more than this share of the host's CPU capacity mark a measurement contended:
# on a 2-core host that is 0.4 of a core, well above the harness's own telemetry thread (~1 %).
CONTENDED_OTHERS_PCT = 20.0


def _host_busy_s() -> float:
    """CPU-seconds all cores spent busy since boot (psutil's rule: total minus idle and iowait; guest
    time is already inside user time; steal, the hypervisor serving other VMs, counts as busy)."""
    t = psutil.cpu_times()
    total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
    return total - t.idle - getattr(t, "iowait", 0.0)


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class OthersCpu:
    """Share of the host's CPU used by other processes since the last ``reset``: (host busy CPU time
    minus this process's CPU time) / (wall time x logical CPUs), in percent. Both counters tick at the
    kernel's accounting rate (100 Hz), so windows shorter than ~0.2 s are too coarse to judge."""

    def __init__(self) -> None:
        self.cpus = psutil.cpu_count() or 1
        self.reset()

    def reset(self) -> None:
        self._wall, self._host, self._own = time.perf_counter(), _host_busy_s(), _own_cpu_s()

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._wall

    def others_pct(self) -> float:
        wall = max(self.elapsed_s(), 1e-9)
        others = (_host_busy_s() - self._host) - (_own_cpu_s() - self._own)
        return max(0.0, 100.0 * others / (wall * self.cpus))
