"""A misbehaving SUT or QSL, nonsense settings and Ctrl-C: the run always ends, files are whole, verdict explains."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from mlmeter.loadgen import LogSettings, RunInterrupted, SettingsError, TestMode, TestScenario, TestSettings, run_test
from mlmeter.loadgen.simulated import MemoryQSL, NullSUT


def settings(**kw):
    base = dict(scenario=TestScenario.SingleStream, min_duration_ms=0, min_query_count=200,
                single_stream_expected_latency_ns=1000, completion_timeout_ms=300)
    base.update(kw)
    return TestSettings(**base)


def files_whole(r):
    detail = Path(r.files["detail"]).read_text().splitlines()
    assert all(line.startswith(":::MLLOG {") and line.endswith("}}") for line in detail)
    json.loads(Path(r.files["accuracy"]).read_text())
    doc = json.loads(Path(r.files["result"]).read_text())
    return doc


class Misbehaving(NullSUT):
    def __init__(self, mode, at=50):
        self.mode, self.at, self.n = mode, at, 0

    def issue(self, ids, indices):
        self.n += 1
        if self.n == self.at:
            if self.mode == "raise":
                raise RuntimeError("model crashed")
            if self.mode == "hang":
                return
            if self.mode == "twice":
                self._complete(ids)
            if self.mode == "unknown":
                self._complete(np.array([10**9]))
            if self.mode == "interrupt":
                raise KeyboardInterrupt
        self._complete(ids)


@pytest.mark.parametrize("mode,reason", [
    ("raise", "SUT raised in issue: RuntimeError: model crashed"),
    ("hang", "SUT stopped completing"),
    ("twice", "Attempted to complete a sample twice"),
    ("unknown", "unknown sample id 1000000000"),
])
@pytest.mark.parametrize("scenario", [TestScenario.SingleStream, TestScenario.Server])
def test_misbehaving_sut_ends_invalid_with_reason(tmp_path, mode, reason, scenario):
    s = settings(scenario=scenario, server_target_qps=5000)
    r = run_test(Misbehaving(mode), MemoryQSL(100, 100), s, LogSettings(outdir=str(tmp_path)))
    assert r.valid is False
    assert any(reason in x for x in r.reasons), r.reasons
    doc = files_whole(r)
    assert doc["verdict"] == "INVALID" and any(reason in x for x in doc["reasons"])
    summary = Path(r.files["summary"]).read_text()
    assert "Result is : INVALID" in summary and reason.split(":")[0] in summary


def test_offline_sut_that_never_completes_times_out(tmp_path):
    class Silent(NullSUT):
        def issue(self, ids, indices):
            pass

    s = settings(scenario=TestScenario.Offline, min_query_count=10, completion_timeout_ms=200)
    r = run_test(Silent(), MemoryQSL(100, 100), s, LogSettings(outdir=str(tmp_path)))
    assert r.valid is False and any("stopped completing" in x for x in r.reasons)
    files_whole(r)


def test_qsl_load_failure(tmp_path):
    class Broken(MemoryQSL):
        def load_samples(self, indices):
            raise OSError("disk gone")

    r = run_test(NullSUT(), Broken(100, 100), settings(), LogSettings(outdir=str(tmp_path)))
    assert r.valid is False and any("disk gone" in x for x in r.reasons)
    files_whole(r)


def test_completions_from_many_threads(tmp_path):
    class Threaded(NullSUT):
        name = "threaded"

        def issue(self, ids, indices):
            for chunk in np.array_split(ids, 4):
                threading.Thread(target=self._complete, args=(chunk,)).start()

    s = settings(scenario=TestScenario.Offline, min_query_count=20000)
    r = run_test(Threaded(), MemoryQSL(1000, 1000), s, LogSettings(outdir=str(tmp_path)))
    assert r.valid is True and r.performance.sample_count == 20000 and not r.errors


def test_ctrl_c_keeps_measurements(tmp_path):
    with pytest.raises(RunInterrupted) as exc:
        run_test(Misbehaving("interrupt", at=120), MemoryQSL(100, 100), settings(), LogSettings(outdir=str(tmp_path)))
    r = exc.value.result
    assert r.interrupted and r.valid is False
    assert r.performance is not None and r.performance.query_count == 119
    doc = files_whole(r)
    assert doc["complete"] is False


@pytest.mark.parametrize("kw,needle", [
    (dict(server_target_qps=-5.0, scenario=TestScenario.Server), "server_target_qps must be a positive number"),
    (dict(single_stream_target_latency_percentile=1.5), "strictly between 0 and 1"),
    (dict(server_target_latency_percentile=0.0), "strictly between 0 and 1"),
    (dict(min_query_count=-1), "min_query_count must be a non-negative integer"),
    (dict(multi_stream_samples_per_query=0), "multi_stream_samples_per_query"),
    (dict(performance_issue_same=True, performance_issue_same_index=100), "must be below the performance sample"),
    (dict(performance_issue_same=True, performance_issue_unique=True), "cannot both be true"),
    (dict(mode=TestMode.FindPeakPerformance), "only supported in Server"),
])
def test_nonsense_settings_refused_before_running(tmp_path, kw, needle):
    qsl = MemoryQSL(100, 100)
    with pytest.raises(SettingsError, match=needle):
        run_test(NullSUT(), qsl, settings(**kw), LogSettings(outdir=str(tmp_path / "x")))
    assert qsl.loads == [] and not (tmp_path / "x").exists()


def test_zero_samples_refused(tmp_path):
    with pytest.raises(SettingsError, match="needs at least one"):
        run_test(NullSUT(), MemoryQSL(0, 0), settings(), LogSettings(outdir=str(tmp_path)))


def test_explained_verdict_for_too_fast_sut(tmp_path):
    s = settings(min_duration_ms=500, single_stream_expected_latency_ns=10_000_000, min_query_count=10)
    r = run_test(NullSUT(), MemoryQSL(100, 100), s, LogSettings(outdir=str(tmp_path)))
    c = r.performance.check("min_duration")
    assert not c.passed
    assert "single_stream_expected_latency_ns" in c.advice and "short by" in c.advice


def test_sigkill_leaves_the_partial_detail_log(tmp_path):
    """A run killed outright (no cleanup possible) leaves the detail log it had streamed, as the official does."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "mlmeter.cli.main", "loadgen", "--sut", "fixed", "--latency-ms", "1",
                          "--min-duration-ms", "60000", "--quiet", "--output", str(out)],
                         env={**os.environ, "MLMETER_STORE": str(tmp_path / "store")})
    partial = out / "mlperf_log_detail.txt.partial"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (partial.is_file() and "effective_" in partial.read_text()):
        time.sleep(0.1)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    lines = partial.read_text().splitlines()
    assert lines and all(x.startswith(":::MLLOG {") for x in lines)
    assert any('"key": "effective_min_duration_ms"' in x for x in lines)
    assert not (out / "mlperf_log_detail.txt").exists()
