"""Differential tests for LLM token metrics and audit.config, and the compat FromConfig semantics."""

import importlib
import json
import subprocess
import sys
import textwrap

import pytest

from .conftest import requires_official, start_test
from .test_oracle_logs import detail_records, summary_lines

pytestmark = [requires_official, pytest.mark.oracle]


def token_harness(impl, outdir, settings):
    lg = importlib.import_module("mlperf_loadgen" if impl == "official" else "mlmeter.compat.mlperf_loadgen")
    outdir.mkdir(parents=True, exist_ok=True)
    offline = settings["scenario"] == "Offline"

    def issue(qs):
        for q in qs:
            if not offline:
                lg.FirstTokenComplete([lg.QuerySampleResponse(q.id, 0, 0)])
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0, 2 + q.index % 7)])

    start_test(lg, issue, lg.ConstructQSL(100, 64, lambda s: None, lambda s: None), settings, outdir)
    return (outdir / "mlperf_log_detail.txt").read_text(), (outdir / "mlperf_log_summary.txt").read_text()


TOKEN_KEYS = {"result_token_throughput", "result_token_throughput_with_loadgen_overhead",
              "result_completed_tokens_per_second", "result_tokens_per_second",
              "result_inferred_tokens_per_second", "result_inferred_completed_tokens_per_second"}


@pytest.mark.parametrize("scenario", ["SingleStream", "Server", "Offline"])
def test_token_mode_logs_match(tmp_path, scenario):
    settings = dict(scenario=scenario, min_duration_ms=0, min_query_count=700, use_token_latencies=True,
                    infer_token_latencies=True, token_latency_scaling_factor=5,
                    single_stream_expected_latency_ns=100000, server_target_qps=20000, offline_expected_qps=1000,
                    ttft_latency=10**9, tpot_latency=10**9)
    od, osum = token_harness("official", tmp_path / "o", settings)
    md, msum = token_harness("ours", tmp_path / "m", settings)

    def masked(text):
        return [r if r[0] not in TOKEN_KEYS and "first_token" not in r[0] and "output_token" not in r[0]
                else (r[0], "<t>", *r[2:]) for r in detail_records(text)]

    assert masked(md) == masked(od)
    sl = [re_mask(x) for x in summary_lines(msum)]
    assert sl == [re_mask(x) for x in summary_lines(osum)]


def re_mask(line):
    import re
    return re.sub(r":\s*[\d.e+]+$", ": <t>", line) if ("token" in line.lower() or "TPS" in line) else line


def test_audit_config_overrides_settings(tmp_path, monkeypatch):
    from .conftest import run_harness

    monkeypatch.chdir(tmp_path)
    (tmp_path / "audit.config").write_text(
        "*.*.mode = 2\n*.*.performance_issue_same = 1\n*.*.performance_issue_same_index = 3\n"
        "*.*.accuracy_log_rng_seed = 720381539243781796\n*.*.accuracy_log_sampling_target = 16\n"
    )
    settings = dict(scenario="SingleStream", min_duration_ms=0, min_query_count=300,
                    single_stream_expected_latency_ns=100000)
    off = run_harness("official", tmp_path / "o", settings, payload=True)
    ours = run_harness("ours", tmp_path / "m", settings, payload=True)
    assert detail_records(ours.text("detail.txt")) == detail_records(off.text("detail.txt"))
    assert set(ours.issued) == {off.loads[0][3]} and ours.issued == off.issued
    assert json.loads(ours.text("accuracy.json")) == json.loads(off.text("accuracy.json"))


def test_fromconfig_process_semantics(tmp_path):
    """First user.conf call loads mlperf.conf; later ones do not and log an error into the next test."""
    (tmp_path / "user.conf").write_text("*.Offline.target_qps = 250\n")
    script = textwrap.dedent(f"""
        import json, sys
        import mlmeter.compat.mlperf_loadgen as lg
        a = lg.TestSettings(); a.FromConfig({str(tmp_path / "user.conf")!r}, "resnet50", "Offline")
        b = lg.TestSettings(); b.FromConfig({str(tmp_path / "user.conf")!r}, "resnet50", "Offline")
        print(json.dumps([a.qsl_rng_seed, a.min_duration_ms, a.offline_expected_qps,
                          b.qsl_rng_seed, b.min_duration_ms, b.offline_expected_qps, len(lg._pending_errors)]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [2085463073848966840, 600000, 250.0, 0, 10000, 250.0, 1]
