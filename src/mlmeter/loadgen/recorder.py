"""Folds completed queries into the compact arrays the metrics need.

SingleStream and MultiStream runs can issue millions of queries; their raw timestamps are folded chunk by
chunk into per-sample latencies (8 bytes a sample), so memory grows with what was issued, not with what the
official LoadGen would have pre-generated. Raw timestamps are kept only when a trace is requested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlmeter.loadgen.logs.trace import TracePass
from mlmeter.loadgen.timeline import Timeline


@dataclass(frozen=True)
class PassTiming:
    """What the metrics of a performance pass are computed from (times are absolute ``perf_counter_ns``)."""

    start_ns: int
    sample_latency: np.ndarray  # per completed sample, query-major
    query_latency: np.ndarray | None  # per completed query (MultiStream)
    query_count: int
    final_scheduled_ns: int
    final_issued_ns: int
    final_done_ns: int
    ttft: np.ndarray | None = None
    tpot: np.ndarray | None = None
    token_count: int = 0
    timeline: Timeline | None = None


class PassRecorder:
    def __init__(self, spq: int, multi: bool, tokens: bool, trace: bool) -> None:
        self.spq, self.multi, self.tokens, self.trace = spq, multi, tokens, trace
        self._lat: list[np.ndarray] = []
        self._qlat: list[np.ndarray] = []
        self._ttft: list[np.ndarray] = []
        self._tpot: list[np.ndarray] = []
        self.token_count = 0
        self.queries = 0
        self.final: tuple[int, int, int] | None = None
        self.timeline = Timeline()
        self._raw: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(
        self,
        start_ns: int,
        scheduled: np.ndarray,
        issued: np.ndarray,
        done: np.ndarray,
        qsl_idx: np.ndarray,
        first: np.ndarray | None = None,
        n_tokens: np.ndarray | None = None,
    ) -> None:
        """Record queries (``scheduled``/``issued`` per query; the rest per sample, query-major)."""
        nq, spq = len(scheduled), self.spq
        if nq == 0:
            return
        done = done[: nq * spq]
        complete = (done.reshape(nq, spq) != 0).all(axis=1)
        if not complete.all():  # only after a SUT failure: drop the queries it never finished
            keep = np.flatnonzero(complete)
            sel = (keep[:, None] * spq + np.arange(spq)[None, :]).ravel()
            scheduled, issued, done, qsl_idx = scheduled[keep], issued[keep], done[sel], qsl_idx[sel]
            first = None if first is None else first[sel]
            n_tokens = None if n_tokens is None else n_tokens[sel]
            nq = len(keep)
            if nq == 0:
                return
        sched_s = np.repeat(scheduled, spq) if spq > 1 else scheduled
        lat = done - sched_s
        self._lat.append(lat)
        if self.multi:
            self._qlat.append(done.reshape(nq, spq).max(axis=1) - scheduled)
        if self.tokens and first is not None and n_tokens is not None:
            ttft = first - sched_s
            diff = lat - ttft
            denom = np.where(n_tokens > 1, n_tokens - 1, 1)
            self._ttft.append(ttft)
            self._tpot.append(np.where(n_tokens > 1, np.sign(diff) * (np.abs(diff) // denom), 0))
            self.token_count += int(n_tokens.sum())
        self.queries += nq
        self.timeline.add(start_ns, issued, spq, done)
        self.final = (int(scheduled[-1]), int(issued[-1]), int(done[(nq - 1) * spq : nq * spq].max()))
        if self.trace:
            self._raw.append((sched_s.copy(), np.repeat(issued, spq), done.copy(), qsl_idx.copy()))

    def timing(self, start_ns: int, offline: bool) -> PassTiming | None:
        if self.final is None:
            return None
        lat = _join(self._lat)
        self._lat = []
        tokens = self.tokens
        return PassTiming(
            start_ns=start_ns,
            sample_latency=lat,
            query_latency=_join(self._qlat) if self.multi else None,
            query_count=self.queries,
            final_scheduled_ns=self.final[0],
            final_issued_ns=self.final[1],
            final_done_ns=self.final[2],
            ttft=(np.zeros(0, np.int64) if offline else _join(self._ttft)) if tokens else None,
            tpot=(np.zeros(0, np.int64) if offline else _join(self._tpot)) if tokens else None,
            token_count=self.token_count,
            timeline=self.timeline,
        )

    def trace_pass(self, seq0: int, server: bool) -> TracePass:
        parts = self._raw or [(np.zeros(0, np.int64),) * 4]
        return TracePass(
            spans=[],
            seq0=seq0,
            scheduled_ns=_join([p[0] for p in parts]),
            issued_ns=_join([p[1] for p in parts]),
            done_ns=_join([p[2] for p in parts]),
            qsl_idx=_join([p[3] for p in parts]),
            samples_per_query=self.spq,
            server=server,
        )


def _join(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts)
