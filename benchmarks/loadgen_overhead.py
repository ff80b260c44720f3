"""LoadGen overhead: the official mlcommons-loadgen and mlmeter side by side, same Python null SUT.

Each measurement runs in a fresh child process (so peak RSS is per implementation); the parent prints a
table of ratios. Implementations: ``official`` (mlperf_loadgen), ``compat`` (mlmeter.compat.mlperf_loadgen,
same harness code), ``native`` (mlmeter's numpy API). Usage::

    python benchmarks/loadgen_overhead.py            # full: 10 s runs as in the issue (~25 min)
    python benchmarks/loadgen_overhead.py --duration 2 --only ss,offline
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

IMPLS = ("official", "compat", "native")


def child(impl: str, scenario: str, params: dict) -> dict:
    out = tempfile.mkdtemp()
    trace = bool(params.get("trace"))
    settings = dict(params["settings"])
    if impl == "native":
        from mlmeter.loadgen import LogSettings, TestMode, TestScenario, TestSettings, run_test
        from mlmeter.loadgen.simulated import MemoryQSL, NullSUT

        s = TestSettings(scenario=TestScenario[scenario], mode=TestMode.PerformanceOnly, **settings)
        run_test(NullSUT(), MemoryQSL(1024, 1024), s, LogSettings(outdir=out, enable_trace=trace))
    else:
        lg = importlib.import_module("mlperf_loadgen" if impl == "official" else "mlmeter.compat.mlperf_loadgen")

        def issue(qs):
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

        sut = lg.ConstructSUT(issue, lambda: None)
        qsl = lg.ConstructQSL(1024, 1024, lambda s: None, lambda s: None)
        ts = lg.TestSettings()
        ts.scenario = getattr(lg.TestScenario, scenario)
        ts.mode = lg.TestMode.PerformanceOnly
        for k, v in settings.items():
            setattr(ts, k, v)
        ls = lg.LogSettings()
        ls.log_output.outdir = out
        ls.enable_trace = trace
        lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    detail = {}
    for line in Path(out, "mlperf_log_detail.txt").read_text().splitlines():
        rec = json.loads(line[len(":::MLLOG "):])
        detail.setdefault(rec["key"], rec["value"])
    res = {"detail": {k: v for k, v in detail.items() if k.startswith(("result_", "early_stopping_met"))},
           "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if params.get("issue_delay"):
        delays = []
        for line in Path(out, "mlperf_log_trace.json").read_text().splitlines():
            if '"name":"Sample"' in line and '"ph":"b"' in line:
                delays.append(json.loads(line.rstrip(","))["args"]["issue_start_ns"])
        delays.sort()
        res["issue_delay_p99_ns"] = delays[int(len(delays) * 0.99)] if delays else None
    return res


def measure(impl: str, scenario: str, settings: dict, **extra) -> dict:
    params = {"settings": settings, **extra}
    proc = subprocess.run([sys.executable, __file__, "--child", impl, scenario, json.dumps(params)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{impl} {scenario} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def server_peak(impl: str, duration_ms: int, start: float, step: float) -> float:
    """Highest QPS on a geometric ladder that is VALID in 3 of 3 runs (default 100 ms bound, no trace)."""
    best, qps = 0.0, start
    while True:
        runs = [measure(impl, "Server", {"server_target_qps": qps, "min_duration_ms": duration_ms,
                                         "min_query_count": 100}) for _ in range(3)]
        ok = all(r["detail"].get("result_validity") == "VALID" for r in runs)
        why = "; ".join(
            f"p99 {r['detail'].get('result_99.00_percentile_latency_ns', 0) / 1e6:.1f} ms, "
            f"overlatency {r['detail'].get('result_overlatency_query_count')}"
            for r in runs if r["detail"].get("result_validity") != "VALID"
        )
        print(f"    {impl:8s} server {qps:>10,.0f} QPS: {'VALID x3' if ok else 'INVALID (' + why + ')'}", flush=True)
        if not ok:
            return best
        best, qps = qps, qps * step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10.0, help="min_duration in seconds (issue: 10)")
    ap.add_argument("--only", default="ss,ms,offline,delay,trace,server")
    ap.add_argument("--server-start", type=float, default=50000)
    ap.add_argument("--server-step", type=float, default=1.2)
    ap.add_argument("--impls", default=",".join(IMPLS), help="which of official,compat,native to run")
    a = ap.parse_args()
    impls = tuple(i for i in IMPLS if i in a.impls.split(","))
    dur = int(a.duration * 1000)
    only = set(a.only.split(","))
    rows: list[tuple[str, str, dict]] = []

    def row(name: str, unit: str, values: dict) -> None:
        rows.append((name, unit, values))
        print(f"  {name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in values.items()), flush=True)

    if "ss" in only:
        ss = {"min_duration_ms": dur, "single_stream_expected_latency_ns": 1000, "min_query_count": 100}
        r = {i: measure(i, "SingleStream", ss) for i in impls}
        row("SingleStream QPS w/ loadgen overhead", "QPS", {i: r[i]["detail"]["result_qps_with_loadgen_overhead"] for i in impls})
        row("SingleStream peak RSS", "MB", {i: r[i]["maxrss_mb"] for i in impls})
    if "ms" in only:
        ms = {"min_duration_ms": dur, "multi_stream_expected_latency_ns": 1000, "min_query_count": 100,
              "multi_stream_samples_per_query": 8}
        r = {i: measure(i, "MultiStream", ms) for i in impls}
        row("MultiStream queries/s (8 samples/query)", "q/s", {i: r[i]["detail"]["result_query_count"] / a.duration for i in impls})
    if "offline" in only:
        off = {"min_duration_ms": 0, "min_query_count": 1_000_000, "offline_expected_qps": 1}
        r = {i: measure(i, "Offline", off) for i in impls}
        row("Offline 1M samples/s", "samples/s", {i: r[i]["detail"]["result_samples_per_second"] for i in impls})
    if "delay" in only:
        sv = {"server_target_qps": 10000, "min_duration_ms": dur, "min_query_count": 100}
        r = {i: measure(i, "Server", sv, trace=True, issue_delay=True) for i in impls}
        row("Server 10k QPS p99 issue delay", "ns", {i: r[i]["issue_delay_p99_ns"] for i in impls})
    if "trace" in only:
        ss = {"min_duration_ms": dur, "single_stream_expected_latency_ns": 1000, "min_query_count": 100}
        off_t = measure("native", "SingleStream", ss)["detail"]["result_qps_with_loadgen_overhead"]
        on_t = measure("native", "SingleStream", ss, trace=True)["detail"]["result_qps_with_loadgen_overhead"]
        off_c = measure("compat", "SingleStream", ss)["detail"]["result_qps_with_loadgen_overhead"]
        on_c = measure("compat", "SingleStream", ss, trace=True)["detail"]["result_qps_with_loadgen_overhead"]
        row("Trace on/off throughput (SS QPS)", "ratio", {"native": on_t / off_t, "compat": on_c / off_c})
    if "server" in only:
        peaks = {i: server_peak(i, dur, a.server_start, a.server_step) for i in impls}
        row("Server peak QPS VALID 3/3", "QPS", peaks)

    print("\n| measurement | official | compat | native | compat/official | native/official |")
    print("|---|---|---|---|---|---|")
    for name, unit, v in rows:
        o = v.get("official")
        cells = [f"{v[i]:,.2f}" if i in v else "-" for i in IMPLS]
        ratios = [f"{v[i] / o:.2f}x" if o and i in v else "-" for i in ("compat", "native")]
        print(f"| {name} ({unit}) | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))))
    else:
        main()
