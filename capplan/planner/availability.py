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
    known = _KNOWN.setdefault((float(replica_avail), float(target)), {})
    flat = n.ravel().tolist()  # a plan calls this per fleet with a few quarters: plain lookups beat np.unique
    missing = sorted({v for v in flat if v not in known})
    if missing:
        found = _spares(np.array(missing, dtype=np.int64), replica_avail, target)
        known.update(zip(missing, found.tolist(), strict=True))
    return np.array([known[v] for v in flat], dtype=np.int64).reshape(n.shape)


# (availability, target) -> needed replicas -> spares: a plan asks for the same values again and again
_KNOWN: dict[tuple[float, float], dict[int, int]] = {}


def _spares(needed: np.ndarray, replica_avail: float, target: float) -> np.ndarray:
    n = needed[:, None]
    for width in (8, MAX_SPARES + 1):  # a few spares nearly always suffice; widen only when they do not
        k = np.arange(width, dtype=np.int64)[None, :]
        ok = special.bdtr(k, n + k, 1.0 - replica_avail) >= target
        if ok.any(axis=1).all():
            break
    first = np.where(ok.any(axis=1), ok.argmax(axis=1), MAX_SPARES)
    return np.where(n[:, 0] > 0, first, 0)
