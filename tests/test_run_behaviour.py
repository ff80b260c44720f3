"""Run-level behaviour: interrupts while waiting, trace validity, find-peak, token SUT, accuracy passes."""

import _thread
import json
import signal
import threading
from pathlib import Path

import pytest

from mlmeter.loadgen import LogSettings, RunInterrupted, TestMode, TestScenario, TestSettings, run_test
from mlmeter.loadgen.simulated import LatencyModel, LatencySUT, MemoryQSL, NullSUT


def _interrupt_until(stop: threading.Event, first_s: float, every_s: float) -> None:
    """Ctrl-C the main thread after ``first_s``, and again every ``every_s`` until ``stop`` is set: an
    interrupt that lands inside a finaliser is swallowed by Python, so one alone can be lost."""
    if stop.wait(first_s):
        return
    while True:
        _thread.interrupt_main()
        if stop.wait(every_s):
            return


def test_interrupt_while_waiting_for_the_sut(tmp_path):
    sut = LatencySUT(LatencyModel(mean_ms=5.0))
    s = TestSettings(scenario=TestScenario.SingleStream, min_duration_ms=60000, max_duration_ms=20000,
                     min_query_count=100, single_stream_expected_latency_ns=1_000_000)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever an earlier test left
    stop = threading.Event()
    ticker = threading.Thread(target=_interrupt_until, args=(stop, 0.5, 0.25), daemon=True)
    ticker.start()
    try:
        with pytest.raises(RunInterrupted) as exc:
            run_test(sut, MemoryQSL(64, 64), s, LogSettings(outdir=str(tmp_path)))
    finally:
        stop.set()
        ticker.join()
        sut.close()
        signal.signal(signal.SIGINT, previous)
    r = exc.value.result
    assert r.interrupted and r.valid is False and r.performance is not None
    assert 5 < r.performance.query_count < 600  # about 100 queries of 5 ms in 0.5 s
    doc = json.loads(Path(r.files["result"]).read_text())
    assert doc["complete"] is False and doc["verdict"] == "INCOMPLETE"
    assert any("interrupted by the user" in x for x in doc["reasons"])


def test_trace_is_valid_json_with_every_sample(tmp_path):
    s = TestSettings(scenario=TestScenario.Server, server_target_qps=5000, min_duration_ms=0, min_query_count=300)
    r = run_test(NullSUT(), MemoryQSL(64, 64), s, LogSettings(outdir=str(tmp_path), enable_trace=True))
    trace = json.loads(Path(r.files["trace"]).read_text())
    begins = [e for e in trace["traceEvents"] if e.get("name") == "Sample" and e.get("ph") == "b"]
    ends = [e for e in trace["traceEvents"] if e.get("name") == "Sample" and e.get("ph") == "e"]
    assert len(begins) == len(ends) == r.performance.query_count
    assert all(e["args"]["complete_ns"] >= e["args"]["issue_start_ns"] >= 0 for e in begins)


def test_find_peak_brackets_the_capacity(tmp_path):
    sut = LatencySUT(LatencyModel(mean_ms=10.0), workers=1)  # capacity 100 QPS
    s = TestSettings(scenario=TestScenario.Server, mode=TestMode.FindPeakPerformance, server_target_qps=20,
                     server_target_latency_ns=200_000_000, min_duration_ms=400, min_query_count=10,
                     server_find_peak_qps_decimals_of_precision=0, server_find_peak_qps_boundary_step_size=1)
    try:
        r = run_test(sut, MemoryQSL(64, 64), s, LogSettings(outdir=str(tmp_path)))
    finally:
        sut.close()
    assert r.find_peak_qps is not None and 20 <= r.find_peak_qps < 200
    detail = Path(r.files["detail"]).read_text()
    assert "FindBoundaries: Checking fields [20.000000, 40.000000)" in detail
    assert "FindPeakPerformance: Found peak performance field" in detail


def test_token_streaming_sut_reports_ttft_and_tpot(tmp_path):
    sut = LatencySUT(LatencyModel(mean_ms=2.0, tokens=11, ttft_fraction=0.5), workers=1)
    s = TestSettings(scenario=TestScenario.SingleStream, use_token_latencies=True, min_duration_ms=0,
                     min_query_count=80, single_stream_expected_latency_ns=1_000_000)
    try:
        r = run_test(sut, MemoryQSL(64, 64), s, LogSettings(outdir=str(tmp_path)))
    finally:
        sut.close()
    t = r.performance.tokens
    assert t.token_count == 80 * 11 and not r.errors
    assert 0.7e6 < t.ttft.percentiles[0.5] < 6e6  # about half of 2 ms, plus timer lateness
    assert 0.05e6 < t.tpot.percentiles[0.5] < 0.6e6  # the other half over 10 tokens


def test_accuracy_mode_logs_every_sample_once(tmp_path):
    class Echo(NullSUT):
        def issue(self, ids, indices):
            self._complete(ids, responses=[int(i).to_bytes(4, "little") for i in indices])

    s = TestSettings(scenario=TestScenario.Offline, mode=TestMode.AccuracyOnly)
    r = run_test(Echo(), MemoryQSL(300, 128), s, LogSettings(outdir=str(tmp_path)))
    log = json.loads(Path(r.files["accuracy"]).read_text())
    assert sorted(e["qsl_idx"] for e in log) == list(range(300))
    assert all(int.from_bytes(bytes.fromhex(e["data"]), "little") == e["qsl_idx"] for e in log)
    assert r.valid is None and r.performance is None


class SlowSUT(NullSUT):
    """Completes each issue call after a fixed delay, on a background thread; records call sizes."""

    def __init__(self, delay_s):
        self.delay_s, self.calls = delay_s, []

    def issue(self, ids, indices):
        self.calls.append(len(ids))
        threading.Timer(self.delay_s, self._complete, args=(ids.copy(),)).start()


def test_server_coalesces_overdue_queries(tmp_path):
    class Blocking(NullSUT):
        def __init__(self):
            self.calls = []

        def issue(self, ids, indices):
            self.calls.append(len(ids))
            import time

            time.sleep(0.004)  # slower than the 1 ms arrival gap: queries pile up
            self._complete(ids)

    sut = Blocking()
    s = TestSettings(scenario=TestScenario.Server, server_target_qps=1000, min_duration_ms=300, min_query_count=50,
                     server_coalesce_queries=True)
    r = run_test(sut, MemoryQSL(64, 64), s, LogSettings(outdir=str(tmp_path)))
    assert sum(sut.calls) == r.performance.query_count  # every query issued once, each counted
    assert max(sut.calls) > 1 and len(sut.calls) < r.performance.query_count / 2


def test_server_max_async_stops_issuing(tmp_path):
    sut = SlowSUT(0.2)
    s = TestSettings(scenario=TestScenario.Server, server_target_qps=2000, min_duration_ms=500, min_query_count=50,
                     server_max_async_queries=10)
    r = run_test(sut, MemoryQSL(64, 64), s, LogSettings(outdir=str(tmp_path)))
    assert len(sut.calls) == 11  # the 11th outstanding query trips the limit
    assert any("Too many outstanding queries. issued 11 outstanding 11" in e for e in r.errors)
    assert r.valid is False


def test_gc_threshold_raised_during_run_and_restored(tmp_path):
    import gc

    seen = []

    class Probe(NullSUT):
        def issue(self, ids, indices):
            seen.append(gc.get_threshold()[0])
            self._complete(ids)

    before = gc.get_threshold()
    s = TestSettings(scenario=TestScenario.Offline, min_query_count=10)
    run_test(Probe(), MemoryQSL(16, 16), s, LogSettings(outdir=str(tmp_path)))
    assert seen and seen[0] >= 10_000
    assert gc.get_threshold() == before
