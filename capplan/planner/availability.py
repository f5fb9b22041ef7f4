"""N+k redundancy: spare replicas so that at least N of N+k are up with the target probability."""

from __future__ import annotations

import numpy as np
from scipy import special

MAX_SPARES = 64


def replica_availability(devices_per_replica: int, mtbf_h: float, mttr_h: float) -> float:
    """Steady-state availability of a replica that is down whenever any of its devices is."""
    device = mtbf_h / (mtbf_h + mttr_h)
    return device**devices_per_replica


def spares_for_availability(needed: np.ndarray, replica_avail: float, target: float) -> np.ndarray:
    """Per entry, the smallest k with P(at most k of needed + k independent replicas down) >= target
    (binomial).

    Capped at MAX_SPARES; 0 where nothing is needed.
    """
    n = np.asarray(needed, dtype=np.int64)
    return _spares_table(float(replica_avail), float(target), int(n.max(initial=0)))[np.maximum(n, 0)]


_TABLES: dict[tuple[float, float], np.ndarray] = {}


def _spares_table(replica_avail: float, target: float, largest: int) -> np.ndarray:
    """Spares for 0..``largest`` needed replicas (a plan asks for the same few thousand values again and
    again: computed once per availability and target)."""
    table = _TABLES.get((replica_avail, target))
    if table is None or table.size <= largest:
        n = np.arange(max(largest + 1, 2 * (0 if table is None else table.size), 64), dtype=np.int64)[:, None]
        for width in (8, MAX_SPARES + 1):  # a few spares nearly always suffice; widen only when they do not
            k = np.arange(width, dtype=np.int64)[None, :]
            ok = special.bdtr(k, n + k, 1.0 - replica_avail) >= target
            if ok.any(axis=1).all():
                break
        first = np.where(ok.any(axis=1), ok.argmax(axis=1), MAX_SPARES)
        table = _TABLES[(replica_avail, target)] = np.where(n[:, 0] > 0, first, 0)
    return table
