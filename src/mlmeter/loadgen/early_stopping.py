"""Early stopping, numerically identical to the official LoadGen (spec §9).

The integers it produces (queries needed, queries discarded, the percentile estimate) depend on the exact
floating-point evaluation order, the bounded binary search and its memo of earlier answers, so all three are
reproduced as specified. The hypergeometric series is summed with NumPy's sequential ``cumprod``/``cumsum``
once it gets long, which rounds exactly like the scalar loop.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.99
TOLERANCE = 0.0
_EPS = 2.0**-33


def _libm_lgamma():  # type: ignore[no-untyped-def]
    name = ctypes.util.find_library("m")
    if name:
        try:
            fn = ctypes.CDLL(name).lgamma
            fn.restype = ctypes.c_double
            fn.argtypes = (ctypes.c_double,)
            return fn
        except (OSError, AttributeError):
            pass
    return math.lgamma


# The official LoadGen calls the C library's lgamma; CPython's math.lgamma is its own approximation.
_lgamma = _libm_lgamma()


def _hyp2f1(t: int, h: int, z: float) -> float:
    """``2F1(1, -t; 1+h; z)`` summed term by term until a term's magnitude is at most 2**-33."""
    term = 1.0
    total = 1.0
    i = 0
    while i < 48 and t < 64:  # short series: scalar; long ones go to NumPy at once
        term *= ((-t + i) * z) / (1 + h + i)
        total += term
        i += 1
        if abs(term) <= _EPS:
            return total
    n = min(1 << 16, int(8 * math.sqrt(t)) + 64)
    while True:
        j = np.arange(i, i + n, dtype=np.float64)
        ratios = ((-t + j) * z) / (1 + h + j)
        ratios[0] *= term
        terms = np.cumprod(ratios)
        stop = np.flatnonzero(np.abs(terms) <= _EPS)
        upto = int(stop[0]) + 1 if len(stop) else n
        sums = np.cumsum(np.concatenate(([total], terms[:upto])))
        total = float(sums[-1])
        if len(stop):
            return total
        term = float(terms[-1])
        i += n


def _odds(h: int, t: int, x: float) -> float:
    lnb = _lgamma(h) + _lgamma(t + 1) - _lgamma(h + t + 1)
    f = _hyp2f1(t, h, x / (x - 1))
    return math.exp(h * math.log(x) + t * math.log(1 - x) - lnb) / h * f


class _Solver:
    """``h(t)``: the fewest under-threshold queries that, with ``t`` over it, meet the confidence; memoised."""

    def __init__(self, percentile: float) -> None:
        self.x = percentile - TOLERANCE
        self.memo: dict[int, int] = {}
        self.keys: list[int] = []
        self.min_slope = self.x / (1 - percentile + TOLERANCE)
        self.y_first = math.ceil(math.log(1 - CONFIDENCE) / math.log(self.x))

    def h(self, t: int) -> int:
        x0, y0, x1, y1 = -1, 0, 0, self.y_first
        n_below = bisect.bisect_left(self.keys, t)
        if n_below:
            x1 = self.keys[n_below - 1]
            y1 = self.memo[x1]
            if n_below > 1:
                x0 = self.keys[n_below - 2]
                y0 = self.memo[x0]
        max_slope = (y1 - y0) * (x1 - x0)
        lo = int((t - x1) * self.min_slope + y1)
        hi = int((t - x1) * max_slope + y1 + 1)
        count = hi - lo
        while count > 0:
            step = count // 2
            m = lo + step
            if _odds(m, t, self.x) < 1 - CONFIDENCE:
                count = step
            else:
                lo = m + 1
                count -= step + 1
        if t not in self.memo:
            bisect.insort(self.keys, t)
        self.memo[t] = lo
        return lo


@dataclass(frozen=True)
class PercentileEstimate:
    """SingleStream/MultiStream early stopping: satisfied, the needed minimum, discards and the estimate."""

    percentile: float
    queries: int
    min_queries: int
    satisfied: bool
    discarded: int
    estimate: int


def percentile_estimate(sorted_latencies: np.ndarray, percentile: float) -> PercentileEstimate:
    """Spec §9.2 steps 1–3 over ascending latencies (one per query)."""
    n = len(sorted_latencies)
    solver = _Solver(percentile)
    h_min = solver.h(1)
    if n < h_min + 1:
        return PercentileEstimate(percentile, n, h_min + 1, False, 0, 0)
    t = 1
    i = 2
    while True:
        if n < solver.h(i) + i:
            t = i - 1
            break
        i += 1
    return PercentileEstimate(percentile, n, h_min + 1, True, t - 1, int(sorted_latencies[n - t]))


@dataclass(frozen=True)
class OverlatencyCheck:
    """Server early stopping: with ``overlatency`` slow queries, ``needed`` queries in total were required."""

    queries: int
    overlatency: int
    needed: int

    @property
    def satisfied(self) -> bool:
        return self.queries >= self.needed


def overlatency_check(queries: int, overlatency: int, percentile: float) -> OverlatencyCheck:
    """Spec §9.3."""
    h = _Solver(percentile).h(overlatency)
    return OverlatencyCheck(queries, overlatency, h + overlatency)


def min_queries_for(percentile: float) -> int:
    """The fewest queries with which a percentile estimate exists (``h(1) + 1``)."""
    return _Solver(percentile).h(1) + 1


def needed_queries(overlatency: int, percentile: float) -> int:
    """Total queries needed for early stopping with ``overlatency`` queries over the bound."""
    return overlatency_check(0, overlatency, percentile).needed
