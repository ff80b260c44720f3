"""DLIO's training metrics, reproduced exactly (spec §5.4), plus clearly labelled ideal variants."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EpochRecord:
    """One rank's epoch: per-step load, proc (load + compute) and compute seconds, and the block wall time."""

    load: tuple[float, ...]
    proc: tuple[float, ...]
    compute: tuple[float, ...]
    wall: float
    bytes_read: int
    device_bytes: int = -1
    """What the kernel fetched from storage during the epoch (-1: unknown); the rest came from the page cache."""
    checkpoint_s: float = 0.0
    """Seconds this rank spent writing its checkpoint after the epoch (0: none); outside the AU window."""


def block_metrics(r: EpochRecord, expected_steps: int, batch: int, exclude_start: int = 1,
                  exclude_end: int = 0) -> tuple[float, float]:
    """(AU %, samples/s) of a block as DLIO's StatsCounter computes them, including its (n − 2) numerator."""
    t = expected_steps
    n = len(r.compute)
    total_compute = sum(r.compute[exclude_start : t - exclude_end])
    total_time = r.wall - sum(r.proc[:exclude_start]) - sum(r.proc[t - exclude_end :] if exclude_end else ())
    au = 100.0 * total_compute / total_time if total_compute > 0 and total_time > 0 else 0.0
    thr = (n - 2) / total_time * batch if total_time > 0 else 0.0
    return au, thr


def ideal_block_throughput(r: EpochRecord, batch: int, exclude_start: int = 1) -> float:
    """Samples/s over the same window without DLIO's off-by-one: (n − excluded) steps in that window."""
    n = len(r.compute)
    window = r.wall - sum(r.proc[:exclude_start])
    return (n - exclude_start) / window * batch if window > 0 else 0.0


@dataclass(frozen=True)
class Summary:
    au_per_epoch: tuple[float, ...]
    throughput_per_epoch: tuple[float, ...]
    au_mean: float
    au_stdev: float
    throughput_mean: float
    throughput_stdev: float
    io_mean_mib: float
    io_stdev_mib: float
    ideal_throughput_mean: float


def summarize(per_rank: Sequence[Sequence[EpochRecord]], expected_steps: int, batch: int, record_length: float,
              exclude_start: int = 1, exclude_end: int = 0) -> Summary:
    """Per epoch: AU = mean over ranks, throughput = sum over ranks; then mean and population std over epochs.
    MB/s = samples/s × the configured record length / 2**20 (as DLIO; not the bytes actually read)."""
    epochs = len(per_rank[0])
    au_e, thr_e, ideal_e = [], [], []
    for e in range(epochs):
        pairs = [block_metrics(rank[e], expected_steps, batch, exclude_start, exclude_end) for rank in per_rank]
        au_e.append(sum(p[0] for p in pairs) / len(pairs))
        thr_e.append(sum(p[1] for p in pairs))
        ideal_e.append(sum(ideal_block_throughput(rank[e], batch, exclude_start) for rank in per_rank))
    thr_mean = statistics.fmean(thr_e)
    thr_std = statistics.pstdev(thr_e)
    return Summary(
        tuple(au_e), tuple(thr_e), statistics.fmean(au_e), statistics.pstdev(au_e), thr_mean, thr_std,
        thr_mean * record_length / 2**20, thr_std * record_length / 2**20, statistics.fmean(ideal_e),
    )
