"""Concurrency mode (not an MLPerf scenario): N closed-loop streams, each sending its next request when the last
one ends, for a set time. The endpoint client is the same :class:`EndpointSUT`; a sink of its own keeps the
times, issues the next request, and at the end gives the distributions, rates, goodput and the bound checks —
labelled mlmeter's, not MLPerf's."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlmeter.loadgen.protocols import Driver
from mlmeter.loadgen.result_json import stats_dict
from mlmeter.loadgen.results import LatencyStats
from mlmeter.serving.endpoint import EndpointSUT
from mlmeter.verdict import Check, failure

_clock = time.perf_counter_ns


@dataclass
class _Sample:
    stream: int
    issued_ns: int
    first_ns: int = 0
    done_ns: int = 0
    tokens: int = 0


@dataclass
class ConcurrencyRun:
    """The sink the endpoint reports to; ``run()`` drives the streams and waits for the last reply."""

    sut: EndpointSUT
    streams: int
    duration_s: float
    prompts: int
    samples: list[_Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._outstanding = 0
        self._deadline = 0
        self._driver: Driver | None = None

    def run(self) -> None:
        self.sut.start(self)  # type: ignore[arg-type]
        driver = self._driver = self.sut.driver()
        self._start_ns = _clock()
        self._deadline = self._start_ns + int(self.duration_s * 1e9)
        for s in range(self.streams):
            self._send(s)
        if driver is not None:  # the client's loop runs here; the last reply interrupts it
            while self._outstanding:
                driver.run_until(_clock() + 500_000_000)
        else:
            with self._done:
                while self._outstanding:
                    self._done.wait(0.5)
        self._end_ns = _clock()

    def _send(self, stream: int) -> None:
        with self._lock:
            sid = len(self.samples)
            self.samples.append(_Sample(stream, _clock()))
            self._outstanding += 1
        self.sut.issue(np.array([sid]), np.array([sid % self.prompts]))

    # -- the sink's side ------------------------------------------------------------------------------
    def first_token(self, ids: Any, responses: Any = None, *, on_response: Any = None, at_ns: int | None = None) -> None:
        self.samples[int(ids)].first_ns = at_ns or _clock()

    def complete(self, ids: Any, responses: Any = None, n_tokens: Any = None, *, on_response: Any = None,
                 at_ns: int | None = None) -> None:
        now = at_ns or _clock()
        sid = int(ids)
        s = self.samples[sid]
        s.done_ns, s.tokens = now, int(n_tokens[0]) if n_tokens is not None else 0
        if now < self._deadline:
            self._send(s.stream)
        with self._done:
            self._outstanding -= 1
            self._done.notify()
        if not self._outstanding and self._driver is not None:
            self._driver.interrupt()

    def complete_one(self, sample_id: int, response: Any = None, n_tokens: int | None = None,
                     on_response: Any = None, at_ns: int | None = None) -> None:
        self.complete(sample_id, [response], [n_tokens or 0], at_ns=at_ns)

    def report_failure(self, message: str) -> None:
        with self._lock:
            if message not in self.failures:
                self.failures.append(message)

    # -- figures ------------------------------------------------------------------------------------------
    def body(self, ttft_bound_ns: int, tpot_bound_ns: int) -> dict[str, Any]:
        """The ``serving`` body of a concurrency run, in the LoadGen body's key names where they mean the same."""
        ok = [s for s in self.samples if s.done_ns and s.first_ns and s.tokens > 0]
        ttft = np.array([s.first_ns - s.issued_ns for s in ok], dtype=np.int64)
        tpot = np.array([(s.done_ns - s.first_ns) / (s.tokens - 1) for s in ok if s.tokens > 1], dtype=float)
        lat = np.array([s.done_ns - s.issued_ns for s in ok], dtype=np.int64)
        span = (self._end_ns - self._start_ns) / 1e9
        tokens = sum(s.tokens for s in ok)
        good = [s for s in ok if s.first_ns - s.issued_ns <= ttft_bound_ns and
                (s.tokens < 2 or (s.done_ns - s.first_ns) / (s.tokens - 1) <= tpot_bound_ns)]
        return {"scenario": "Concurrency", "mode": f"concurrency {self.streams}", "sample_count": len(ok),
                "query_count": len(ok), "not_mlperf": "concurrency is not an MLPerf scenario",
                "metrics": {"completed_samples_per_sec": len(ok) / span if span else None,
                            "completed_tokens_per_second": tokens / span if span else None},
                "latency": _stats(lat), "tokens": {"token_count": tokens, "ttft": _stats(ttft), "tpot": _stats(tpot)},
                "concurrency": {"streams": self.streams, "duration_s": span, "requests": len(self.samples),
                                "goodput_requests_per_second": len(good) / span if span else None,
                                "bounds_ns": {"ttft": ttft_bound_ns, "tpot": tpot_bound_ns}}}

    def checks(self, ttft_bound_ns: int, tpot_bound_ns: int) -> list[Check]:
        """p99 TTFT and TPOT within the bounds (mlmeter's rule for a concurrency level), and no failed request."""
        b = self.body(ttft_bound_ns, tpot_bound_ns)["tokens"]
        out = []
        for key, bound in (("ttft", ttft_bound_ns), ("tpot", tpot_bound_ns)):
            p99 = (b[key] or {}).get("p99")
            out.append(Check(f"p99 {key.upper()}", p99 is not None and p99 <= bound, f"<= {bound} ns",
                             f"{p99} ns" if p99 is not None else "no completed reply",
                             advice=f"fewer streams, or a faster server: p99 {key.upper()} is over its bound"))
        return out + [failure(f) for f in self.failures]


def _stats(a: np.ndarray) -> dict[str, Any] | None:
    return stats_dict(LatencyStats.of_sorted(np.sort(a))) if len(a) else None
