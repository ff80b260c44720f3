"""Issued and completed samples over the time of a performance pass, folded as they are recorded.

Counts are kept per 10 ms since the pass began (8 bytes a bucket per series), and coarsened for ``result.json``
to at most a few hundred points, so a report can draw throughput over time without any raw timestamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RESOLUTION_NS = 10_000_000


class Timeline:
    def __init__(self) -> None:
        self.issued = np.zeros(0, dtype=np.int64)
        self.completed = np.zeros(0, dtype=np.int64)

    @staticmethod
    def _fold(acc: np.ndarray, start_ns: int, times_ns: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        if len(times_ns) == 0:
            return acc
        buckets = np.maximum(times_ns - start_ns, 0) // RESOLUTION_NS
        counts = np.bincount(buckets, weights=weights).astype(np.int64)
        if len(counts) > len(acc):
            acc = np.concatenate([acc, np.zeros(len(counts) - len(acc), dtype=np.int64)])
        acc[: len(counts)] += counts
        return acc

    def add(self, start_ns: int, issued_ns: np.ndarray, samples_per_query: int, done_ns: np.ndarray) -> None:
        """``issued_ns`` per query, ``done_ns`` per sample."""
        w = None if samples_per_query == 1 else np.full(len(issued_ns), samples_per_query, dtype=np.float64)
        self.issued = self._fold(self.issued, start_ns, issued_ns, w)
        self.completed = self._fold(self.completed, start_ns, done_ns, None)

    def summary(self, max_points: int = 300) -> dict[str, Any]:
        """Counts per bucket of ``bucket_s`` seconds (a multiple of 10 ms giving at most ``max_points``)."""
        n = max(len(self.issued), len(self.completed))
        factor = max(1, -(-n // max_points))
        out: dict[str, Any] = {"bucket_s": factor * RESOLUTION_NS / 1e9}
        for name, a in (("issued", self.issued), ("completed", self.completed)):
            padded = np.zeros(-(-n // factor) * factor, dtype=np.int64)
            padded[: len(a)] = a
            out[name] = padded.reshape(-1, factor).sum(axis=1).tolist()
        return out


def latency_histogram(sorted_ns: np.ndarray, bins: int = 60) -> dict[str, list[int]]:
    """Log-spaced histogram of an ascending latency array: ``edges_ns`` (bins + 1) and ``counts`` (bins)."""
    if len(sorted_ns) == 0:
        return {"edges_ns": [], "counts": []}
    lo, hi = max(int(sorted_ns[0]), 1), max(int(sorted_ns[-1]), 1)
    if hi <= lo:
        return {"edges_ns": [lo, lo + 1], "counts": [len(sorted_ns)]}
    edges = np.unique(np.geomspace(lo, hi, bins + 1).astype(np.int64))
    edges[-1] = hi + 1  # the maximum falls in the last bin
    positions = np.searchsorted(sorted_ns, edges, side="left")
    positions[0] = 0
    return {"edges_ns": edges.tolist(), "counts": np.diff(positions).tolist()}
