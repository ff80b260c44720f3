"""Statistics over repeated runs: mean, standard deviation, 95 % confidence intervals, Welch's comparison.

None of this is an MLPerf figure (MLPerf publishes no confidence intervals; spec training_power.md §6); results
label it as mlmeter's. Means get the Student t interval; percentiles (tail latencies) get a percentile bootstrap,
whose intervals do not assume a symmetric distribution. The t distribution is computed here (regularised
incomplete beta by continued fraction), so no SciPy is needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
SPREAD_WARNING = 0.10
"""Relative standard deviation above which a repeat's mean is flagged as too noisy to compare (as pyperf warns)."""


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on the CDF)."""
    if p == 0.5:
        return 0.0
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float
    """Sample standard deviation (ddof = 1); 0 for one value."""
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    """"t" (mean ± t·s/√n) or "bootstrap" (percentile bootstrap of the mean), or "" for a single value."""
    olympic_mean: float | None
    """Mean without the smallest and largest value (MLPerf's central estimate), from 3 values up."""

    @property
    def relative_std(self) -> float:
        return self.std / abs(self.mean) if self.mean else 0.0

    @property
    def noisy(self) -> bool:
        return self.n >= 2 and self.relative_std > SPREAD_WARNING

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "mean": self.mean, "std": self.std, "ci95": [self.ci_low, self.ci_high],
                "ci_method": self.ci_method, "relative_std": self.relative_std, "olympic_mean": self.olympic_mean,
                "noisy": self.noisy}


def bootstrap_ci(values: Sequence[float], level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (fixed seed: the same values give the same interval)."""
    v = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(BOOTSTRAP_RESAMPLES, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def summarize(values: Sequence[float], percentile_metric: bool = False) -> Summary:
    """Mean, spread and 95 % interval of one metric over repeated runs."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("no values to summarize")
    n, mean = len(v), statistics.fmean(v)
    std = statistics.stdev(v) if n >= 2 else 0.0
    lo = hi = None
    method = ""
    if n >= 2:
        if percentile_metric:
            lo, hi = bootstrap_ci(v)
            method = "bootstrap"
        else:
            half = t_quantile(0.975, n - 1) * std / math.sqrt(n)
            lo, hi, method = mean - half, mean + half, "t"
    olympic = statistics.fmean(sorted(v)[1:-1]) if n >= 3 else None
    return Summary(n, mean, std, lo, hi, method, olympic)


@dataclass(frozen=True)
class Difference:
    """B − A with a 95 % interval; ``significant`` when the interval excludes 0."""

    diff: float
    relative: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str

    @property
    def significant(self) -> bool | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low > 0 or self.ci_high < 0


def compare_samples(a: Sequence[float], b: Sequence[float], percentile_metric: bool = False, seed: int = 0) -> Difference:
    """Difference of means of two groups of replicates: Welch's t (unequal variances), or a bootstrap for
    percentile metrics. A side with one value is taken as exact (a one-sample interval from the other side);
    with one value on both sides there is no interval."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, mb = float(va.mean()), float(vb.mean())
    diff = mb - ma
    rel = diff / abs(ma) if ma else None
    if len(va) < 2 and len(vb) < 2:
        return Difference(diff, rel, None, None, None, "")
    if len(va) < 2 or len(vb) < 2:
        many, sign = (vb, 1.0) if len(vb) >= 2 else (va, -1.0)
        s = summarize(list(many), percentile_metric)
        assert s.ci_low is not None and s.ci_high is not None
        lo, hi = sorted((sign * (s.ci_low - s.mean) + diff, sign * (s.ci_high - s.mean) + diff))
        se = s.std / math.sqrt(s.n)
        p = 2 * (1 - t_cdf(abs(diff) / se, s.n - 1)) if se else (0.0 if diff else 1.0)
        return Difference(diff, rel, lo, hi, p, f"one-sample {s.ci_method}")
    if percentile_metric:
        rng = np.random.default_rng(seed)
        da = va[rng.integers(0, len(va), size=(BOOTSTRAP_RESAMPLES, len(va)))].mean(axis=1)
        db = vb[rng.integers(0, len(vb), size=(BOOTSTRAP_RESAMPLES, len(vb)))].mean(axis=1)
        d = db - da
        lo, hi = np.quantile(d, [0.025, 0.975])
        p = min(1.0, 2 * min(float((d <= 0).mean()), float((d >= 0).mean())))
        return Difference(diff, rel, float(lo), float(hi), p, "bootstrap")
    sa, sb = float(va.var(ddof=1)) / len(va), float(vb.var(ddof=1)) / len(vb)
    se = math.sqrt(sa + sb)
    if se == 0:
        return Difference(diff, rel, diff, diff, 0.0 if diff else 1.0, "welch")
    df = (sa + sb) ** 2 / (sa**2 / (len(va) - 1) + sb**2 / (len(vb) - 1))
    half = t_quantile(0.975, df) * se
    p = 2 * (1 - t_cdf(abs(diff) / se, df))
    return Difference(diff, rel, diff - half, diff + half, p, "welch")
