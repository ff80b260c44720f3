"""Dev tool: record which official source location each detail-log key is attributed to.

Runs the official ``mlperf_loadgen`` package (test extra) in many configurations and writes
``src/mlmeter/loadgen/data/log_sources.json``: for each key (and, for message keys, each message prefix)
the ``file``/``line_no`` metadata the official detail log carries, so that the compat API's logs match
line for line. Usage: ``python tools/harvest_log_sources.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import mlperf_loadgen as lg

OUT = Path(__file__).resolve().parents[1] / "src/mlmeter/loadgen/data/log_sources.json"
MESSAGE_KEYS = {"generic_message", "error_runtime", "error_invalid_config", "error_invalid_test_settings",
                "warning_generic_message"}


def message_id(key: str, value: object) -> str:
    if key in MESSAGE_KEYS and isinstance(value, str):
        return key + "|" + " ".join(value.split()[:6])
    return key


def run(scenario, mode, tokens=False, extra=None):
    outdir = tempfile.mkdtemp()

    def issue(qs):
        for q in qs:
            if tokens and scenario != lg.TestScenario.Offline:
                lg.FirstTokenComplete([lg.QuerySampleResponse(q.id, 0, 0)])
            r = lg.QuerySampleResponse(q.id, 0, 0, 5) if tokens else lg.QuerySampleResponse(q.id, 0, 0)
            lg.QuerySamplesComplete([r])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(100, 64, lambda s: None, lambda s: None)
    ts = lg.TestSettings()
    ts.scenario, ts.mode = scenario, mode
    ts.min_duration_ms, ts.min_query_count = 50, 20
    ts.single_stream_expected_latency_ns = ts.multi_stream_expected_latency_ns = 20000
    ts.server_target_qps, ts.offline_expected_qps = 2000, 1000
    ts.server_target_latency_ns = 1000000
    ts.use_token_latencies = tokens
    ts.infer_token_latencies = tokens
    ts.token_latency_scaling_factor = 3
    for k, v in (extra or {}).items():
        setattr(ts, k, v)
    ls = lg.LogSettings()
    ls.log_output.outdir = outdir
    ls.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    return Path(outdir, "mlperf_log_detail.txt").read_text().splitlines()


def main() -> None:
    table: dict[str, list] = {}
    S, M = lg.TestScenario, lg.TestMode
    runs = []
    for sc in (S.SingleStream, S.MultiStream, S.Server, S.Offline):
        for mode in (M.PerformanceOnly, M.AccuracyOnly, M.SubmissionRun):
            runs.append((sc, mode, False, None))
        runs.append((sc, M.PerformanceOnly, True, None))
        runs.append((sc, M.PerformanceOnly, False, {"max_query_count": 25}))
        runs.append((sc, M.PerformanceOnly, False, {"max_duration_ms": 60, "min_duration_ms": 50}))
        runs.append((sc, M.PerformanceOnly, False, {"sample_concatenate_permutation": True}))
        runs.append((sc, M.PerformanceOnly, False, {"accuracy_log_probability": 0.1}))
    runs.append((S.SingleStream, M.PerformanceOnly, False, {"single_stream_expected_latency_ns": 100000000}))
    runs.append((S.Server, M.FindPeakPerformance, False, {"min_duration_ms": 20}))
    runs.append((S.SingleStream, M.FindPeakPerformance, False, None))
    runs.append((S.Server, M.PerformanceOnly, False, {"server_max_async_queries": 1, "server_target_qps": 100000}))
    for sc, mode, tok, extra in runs:
        for line in run(sc, mode, tok, extra):
            if not line.startswith(":::MLLOG"):
                continue
            rec = json.loads(line[len(":::MLLOG "):])
            md = rec["metadata"]
            table.setdefault(message_id(rec["key"], rec["value"]), [md["file"], md["line_no"]])
    OUT.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")
    print(f"{len(table)} entries -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
