"""p99-aware sizing with queueing theory (vectorised over many queues at once).

Each replica slot is one server of an M/G/c queue (Poisson arrivals, service time with mean ``s`` and
coefficient of variation ``cv`` in [0, 1]). P(wait) is Erlang C; the waiting-time scale uses the
Allen-Cunneen (Kingman) correction for general service, E[W] ~= E[W_M/M/c] * (1 + cv^2) / 2, with the
conditional wait exponential: P(W > t) = C(c, a) * exp(-theta t), theta = (c mu - lambda) * 2 / (1 + cv^2).
For cv = 1 that is the exact M/M/c tail; for cv = 0 the usual M/D/c approximation. The response time is
W + S with S gamma (deterministic when cv = 0); the tail of that sum is computed by Gauss-Legendre
quadrature on an exponential change of variable. The smallest c meeting the p99 is found by bisection,
since the tail falls as c grows.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_TINY = 1e-300


def _arr(x: object) -> np.ndarray:
    return np.asarray(x, dtype=float)


def erlang_c(c: object, offered_load: object) -> np.ndarray:
    """Probability an arrival waits in an M/M/c queue with ``offered_load`` = lambda/mu Erlangs."""
    c, a = np.broadcast_arrays(_arr(c), _arr(offered_load))
    a_safe = np.maximum(a, _TINY)
    erlang_b = np.exp(c * np.log(a_safe) - a_safe - special.gammaln(c + 1.0)) / special.pdtr(c, a_safe)
    rho = a_safe / np.maximum(c, 1.0)
    wait = erlang_b / (1.0 - rho * (1.0 - erlang_b))
    return np.where(a <= 0, 0.0, np.where(a >= c, 1.0, wait))


def _service_tail(t: np.ndarray, s: np.ndarray, cv: np.ndarray) -> np.ndarray:
    k = 1.0 / np.maximum(cv, 1e-3) ** 2
    return np.where(cv == 0, (t < s).astype(float), special.gammaincc(k, k / s * t))


def _wait_plus_service_tail(t: np.ndarray, theta: np.ndarray, s: np.ndarray, cv: np.ndarray) -> np.ndarray:
    """P(E + S > t) for E ~ Exp(theta) and gamma S (shape k = 1/cv^2 >= 1, rate beta = k/s).

    P(E + S > t) = P(S > t) + exp(-theta t) E[exp(theta S); S <= t]. For beta > theta the expectation is
    a gamma CDF at rate beta - theta; otherwise the integral int_0^t f_S(t - v) exp(-theta v) dv is taken
    by Gauss-Legendre after mapping v onto x = 1 - exp(-(theta - beta) v), which makes it smooth.
    """
    out = np.where(t < s, 1.0, np.exp(-theta * np.maximum(t - s, 0.0)))
    g = cv > 0
    if not g.any():
        return out
    t, theta, s, cv = t[g], theta[g], s[g], cv[g]
    k = 1.0 / cv**2
    beta = k / s
    closed = beta > theta
    gap = np.where(closed, beta - theta, 1.0)
    log_mgf_part = (
        k * np.log(beta / gap) - theta * t + np.log(np.maximum(special.gammainc(k, gap * t), _TINY))
    )
    delta = np.maximum(theta - beta, 1e-12)
    span = -np.expm1(-delta * t)
    x = (_NODES + 1.0) / 2.0 * span[:, None]
    rest = np.maximum(t[:, None] + np.log1p(-x) / delta[:, None], _TINY)  # t - v(x)
    log_c = k * np.log(beta) - special.gammaln(k) - beta * t - np.log(delta)
    mapped = np.exp(log_c[:, None] + (k[:, None] - 1.0) * np.log(rest)) @ _WEIGHTS * span / 2.0
    integral = np.where(closed, np.exp(log_mgf_part), mapped)
    out[g] = np.minimum(special.gammaincc(k, beta * t) + integral, 1.0)
    return out


def response_tail(
    t_s: object, c: object, arrival_per_s: object, mean_service_s: object, cv: object
) -> np.ndarray:
    """P(response time > t_s) for c servers; 1.0 where the queue is unstable."""
    t, c, lam, s, cv = np.broadcast_arrays(
        _arr(t_s), _arr(c), _arr(arrival_per_s), _arr(mean_service_s), _arr(cv)
    )
    a = lam * s
    stable = a < c
    p_wait = erlang_c(c, a)
    theta = np.where(stable, (c / s - lam) * 2.0 / (1.0 + cv**2), 1.0)
    tail = _service_tail(t, s, cv)
    waits = stable & (p_wait > 1e-15)  # where nobody waits the response time is the service time
    if waits.any():
        tail[waits] = (1.0 - p_wait[waits]) * tail[waits] + p_wait[waits] * _wait_plus_service_tail(
            t[waits], theta[waits], s[waits], cv[waits]
        )
    return np.where(stable, tail, 1.0)


def servers_for_quantile(
    arrival_per_s: object, mean_service_s: object, cv: object, slo_s: object, q: float = 0.99
) -> np.ndarray:
    """Smallest c per queue whose q-quantile response time is <= slo_s.

    0 where there is no traffic; -1 where no number of servers can (the service time alone misses the SLO).
    """
    lam, s, cv, slo = np.broadcast_arrays(_arr(arrival_per_s), _arr(mean_service_s), _arr(cv), _arr(slo_s))
    shape = lam.shape
    lam, s, cv, slo = (np.ravel(v) for v in (lam, s, cv, slo))
    target = 1.0 - q
    feasible = (_service_tail(slo, s, cv) <= target) & (lam > 0)

    def meets(c: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Whether c servers meet the SLO, for the queues ``idx`` only (each queue is independent)."""
        return response_tail(slo[idx], c, lam[idx], s[idx], cv[idx]) <= target

    lo = np.floor(lam * s) + 1.0
    hi = lo + np.ceil(3.0 * np.sqrt(lam * s)) + 2.0
    ok_lo = np.zeros(lam.shape, dtype=bool)
    todo = np.nonzero(feasible)[0]
    ok_lo[todo] = meets(lo[todo], todo)
    todo = todo[~ok_lo[todo]]  # need more than the stability minimum: bracket, then bisect
    grow = todo
    for _ in range(64):
        if grow.size == 0:
            break
        grow = grow[~meets(hi[grow], grow)]
        hi[grow] = lo[grow] + 2.0 * (hi[grow] - lo[grow])
    active = todo[hi[todo] - lo[todo] > 1]
    while active.size:
        mid = np.floor((lo[active] + hi[active]) / 2.0)
        m = meets(mid, active)
        hi[active[m]] = mid[m]
        lo[active[~m]] = mid[~m]
        active = active[hi[active] - lo[active] > 1]
    out = np.where(ok_lo, lo, hi)
    out = np.where(feasible, out, -1.0)
    return np.where(lam <= 0, 0.0, out).astype(int).reshape(shape)


def response_quantile_s(q: float, c: int, arrival_per_s: float, mean_service_s: float, cv: float) -> float:
    """The q-quantile of the response time (s) for one queue; inf when unstable."""
    if arrival_per_s * mean_service_s >= c:
        return float("inf")

    def excess(t: float) -> float:
        return float(response_tail(t, c, arrival_per_s, mean_service_s, cv)) - (1.0 - q)

    hi = mean_service_s * 2.0
    while excess(hi) > 0:
        hi *= 2.0
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-7))


def service_samples_s(rng: np.random.Generator, n: int, mean_s: float, cv: float) -> np.ndarray:
    """Service times matching the model above: deterministic for cv = 0, gamma otherwise."""
    if cv == 0:
        return np.full(n, mean_s)
    k = 1.0 / cv**2
    return rng.gamma(k, mean_s / k, size=n)
