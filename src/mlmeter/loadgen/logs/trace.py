"""``mlperf_log_trace.json``: Chrome trace events built after the run from the recorded timestamps.

Tracing costs the issuing loop nothing: every sample's scheduled, issued and completed instants are kept
anyway, so the per-sample async events (and, for Server, the latency counters) are formatted at the end,
together with the run's phase spans. Unlike the official file, the output is valid JSON.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    name: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class TracePass:
    """What one pass contributes: phase spans and per-sample timestamps (absolute ns)."""

    spans: list[Span]
    seq0: int
    scheduled_ns: np.ndarray  # per sample
    issued_ns: np.ndarray  # per sample
    done_ns: np.ndarray  # per sample
    qsl_idx: np.ndarray
    samples_per_query: int
    server: bool


def _us(ns: int | float) -> str:
    return f"{ns / 1000:.3f}"


def trace_text(origin_ns: int, origin_epoch_ns: int, passes: list[TracePass]) -> str:
    pid = os.getpid()
    out = ['{"traceEvents":[']
    for p in passes:
        for s in p.spans:
            out.append(
                f'{{"name":"{s.name}","ph":"X","pid":{pid},"tid":{pid},"ts":{_us(s.start_ns - origin_ns)},'
                f'"dur":{_us(s.end_ns - s.start_ns)},"args":{{}}}},'
            )
        sched = (p.scheduled_ns - origin_ns).tolist()
        issue = (p.issued_ns - p.scheduled_ns).tolist()
        done = (p.done_ns - p.scheduled_ns).tolist()
        end = (p.done_ns - origin_ns).tolist()
        idx = p.qsl_idx.tolist()
        spq = p.samples_per_query
        for k in range(len(sched)):
            seq = p.seq0 + k
            if p.server:
                out.append(
                    f'{{"name":"Latency","ph":"C","pid":{pid},"ts":{_us(sched[k])},"args":{{"issue_delay":{issue[k]},'
                    f'"issue_to_done":{done[k] - issue[k]}}}}},'
                )
            out.append(
                f'{{"name":"Sample","cat":"default","ph":"b","pid":{pid},"id":{seq},"ts":{_us(sched[k])},'
                f'"args":{{"sample_seq":{seq},"query_seq":{(p.seq0 + k) // spq},"sample_idx":{idx[k]},'
                f'"issue_start_ns":{issue[k]},"complete_ns":{done[k]}}}}},'
            )
            if done[k] >= 0 and end[k] >= 0:
                out.append(f'{{"name":"Sample","cat":"default","ph":"e","pid":{pid},"id":{seq},"ts":{_us(end[k])}}},')
    out.append('{"name":"LastTrace"}')
    out.append('],\n"displayTimeUnit":"ns",\n"otherData":{')
    out.append(f'"ts":{origin_epoch_ns / 1000:.3f},\n"version":"MLPerf LoadGen v1.0"\n}}\n}}')
    return "\n".join(out) + "\n"
