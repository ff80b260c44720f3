"""A SUT that offers a driver (``sut.driver()``): the LoadGen runs its work on the issuing thread whenever it
waits — for a scheduled query, for the next closed-loop query, for the end of a pass — and a SUT that stops
completing still ends the run INVALID at the completion timeout instead of hanging."""

from __future__ import annotations

import heapq
import threading
import time

import numpy as np

from mlmeter.loadgen import LogSettings, TestScenario, TestSettings, run_test
from mlmeter.loadgen.simulated import MemoryQSL

_clock = time.perf_counter_ns


class DrivenSUT:
    """Completes each sample ``latency_ms`` after its issue, from inside ``run_until`` only."""

    name = "driven"

    def __init__(self, latency_ms: float, completes: bool = True) -> None:
        self.latency_ns, self.completes = int(latency_ms * 1e6), completes
        self.due: list[tuple[int, int]] = []
        self.threads: set[int] = set()
        self.runs = 0
        self._interrupted = False

    def start(self, sink) -> None:  # noqa: ANN001
        self.sink = sink

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        self.threads.add(threading.get_ident())
        at = _clock() + self.latency_ns
        for sid in ids.tolist():
            heapq.heappush(self.due, (at, sid))

    def flush(self) -> None:
        pass

    def driver(self) -> DrivenSUT:
        return self

    def run_until(self, deadline_ns: int) -> None:
        self.runs += 1
        self.threads.add(threading.get_ident())
        self._interrupted = False
        while not self._interrupted:
            now = _clock()
            if self.completes and self.due and self.due[0][0] <= now:
                self.sink.complete_one(heapq.heappop(self.due)[1], b"", None)
                continue
            if now >= deadline_ns:
                return
            nxt = min(deadline_ns, self.due[0][0]) if self.completes and self.due else deadline_ns
            time.sleep(max(0, nxt - now) / 1e9)

    def interrupt(self) -> None:
        self._interrupted = True


def _run(tmp_path, sut: DrivenSUT, settings: TestSettings):  # noqa: ANN202
    return run_test(sut, MemoryQSL(64, 64), settings, LogSettings(outdir=str(tmp_path)))


def test_server_issues_and_completes_on_the_issuing_thread(tmp_path):
    sut = DrivenSUT(latency_ms=5)
    s = TestSettings(scenario=TestScenario.Server, server_target_qps=500, min_duration_ms=1200, min_query_count=50,
                     server_target_latency_ns=50_000_000)
    result = _run(tmp_path, sut, s)
    assert sut.threads == {threading.get_ident()}, "issue, run_until and every completion on the caller's thread"
    assert sut.runs > 300  # the LoadGen waited for each query's time by running the SUT's work
    perf = result.performance
    assert perf is not None and perf.sample_count >= 459  # enough for early stopping
    assert 5e6 <= perf.latency.percentiles[0.5] < 25e6, perf.latency.percentiles[0.5]  # the set latency, not the driver's granularity
    assert result.valid


def test_single_stream_waits_for_each_query_by_running_the_driver(tmp_path):
    sut = DrivenSUT(latency_ms=2)
    s = TestSettings(scenario=TestScenario.SingleStream, min_duration_ms=300, min_query_count=40,
                     single_stream_expected_latency_ns=2_000_000)
    t0 = time.perf_counter()
    result = _run(tmp_path, sut, s)
    took = time.perf_counter() - t0
    perf = result.performance
    assert perf is not None and perf.query_count >= 40
    # each completion interrupts the driver: the next query follows at once, not at the driver's next turn
    assert perf.latency.percentiles[0.5] < 15e6, perf.latency.percentiles[0.5]
    assert took < 30


def test_a_driven_sut_that_stops_completing_ends_the_run_invalid(tmp_path):
    sut = DrivenSUT(latency_ms=1, completes=False)
    s = TestSettings(scenario=TestScenario.Offline, min_query_count=10, min_duration_ms=0,
                     completion_timeout_ms=400)
    t0 = time.perf_counter()
    result = _run(tmp_path, sut, s)
    assert time.perf_counter() - t0 < 20
    assert not result.valid
    assert any("stopped completing" in e for e in result.errors), result.errors
