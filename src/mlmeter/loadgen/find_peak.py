"""FindPeakPerformance (spec §12): widen the bounds from the base target QPS by ``find_peak_step``, then
binary-search (to ``find_peak_decimals``) the highest QPS whose pass meets the performance constraints."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from mlmeter.loadgen.outcome import PassOutcome, PeakTrial
from mlmeter.loadgen.settings import EffectiveSettings


@dataclass
class Peak:
    best: PassOutcome | None
    """The highest passing pass (or the failing base pass)."""
    qps: float | None
    """The peak target QPS, None when even the base settings fail."""
    trials: list[PeakTrial] = field(default_factory=list)


def find_peak(es: EffectiveSettings, run_at: Callable[[float], PassOutcome | None],
              note: Callable[[str], None], error: Callable[[str], None]) -> Peak:
    """Drive the passes; ``run_at(qps)`` runs one (None when the samples could not be loaded); ``note`` and
    ``error`` write the official detail-log messages."""
    peak = Peak(None, None)

    def trial(qps: float) -> PassOutcome | None:
        o = run_at(qps)
        if o is not None:
            r = o.result
            peak.trials.append(PeakTrial(qps, r.metrics.get("completed_samples_per_sec") if r else None,
                                         r.latency.percentiles[0.99] if r else None, o.constraints_met))
        return o

    note("Starting FindPeakPerformance mode")
    note("FindPeakPerformance: Check validity of the base settings")
    lower = es.target_qps
    base = trial(lower)
    peak.best = base
    if base is None or not base.constraints_met:
        c = base.result.check("performance_constraints") if base is not None and base.result is not None else None
        rec = c.recommendation if c is not None else ""
        error(f"FindPeakPerformance: Initial lower bound does not satisfy performance constraints, msg: {rec}")
        return peak
    while True:
        upper = lower * (1 + es.find_peak_step)
        note(f"FindBoundaries: Checking fields [{lower:.6f}, {upper:.6f})")
        o = trial(upper)
        if o is None:
            peak.qps = lower
            return peak
        if not o.constraints_met:
            break
        lower, peak.best = upper, o
    scale = 10 ** es.find_peak_decimals
    while math.floor(lower * scale) + 1 < math.floor(upper * scale):
        mid = lower + (upper - lower) / 2
        note(f"FindPeakPerformanceBinarySearch: Testing the mid value of bounds [{lower:.6f}, {upper:.6f}): {mid:.6f}")
        o = trial(mid)
        if o is None:
            break
        if o.constraints_met:
            lower, peak.best = mid, o
        else:
            upper = mid
    note(f"FindPeakPerformance: Found peak performance field: {lower:.6f}")
    peak.qps = lower
    return peak
