"""Differential tests: loaded sets, QSL call pattern, issued sample indices and Server schedules are
identical to the official LoadGen's for every scenario and mode."""

import json
import re

import pytest

from .conftest import requires_official, run_harness

pytestmark = [requires_official, pytest.mark.oracle]

BASE = dict(min_duration_ms=0, single_stream_expected_latency_ns=100000, multi_stream_expected_latency_ns=100000,
            server_target_qps=20000, offline_expected_qps=1000, server_target_latency_ns=10**9)
CASES = {
    "ss-perf": dict(scenario="SingleStream", min_query_count=300),
    "ss-perf-seeds": dict(scenario="SingleStream", min_query_count=200, qsl_rng_seed=2085463073848966840,
                          sample_index_rng_seed=2747215439041700203),
    "ss-override": dict(scenario="SingleStream", min_query_count=150, performance_sample_count_override=40),
    "ss-acc": dict(scenario="SingleStream", mode="AccuracyOnly"),
    "ss-acc-override": dict(scenario="SingleStream", mode="AccuracyOnly", accuracy_sample_count_override=120),
    "ss-unique": dict(scenario="SingleStream", min_query_count=10, performance_issue_unique=True),
    "ss-same": dict(scenario="SingleStream", min_query_count=50, performance_issue_same=True,
                    performance_issue_same_index=3),
    "ss-equal": dict(scenario="SingleStream", min_query_count=150, sample_concatenate_permutation=True),
    "ms-perf": dict(scenario="MultiStream", min_query_count=120),
    "ms-acc": dict(scenario="MultiStream", mode="AccuracyOnly"),
    "ms-acc-3": dict(scenario="MultiStream", mode="AccuracyOnly", multi_stream_samples_per_query=3),
    "ms-equal": dict(scenario="MultiStream", min_query_count=100, sample_concatenate_permutation=True),
    "server-perf": dict(scenario="Server", min_query_count=400),
    "server-acc": dict(scenario="Server", mode="AccuracyOnly"),
    "server-equal": dict(scenario="Server", min_query_count=100, sample_concatenate_permutation=True),
    "offline-perf": dict(scenario="Offline", min_query_count=500),
    "offline-qps": dict(scenario="Offline", min_duration_ms=1000, offline_expected_qps=555.5, min_query_count=1),
    "offline-acc": dict(scenario="Offline", mode="AccuracyOnly"),
    "offline-equal": dict(scenario="Offline", min_query_count=150, sample_concatenate_permutation=True),
    "offline-unique": dict(scenario="Offline", performance_issue_unique=True),
    "submission": dict(scenario="SingleStream", mode="SubmissionRun", min_query_count=80),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_loads_and_samples(tmp_path, case):
    settings = {**BASE, **CASES[case]}
    off = run_harness("official", tmp_path / "o", settings)
    ours = run_harness("ours", tmp_path / "m", settings)
    assert ours.loads == off.loads
    assert ours.unloads == off.unloads
    assert ours.issued == off.issued
    gen = re.compile(r'"key": "(generated_[a-z_]+)", "value": (\d+)')
    assert gen.findall(ours.text("detail.txt")) == gen.findall(off.text("detail.txt"))


def _schedule(trace: str) -> list[int]:
    starts = []
    for line in trace.splitlines():
        if '"name":"Sample"' in line and '"ph":"b"' in line:
            ev = json.loads(line.rstrip(","))
            starts.append(round(ev["ts"] * 1000))
    return [s - starts[0] for s in starts]


@pytest.mark.parametrize("qps", [1000.0, 7777.7])
def test_server_schedule_to_the_nanosecond(tmp_path, qps):
    settings = {**BASE, "scenario": "Server", "server_target_qps": qps, "min_query_count": 300,
                "schedule_rng_seed": 16159082839903944936}
    off = run_harness("official", tmp_path / "o", settings, trace=True)
    ours = run_harness("ours", tmp_path / "m", settings, trace=True)
    a, b = _schedule(off.text("trace.json")), _schedule(ours.text("trace.json"))
    assert len(a) == len(b) == 300
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1  # the trace prints µs with 3 decimals
    if qps == 1000.0:
        assert b[:10] == [0, 1843654, 2301577, 3587439, 4300433, 4686839, 6935180, 8026759, 8128505, 9589851]


@pytest.mark.parametrize("extra", [dict(accuracy_log_probability=0.05),
                                   dict(accuracy_log_sampling_target=40, accuracy_log_rng_seed=720381539243781796)])
def test_performance_mode_accuracy_sampling(tmp_path, extra):
    settings = {**BASE, "scenario": "SingleStream", "min_query_count": 500, **extra}
    off = run_harness("official", tmp_path / "o", settings, payload=True)
    ours = run_harness("ours", tmp_path / "m", settings, payload=True)
    a = json.loads(off.text("accuracy.json"))
    b = json.loads(ours.text("accuracy.json"))
    assert a and b == a
