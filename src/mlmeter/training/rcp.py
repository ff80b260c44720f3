"""Reference Convergence Points (spec §3.6): does a submission converge no faster than the reference, beyond
what chance allows? Follows the official checker's code (not the rules appendix): population std of the full
reference list, olympic means, a one-sided pooled-variance t-test at α = 0.05 solved by bisection, pruning of
slower-than-interpolated records, interpolation between batch sizes, and the normalisation factor."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlmeter.training.scoring import RUN_COUNTS


@dataclass(frozen=True)
class RcpRecord:
    batch_size: float
    points: tuple[float, ...]
    mean: float
    stdev: float
    min_epochs: float

    @property
    def max_speedup(self) -> float:
        return self.mean / self.min_epochs if self.min_epochs else float("inf")


@dataclass(frozen=True)
class RcpVerdict:
    passed: bool
    message: str
    normalization: float
    """Multiply the score by this (≥ 1) when the submission converged faster than the reference mean."""


def _trim(benchmark: str) -> int:
    return 4 if benchmark == "unet3d" else 1


def min_acceptable_mean(mean: float, stdev: float, n_ref: int, n_sub: int, alpha: float = 0.05) -> float:
    """The smallest mean in [0, mean] a one-sided pooled t-test (equal variances) does not reject; bisection
    to 1e-4 as the official code does."""
    from scipy import stats

    if stdev == 0:
        return mean
    lo, hi = 0.0, mean
    m = (lo + hi) / 2
    while hi - lo > 1e-4:
        m = (lo + hi) / 2
        t, p = stats.ttest_ind_from_stats(m, stdev, n_ref, mean, stdev, n_sub, equal_var=True)
        p1 = p / 2 if t < 0 else 1 - p / 2
        if p1 > alpha:
            hi = m
        else:
            lo = m
    return float(m)


def record(benchmark: str, batch_size: float, points: list[float]) -> RcpRecord:
    r = _trim(benchmark)
    pts = sorted(points)
    mean = statistics.fmean(pts[r : len(pts) - r])
    std = float(np.std(pts))
    n_sub = RUN_COUNTS.get(benchmark, 5) - 2
    return RcpRecord(batch_size, tuple(pts), mean, std, min_acceptable_mean(mean, std, len(pts) - 2 * r, n_sub))


def prune(records: list[RcpRecord]) -> list[RcpRecord]:
    """Drop records below the batch size of the fastest mean, then, left to right, any record slower than the
    linear interpolation of its neighbours (the official pass: not a full convex envelope)."""
    recs = sorted(records, key=lambda x: x.batch_size)
    fastest = min(range(len(recs)), key=lambda k: recs[k].mean)
    recs = recs[fastest:]
    i = 1
    while i < len(recs) - 1:
        lo, mid, hi = recs[i - 1], recs[i], recs[i + 1]
        interp = float(np.interp(mid.batch_size, [lo.batch_size, hi.batch_size], [lo.mean, hi.mean]))
        if mid.mean > interp:
            del recs[i]  # the next record moves into position i and is checked there
        else:
            i += 1
    return recs


def check(benchmark: str, records: list[RcpRecord], batch_size: float, submission: list[float]) -> RcpVerdict:
    """Judge a submission's convergence points (epochs or samples; non-converged runs as 1e9)."""
    r = _trim(benchmark)
    runs = RUN_COUNTS.get(benchmark, 5)
    if sum(1 for x in submission if x >= 1e9) > r:
        return RcpVerdict(False, "Insufficient convergence", 1.0)
    s = sorted(submission)
    sub_mean = statistics.fmean(s[r : len(s) - r]) if len(s) > 2 * r else statistics.fmean(s)
    recs = prune(records)
    if not recs:
        return RcpVerdict(False, "Cannot find any RCPs", 1.0)
    exact = next((x for x in recs if x.batch_size == batch_size), None)
    lower = [x for x in recs if x.batch_size < batch_size]
    higher = [x for x in recs if x.batch_size > batch_size]
    if exact is not None:
        ref, how = exact, "RCP found"
    elif lower and higher:
        lo, hi = lower[-1], higher[0]
        mean = float(np.interp(batch_size, [lo.batch_size, hi.batch_size], [lo.mean, hi.mean]))
        std = float(np.interp(batch_size, [lo.batch_size, hi.batch_size], [lo.stdev, hi.stdev]))
        ref = RcpRecord(batch_size, (), mean, std, min_acceptable_mean(mean, std, runs * 2, runs - 2))
        how = "RCP Interpolation"
    elif higher:
        ref = higher[0]
        ok = sub_mean >= ref.min_epochs
        return RcpVerdict(ok, "RCP not found but slower convergence on smaller batch size" if ok
                          else f"Missing RCP, please submit RCP with BS = {batch_size:g}", 1.0)
    else:
        return RcpVerdict(False, f"Missing RCP, please submit RCP with BS = {batch_size:g}", 1.0)
    if sub_mean < ref.min_epochs:
        return RcpVerdict(False, f"{how}: submission mean {sub_mean:g} is below the minimum {ref.min_epochs:.4f}", 1.0)
    factor = ref.mean / sub_mean if sub_mean < ref.mean else 1.0
    return RcpVerdict(True, f"{how}: submission mean {sub_mean:g}, RCP mean {ref.mean:.4f}", factor)


def records_from_json(doc: dict[str, Any], benchmark: str) -> list[RcpRecord]:
    """Records of the official ``rcps_<benchmark>.json`` layout (points under "samples to converge" or
    "Epochs to converge", whichever the file uses)."""
    return [record(benchmark, float(v["BS"]), list(v.get("samples to converge", v.get("Epochs to converge", []))))
            for v in doc.values() if v.get("Benchmark") == benchmark]


SAMPLES_BENCHMARKS = frozenset({"llama2_70b_lora", "flux1", "llama31_405b", "llama31_8b", "gpt_oss_20b",
                                "deepseekv3_671b", "qwen35_397b_grpo", "dlrmv4"})


def convergence_point(log: Any, benchmark: str) -> float:
    """The run's convergence: the last ``eval_accuracy`` before ``run_stop`` — its ``samples_count`` for the
    sample-counted benchmarks, else its ``epoch_num`` rounded to 3 decimals; 1e9 when the run did not succeed."""
    stop = log.first("run_stop")
    if stop is None or stop.metadata.get("status") != "success":
        return 1e9
    evals = [r for r in log.all("eval_accuracy") if r.index < stop.index]
    if not evals:
        return 1e9
    meta = evals[-1].metadata
    if benchmark in SAMPLES_BENCHMARKS:
        return float(meta.get("samples_count", 1e9))
    return round(float(meta.get("epoch_num", 1e9)), 3)

