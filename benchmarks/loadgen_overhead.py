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
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            res[f"issue_delay_{name}_ns"] = delays[int(len(delays) * q)] if delays else None
        res["issue_delay_max_ns"] = delays[-1] if delays else None
    return res


def measure(impl: str, scenario: str, settings: dict, **extra) -> dict:
    params = {"settings": settings, **extra}
    proc = subprocess.run([sys.executable, __file__, "--child", impl, scenario, json.dumps(params)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{impl} {scenario} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_of(runs: int, impls: tuple[str, ...], scenario: str, settings: dict, value, **extra) -> dict:
    """Median over ``runs`` interleaved repetitions (the machine is noisy) of ``value(child_result)``."""
    got: dict[str, list[float]] = {i: [] for i in impls}
    for _ in range(runs):
        for i in impls:
            got[i].append(value(measure(i, scenario, settings, **extra)))
    return {i: sorted(v)[len(v) // 2] for i, v in got.items()}


def server_peaks(impls: tuple[str, ...], duration_ms: int, start: float, step: float) -> dict[str, float]:
    """Highest QPS on a geometric ladder that is VALID in 3 of 3 runs (default 100 ms bound, no trace).

    The implementations climb together, level by level and run by run interleaved, so that they meet the same
    machine noise; each stops at its first level with an INVALID run.
    """
    best = dict.fromkeys(impls, 0.0)
    alive = list(impls)
    qps = start
    while alive:
        runs: dict[str, list[dict]] = {i: [] for i in alive}
        for _ in range(3):
            for i in alive:
                runs[i].append(measure(i, "Server", {"server_target_qps": qps, "min_duration_ms": duration_ms,
                                                     "min_query_count": 100}))
        for i in list(alive):
            bad = [r["detail"] for r in runs[i] if r["detail"].get("result_validity") != "VALID"]
            why = "; ".join(f"p99 {d.get('result_99.00_percentile_latency_ns', 0) / 1e6:.1f} ms, overlatency "
                            f"{d.get('result_overlatency_query_count')}" for d in bad)
            print(f"    {i:8s} server {qps:>10,.0f} QPS: {'INVALID (' + why + ')' if bad else 'VALID x3'}", flush=True)
            if bad:
                alive.remove(i)
            else:
                best[i] = qps
        qps *= step
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10.0, help="min_duration in seconds (issue: 10)")
    ap.add_argument("--only", default="ss,ms,offline,delay,trace,server")
    ap.add_argument("--server-start", type=float, default=50000)
    ap.add_argument("--server-step", type=float, default=1.2)
    ap.add_argument("--impls", default=",".join(IMPLS), help="which of official,compat,native to run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; the median is reported")
    a = ap.parse_args()
    impls = tuple(i for i in IMPLS if i in a.impls.split(","))
    dur = int(a.duration * 1000)
    only = set(a.only.split(","))
    rows: list[tuple[str, str, dict]] = []

    def row(name: str, unit: str, values: dict) -> None:
        rows.append((name, unit, values))
        print(f"  {name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in values.items()), flush=True)

    n = a.repeat

    def qps_ss(r: dict) -> float:
        return r["detail"]["result_qps_with_loadgen_overhead"]

    if "ss" in only:
        ss = {"min_duration_ms": dur, "single_stream_expected_latency_ns": 1000, "min_query_count": 100}
        row("SingleStream QPS w/ loadgen overhead", "QPS", median_of(n, impls, "SingleStream", ss, qps_ss))
        row("SingleStream peak RSS", "MB", median_of(n, impls, "SingleStream", ss, lambda r: r["maxrss_mb"]))
    if "ms" in only:
        ms = {"min_duration_ms": dur, "multi_stream_expected_latency_ns": 1000, "min_query_count": 100,
              "multi_stream_samples_per_query": 8}
        row("MultiStream queries/s (8 samples/query)", "q/s",
            median_of(n, impls, "MultiStream", ms, lambda r: r["detail"]["result_query_count"] / a.duration))
    if "offline" in only:
        off = {"min_duration_ms": 0, "min_query_count": 1_000_000, "offline_expected_qps": 1}
        row("Offline 1M samples/s", "samples/s",
            median_of(n, impls, "Offline", off, lambda r: r["detail"]["result_samples_per_second"]))
    if "delay" in only:
        sv = {"server_target_qps": 10000, "min_duration_ms": dur, "min_query_count": 100}
        got = {i: [] for i in impls}
        for _ in range(n):
            for i in impls:
                got[i].append(measure(i, "Server", sv, trace=True, issue_delay=True))
        for q in ("p50", "p90", "p99"):
            row(f"Server 10k QPS {q} issue delay", "ns",
                {i: sorted(r[f"issue_delay_{q}_ns"] for r in got[i])[n // 2] for i in impls})
    if "trace" in only:
        ss = {"min_duration_ms": dur, "single_stream_expected_latency_ns": 1000, "min_query_count": 100}
        both = tuple(i for i in ("compat", "native") if i in impls)
        off_t = median_of(n, both, "SingleStream", ss, qps_ss)
        on_t = median_of(n, both, "SingleStream", ss, qps_ss, trace=True)
        row("Trace on/off throughput (SS QPS)", "ratio", {i: on_t[i] / off_t[i] for i in both})
    if "server" in only:
        peaks = server_peaks(impls, dur, a.server_start, a.server_step)
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
