"""Background telemetry sampler: CPU/RSS/system memory via psutil, GPU via NVML, energy counters.

Energy is read from counters where the platform exposes them (NVML total energy, RAPL powercap);
otherwise GPU energy is integrated from sampled power, and CPU energy is recorded as None — never
estimated from TDP or load.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from capplan.hardware.nvml import nvml_session

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

    def __init__(self, nvml: Any, index: int) -> None:
        self.nvml = nvml
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        self.util, self.mem, self.power, self.temp, self.clock = (_Series() for _ in range(5))
        self.throttle = 0
        self.power_trace: list[tuple[float, float]] = []
        self.energy_start_mj = self.energy_mj()

    def energy_mj(self) -> int | None:
        return _nvml(self.nvml.nvmlDeviceGetTotalEnergyConsumption, self.handle)

    def sample(self, now: float) -> None:
        nv, h = self.nvml, self.handle
        util = _nvml(nv.nvmlDeviceGetUtilizationRates, h)
        mem = _nvml(nv.nvmlDeviceGetMemoryInfo, h)
        power_mw = _nvml(nv.nvmlDeviceGetPowerUsage, h)
        self.util.add(util.gpu if util else None)
        self.mem.add(mem.used / MB if mem else None)
        self.power.add(power_mw / 1e3 if power_mw is not None else None)
        self.temp.add(_nvml(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU))
        self.clock.add(_nvml(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM))
        reasons_fn = (
            getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
            or nv.nvmlDeviceGetCurrentClocksThrottleReasons
        )
        self.throttle |= _nvml(reasons_fn, h) or 0
        if power_mw is not None:
            self.power_trace.append((now, power_mw / 1e3))

    def summary(self) -> dict[str, float | None]:
        end_mj = self.energy_mj()
        if self.energy_start_mj is not None and end_mj is not None:
            energy, from_counter = (end_mj - self.energy_start_mj) / 1e3, 1.0
        else:
            trace = self.power_trace  # trapezoidal integral of sampled power
            energy = (
                sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(trace, trace[1:], strict=False))
                if len(trace) > 1
                else None
            )
            from_counter = 0.0
        return {
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
    pid: int | None = None, gpu_index: int | None = None, interval_s: float = DEFAULT_INTERVAL_S
) -> Iterator[dict[str, float | None]]:
    """Sample telemetry on a background thread; the yielded dict holds the summary after exit.

    ``pid``: the process tree to watch (default: this process). ``gpu_index``: the GPU to read via
    NVML (None: no GPU readings). CPU% is percent of one core (like top); memory is in MB.
    """
    summary: dict[str, float | None] = {}
    tree = _ProcessTree(pid or psutil.Process().pid)
    sys_used, sys_pct = _Series(), _Series()
    stop = threading.Event()
    rapl_before = read_rapl_uj()
    with nvml_session() as nvml:
        gpu = _GpuProbe(nvml, gpu_index) if nvml is not None and gpu_index is not None else None

        def tick() -> None:
            tree.sample()
            vm = psutil.virtual_memory()
            sys_used.add((vm.total - vm.available) / MB)
            sys_pct.add(vm.percent)
            if gpu:
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
