"""Store access for the dashboard: open the store, a change token, full records by id or by host."""

from __future__ import annotations

from collections.abc import Iterable

from capplan.results.schema import RunRecord
from capplan.results.store import RunFilter, Store, default_store_url

__all__ = ["RunRecord", "Store", "change_token", "host_runs", "kind_runs", "open_store", "run", "store_url"]


def store_url() -> str:
    """The store the dashboard reads: ``$CAPPLAN_STORE`` (set by ``capplan dashboard``) or the default."""
    return default_store_url()


def open_store(url: str) -> Store:
    """The store at ``url``; raises ``UserError`` (one line) for a bad URL or a file that is not a store."""
    return Store(url)


def change_token(store: Store) -> int:
    """A cheap value that changes when runs are added (records are immutable and only ever added)."""
    return store.count()


def run(store: Store, run_id: str) -> RunRecord:
    """One full record."""
    return store.get(run_id)


def host_runs(store: Store, host: str, kinds: Iterable[str], limit_per_kind: int = 200) -> list[RunRecord]:
    """The newest ``limit_per_kind`` ok runs of each of ``kinds`` on one host."""
    return [
        r
        for kind in sorted(kinds)
        for r in store.query(RunFilter(kind=kind, host_fingerprint=host, status="ok", limit=limit_per_kind))
    ]


def kind_runs(store: Store, kinds: Iterable[str], limit_per_kind: int = 2000) -> list[RunRecord]:
    """The newest ``limit_per_kind`` ok runs of each of ``kinds``, any host."""
    flt = [RunFilter(kind=kind, status="ok", limit=limit_per_kind) for kind in sorted(kinds)]
    return [r for f in flt for r in store.query(f)]
