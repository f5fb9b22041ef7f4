"""SUT/QSL adapter: lets LoadGen drive any ``process(sample_indices)`` callable.

LoadGen calls ``issue_queries`` from its own thread; samples go onto a queue that ``workers`` threads
drain, each taking up to ``max_batch`` waiting samples at once (dynamic batching: a batch never waits
for more samples to arrive), running ``process`` on them and reporting completion to LoadGen. The
adapter also records each sample's latency from issue to completion (``perf_counter_ns``), which is
kept as the record's raw samples; LoadGen's own percentiles remain the headline. It also keeps each
``process`` call's duration (the service time, without queueing) and each sample's completion time.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan.harness.loadgen.logs import LoadGenResult, parse_logs
from capplan.harness.loadgen.settings import ScenarioSettings, to_test_settings

Process = Callable[[Sequence[int]], Any]  # runs the workload on these QSL sample indices


@dataclass
class LoadGenRun:
    """LoadGen's parsed verdict plus the adapter's own per-sample latencies (seconds)."""

    result: LoadGenResult
    latencies_s: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    service_s: list[float] = field(default_factory=list)  # duration of each process() call
    completed_s: list[float] = field(default_factory=list)  # each completion after the first issue, s
    issued_s: list[float] = field(default_factory=list)  # each sample's issue (a query's samples share it)


class _Sut:
    def __init__(self, process: Process, workers: int, max_batch: int) -> None:
        self.process = process
        self.max_batch = max_batch
        self.pending: queue.Queue[Any] = queue.Queue()
        self.latencies_s: list[float] = []
        self.batch_sizes: list[int] = []
        self.service_s: list[float] = []
        self.completed_ns: list[int] = []
        self.issued_ns: list[int] = []
        self.first_issue_ns: int | None = None
        self.error: BaseException | None = None
        self.threads = [
            threading.Thread(target=self._work, daemon=True, name=f"sut-{i}") for i in range(workers)
        ]
        for t in self.threads:
            t.start()

    def issue(self, samples: list[Any]) -> None:
        now = time.perf_counter_ns()
        if self.first_issue_ns is None:
            self.first_issue_ns = now
        for s in samples:
            self.pending.put((s, now))

    def flush(self) -> None:
        """LoadGen's hint that no more queries come soon; batches never wait, so nothing to do."""

    def _work(self) -> None:
        import mlperf_loadgen as lg

        while True:
            first = self.pending.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self.pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.pending.put(None)  # leave the stop signal for this thread's next turn
                    break
                batch.append(item)
            began = time.perf_counter_ns()
            try:
                self.process([s.index for s, _ in batch])
            except BaseException as exc:  # keep completing queries so LoadGen ends; re-raised after the run
                self.error = self.error or exc
            done = time.perf_counter_ns()
            self.latencies_s.extend((done - t) * 1e-9 for _, t in batch)
            self.completed_ns.extend(done for _ in batch)
            self.issued_ns.extend(t for _, t in batch)
            self.service_s.append((done - began) * 1e-9)
            self.batch_sizes.append(len(batch))
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s, _ in batch])

    def stop(self) -> None:
        for _ in self.threads:
            self.pending.put(None)
        for t in self.threads:
            t.join()


def run_loadgen(
    process: Process,
    settings: ScenarioSettings,
    *,
    total_samples: int,
    performance_samples: int | None = None,
    workers: int = 1,
    max_batch: int = 1,
    outdir: Path | None = None,
) -> LoadGenRun:
    """Run one LoadGen test of ``process`` and parse its logs (written to ``outdir`` or a temp dir).

    ``total_samples`` is the QSL size (sample indices 0..total_samples-1, already in memory), of
    which LoadGen draws from ``performance_samples`` (default: all). An exception raised by
    ``process`` is re-raised after LoadGen finishes.
    """
    import mlperf_loadgen as lg

    if outdir is None:
        with tempfile.TemporaryDirectory(prefix="capplan-loadgen-") as tmp:
            return run_loadgen(
                process,
                settings,
                total_samples=total_samples,
                performance_samples=performance_samples,
                workers=workers,
                max_batch=max_batch,
                outdir=Path(tmp),
            )
    outdir.mkdir(parents=True, exist_ok=True)
    log_output = lg.LogOutputSettings()
    log_output.outdir = str(outdir)
    log_output.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = log_output
    log_settings.enable_trace = False  # the trace is large and not needed for the summary figures
    sut_impl = _Sut(process, workers, max_batch)
    sut = lg.ConstructSUT(sut_impl.issue, sut_impl.flush)
    # Samples are generated in memory up front, so LoadGen's load/unload callbacks have nothing to do.
    qsl = lg.ConstructQSL(total_samples, performance_samples or total_samples, lambda _: None, lambda _: None)
    try:
        lg.StartTestWithLogSettings(sut, qsl, to_test_settings(settings), log_settings)
    finally:
        sut_impl.stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if sut_impl.error is not None:
        raise sut_impl.error
    first = sut_impl.first_issue_ns or 0
    return LoadGenRun(parse_logs(outdir), sut_impl.latencies_s, sut_impl.batch_sizes, sut_impl.service_s,
                      [(t - first) * 1e-9 for t in sut_impl.completed_ns],
                      [(t - first) * 1e-9 for t in sut_impl.issued_ns])
