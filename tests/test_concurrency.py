"""Many writers at once: 4 processes x 250 single-record transactions, none lost or duplicated."""

from __future__ import annotations

import multiprocessing as mp

from test_reliability_figures import FIGURES

from capplan.results.schema import Metric, RunRecord
from capplan.results.store import RunFilter, Store

WRITERS = 4
RECORDS_PER_WRITER = 250


def _writer(url: str, writer: int, start: mp.synchronize.Event) -> None:
    store = Store(url, create=False)
    start.wait()  # all writers begin together, so they really contend for the store
    for i in range(RECORDS_PER_WRITER):
        store.add(
            RunRecord(
                run_id=f"w{writer}-{i:04d}",
                benchmark="contention",
                kind="test",
                host_fingerprint=f"host{writer}",
                config={"writer": writer, "i": i},
                metrics=[Metric(name="i_count", value=i, unit="count")],
            )
        )
    store.close()


def test_concurrent_writers_lose_and_duplicate_nothing(store_url: str) -> None:
    Store(store_url).close()  # create the schema once, as `capplan fleet run` does before fanning out
    ctx = mp.get_context("spawn")  # fresh interpreters: no engine or socket shared across a fork
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(store_url, w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    store = Store(store_url, create=False)
    ids = [s["run_id"] for s in store.summaries()]
    expected = {f"w{w}-{i:04d}" for w in range(WRITERS) for i in range(RECORDS_PER_WRITER)}
    assert store.count() == WRITERS * RECORDS_PER_WRITER == len(ids)
    assert set(ids) == expected
    assert len(store.metric_rows()) == WRITERS * RECORDS_PER_WRITER
    for w in range(WRITERS):
        assert store.count(RunFilter(host_fingerprint=f"host{w}")) == RECORDS_PER_WRITER
    backend = store_url.split(":", 1)[0].split("+", 1)[0]
    FIGURES[f"concurrency.{backend}_records_stored_of_{WRITERS * RECORDS_PER_WRITER}"] = len(ids)
