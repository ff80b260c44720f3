"""Differential tests: summary and detail files equal the official ones line by line, timing values aside;
the compat API runs an unmodified harness and produces the same files; verdicts agree."""

import json
import re

import pytest

from .conftest import requires_official, run_harness

pytestmark = [requires_official, pytest.mark.oracle]

# Values that depend on the clock (or on the build of the generator), masked before comparing.
TIMING_KEYS = re.compile(
    r"^(loadgen_.*|logger_.*|test_datetime|get_sut_name_duration_ns|power_(begin|end)|result_.*(latency|per_sec|per_second|"
    r"qps_with.*|qps_without.*|throughput.*|_ns)|early_stopping_(latency_ss|latency_ms)|result_time_to.*)$"
)
SUMMARY_TIMING = re.compile(
    r"(latency \(ns\)|samples per second|QPS w|estimate|Samples per second|Completed samples)"
)


def detail_records(text):
    out = []
    for line in text.splitlines():
        rec = json.loads(line[len(":::MLLOG "):])
        if rec["key"] == "warning_generic_message" and rec["value"].startswith("Logging allocation detected"):
            continue  # timing-dependent official internal warning (spec quirk 11)
        md = rec["metadata"]
        value = "<t>" if TIMING_KEYS.match(rec["key"]) else rec["value"]
        if rec["key"].startswith("early_stopping") and rec["key"].endswith("result"):
            value = re.sub(r"estimate: \d+", "estimate: <t>", value)  # counts compared, latencies not
        out.append((rec["key"], value, md["is_error"], md["is_warning"], md["file"], md["line_no"]))
    return out


def summary_lines(text):
    lines = []
    for line in text.splitlines():
        if line.startswith("SUT name") or "warning" in line.lower() and "encountered" in line:
            continue
        lines.append(re.sub(r":\s*[\d.e+]+$", ": <t>", line) if SUMMARY_TIMING.search(line) else line)
    return lines


FIXED = dict(min_duration_ms=0, single_stream_expected_latency_ns=100000, multi_stream_expected_latency_ns=100000,
             server_target_qps=20000, offline_expected_qps=1000, server_target_latency_ns=10**9)
CASES = {
    "ss": dict(scenario="SingleStream", min_query_count=700),
    "ms": dict(scenario="MultiStream", min_query_count=700),
    "server": dict(scenario="Server", min_query_count=700),
    "offline": dict(scenario="Offline", min_query_count=700),
    "ss-invalid-few": dict(scenario="SingleStream", min_query_count=30),
    "server-invalid-latency": dict(scenario="Server", min_query_count=600, server_target_latency_ns=1),
    "offline-invalid-duration": dict(scenario="Offline", min_query_count=10, min_duration_ms=60000),
    "equal-issue": dict(scenario="SingleStream", min_query_count=100, sample_concatenate_permutation=True),
    "accuracy": dict(scenario="Server", mode="AccuracyOnly"),
    "submission": dict(scenario="Offline", mode="SubmissionRun", min_query_count=200),
    "max-queries": dict(scenario="SingleStream", min_query_count=300, max_query_count=120),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_detail_and_summary_match(tmp_path, case):
    settings = {**FIXED, **CASES[case]}
    off = run_harness("official", tmp_path / "o", settings, payload=True)
    ours = run_harness("ours", tmp_path / "m", settings, payload=True)
    assert detail_records(ours.text("detail.txt")) == detail_records(off.text("detail.txt"))
    assert summary_lines(ours.text("summary.txt")) == summary_lines(off.text("summary.txt"))
    a = json.loads(off.text("accuracy.json"))
    b = json.loads(ours.text("accuracy.json"))
    assert sorted((e["seq_id"], e["qsl_idx"], e["data"]) for e in b) == sorted(
        (e["seq_id"], e["qsl_idx"], e["data"]) for e in a
    )


def test_accuracy_log_layout(tmp_path):
    settings = {**FIXED, "scenario": "SingleStream", "mode": "AccuracyOnly"}
    off = run_harness("official", tmp_path / "o", settings, total=5, perf=5, payload=True).text("accuracy.json")
    ours = run_harness("ours", tmp_path / "m", settings, total=5, perf=5, payload=True).text("accuracy.json")
    assert ours == off  # null SUT completes in issue order, so even the order is identical
    assert ours.startswith('[\n{ "seq_id" : 0, "qsl_idx" : ') and ours.endswith(" }\n]\n")


def test_accuracy_only_summary_is_only_the_footer(tmp_path):
    settings = {**FIXED, "scenario": "Offline", "mode": "AccuracyOnly"}
    off = run_harness("official", tmp_path / "o", settings).text("summary.txt")
    ours = run_harness("ours", tmp_path / "m", settings).text("summary.txt")
    footer_only = re.compile(r"\n(No|\d+) warnings? encountered[^\n]*\n\n(No|\d+) (errors|ERRORS?) encountered[^\n]*\n")
    assert footer_only.fullmatch(off) and footer_only.fullmatch(ours)


def test_compat_writes_result_json_with_verdict(tmp_path):
    ours = run_harness("ours", tmp_path / "m", {**FIXED, "scenario": "SingleStream", "min_query_count": 30})
    doc = json.loads((ours.outdir / "result.json").read_text())
    assert doc["schema"] == "mlmeter.run" and doc["kind"] == "loadgen" and doc["kind_version"] == 1
    assert doc["verdict"] == "INVALID"
    failed = [c for c in doc["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["early_stopping"]
    assert "needs >= 64 queries" in failed[0]["advice"] and "you issued 30" in failed[0]["advice"]


def test_start_test_with_default_log_settings(tmp_path, monkeypatch):
    """``StartTest`` (no LogSettings) writes the four files into the working directory, as officially."""
    import importlib

    for impl, sub in (("mlperf_loadgen", "o"), ("mlmeter.compat.mlperf_loadgen", "m")):
        lg = importlib.import_module(impl)
        (tmp_path / sub).mkdir()
        monkeypatch.chdir(tmp_path / sub)

        def issue(qs, lg=lg):
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

        sut = lg.ConstructSUT(issue, lambda: None)
        qsl = lg.ConstructQSL(64, 64, lambda s: None, lambda s: None)
        ts = lg.TestSettings()
        ts.scenario = lg.TestScenario.Offline
        ts.min_duration_ms = 0
        ts.min_query_count = 100
        lg.StartTest(sut, qsl, ts)
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    names = {p.name for p in (tmp_path / "o").iterdir()}
    assert names == {"mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "mlperf_log_trace.json"}
    assert names <= {p.name for p in (tmp_path / "m").iterdir()}
    assert detail_records((tmp_path / "m" / "mlperf_log_detail.txt").read_text()) == detail_records(
        (tmp_path / "o" / "mlperf_log_detail.txt").read_text()
    )
