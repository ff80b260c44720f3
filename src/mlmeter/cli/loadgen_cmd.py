"""``mlmeter loadgen``: any scenario and mode against a built-in simulated SUT, with the verdict explained."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from mlmeter.cli import options
from mlmeter.cli.options import number, whole
from mlmeter.cli.progress import Progress
from mlmeter.loadgen import (
    LogSettings,
    RunInterrupted,
    SettingsError,
    TestMode,
    TestResult,
    TestScenario,
    TestSettings,
    load_settings,
    run_test,
)
from mlmeter.loadgen.config import known_models, read_file
from mlmeter.loadgen.result_json import result_dict
from mlmeter.loadgen.simulated import LatencyModel, LatencySUT, MemoryQSL, NullSUT
from mlmeter.power import Meter, MeteredPasses, source_names
from mlmeter.system import describe_host
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import fresh_directory

MODES = {"performance": TestMode.PerformanceOnly, "accuracy": TestMode.AccuracyOnly,
         "submission": TestMode.SubmissionRun, "find-peak": TestMode.FindPeakPerformance}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", choices=[s.name for s in TestScenario], default="SingleStream")
    p.add_argument("--mode", choices=list(MODES), default="performance")
    g = p.add_argument_group("simulated SUT")
    g.add_argument("--sut", choices=["null", "fixed", "lognormal"], default="fixed",
                   help="null: completes inside issue; fixed/lognormal: service time from a timer thread")
    g.add_argument("--latency-ms", type=number(0, 3_600_000), default=1.0, help="mean service time per query (default 1 ms)")
    g.add_argument("--sigma", type=number(0, 10, above=False), default=0.5, help="lognormal shape (--sut lognormal)")
    g.add_argument("--workers", type=whole(1, 4096), default=1, help="queries the SUT serves in parallel")
    g.add_argument("--tokens", type=whole(0, 1_000_000), default=0, help="stream this many tokens per sample (LLM metrics)")
    g.add_argument("--total-samples", type=whole(1, 100_000_000), default=1024)
    g.add_argument("--perf-samples", type=whole(1, 100_000_000), default=1024)
    s = p.add_argument_group("settings (override --model/--user-conf)")
    s.add_argument("--model", default=None, help="apply the built-in mlperf.conf values of this model")
    s.add_argument("--user-conf", default=None, help="a user.conf applied after mlperf.conf")
    s.add_argument("--qps", type=number(), help="Server target QPS / Offline expected QPS")
    s.add_argument("--expected-latency-ns", type=number(), help="SingleStream/MultiStream expected latency")
    s.add_argument("--target-latency-ms", type=number(), help="Server latency bound")
    s.add_argument("--percentile", type=number(0, 1), help="target latency percentile, e.g. 0.99")
    s.add_argument("--samples-per-query", type=whole(1, 1_000_000), help="MultiStream samples per query")
    s.add_argument("--min-duration-ms", type=whole(0, 2**63 - 1))
    s.add_argument("--max-duration-ms", type=whole(0, 2**63 - 1))
    s.add_argument("--min-query-count", type=whole(0, 2**63 - 1))
    s.add_argument("--max-query-count", type=whole(0, 2**63 - 1))
    s.add_argument("--max-async-queries", type=whole(0, 2**31 - 1))
    s.add_argument("--coalesce", action="store_true", help="Server: coalesce overdue queries")
    s.add_argument("--accuracy-log-probability", type=number(0, 1, above=False))
    s.add_argument("--completion-timeout-s", type=number(0, 86_400), help="end INVALID after this long without a completion")
    p.add_argument("--trace", action="store_true", help="write mlperf_log_trace.json")
    options.add_power(p, "performance passes", server=True)
    options.add_repeat(p)
    p.add_argument("--output", default=None, help="run directory (default mlmeter-runs/loadgen-<scenario>-<time>)")
    options.add_overwrite(p)
    p.add_argument("--quiet", action="store_true", help="no progress line")


def build_settings(a: argparse.Namespace) -> TestSettings:
    sc = TestScenario[a.scenario]
    if a.perf_samples > a.total_samples:
        raise SettingsError(f"--perf-samples {a.perf_samples} is more than --total-samples {a.total_samples}")
    if a.model and a.model not in known_models():
        raise SettingsError(f"--model {a.model}: not in the built-in mlperf.conf; known: {', '.join(known_models())}")
    if a.model or a.user_conf:
        s = load_settings(a.model or "*", sc, user_conf=a.user_conf)
        if a.user_conf:
            for unknown in read_file(a.user_conf).unknown_keys:
                print(f"mlmeter: warning: {a.user_conf}: unknown key {unknown} is ignored", file=sys.stderr)
    else:
        s = TestSettings(scenario=sc, min_duration_ms=2000, min_query_count=100)
        if sc in (TestScenario.SingleStream, TestScenario.MultiStream):
            s.single_stream_expected_latency_ns = s.multi_stream_expected_latency_ns = max(a.latency_ms * 1e6 / 2, 500)
        s.server_target_qps = s.offline_expected_qps = max(a.workers / (a.latency_ms / 1000) * 0.5, 1)
        s.server_target_latency_ns = int(max(a.latency_ms * 20, 1) * 1e6)
        s.multi_stream_target_latency_percentile = 0.99
    s.mode = MODES[a.mode]
    opt = {
        "server_target_qps": a.qps if sc == TestScenario.Server else None,
        "offline_expected_qps": a.qps if sc == TestScenario.Offline else None,
        "single_stream_expected_latency_ns": a.expected_latency_ns,
        "multi_stream_expected_latency_ns": a.expected_latency_ns,
        "server_target_latency_ns": int(a.target_latency_ms * 1e6) if a.target_latency_ms else None,
        "multi_stream_samples_per_query": a.samples_per_query,
        "min_duration_ms": a.min_duration_ms,
        "max_duration_ms": a.max_duration_ms,
        "min_query_count": a.min_query_count,
        "max_query_count": a.max_query_count,
        "server_max_async_queries": a.max_async_queries,
        "accuracy_log_probability": a.accuracy_log_probability,
        "completion_timeout_ms": int(a.completion_timeout_s * 1000) if a.completion_timeout_s else None,
    }
    for k, v in opt.items():
        if v is not None:
            setattr(s, k, v)
    if a.percentile is not None:
        key = {TestScenario.SingleStream: "single_stream", TestScenario.MultiStream: "multi_stream",
               TestScenario.Server: "server"}.get(sc)
        if key:
            setattr(s, f"{key}_target_latency_percentile", a.percentile)
    if a.coalesce:
        s.server_coalesce_queries = True
    if a.tokens:
        s.use_token_latencies = True
    return s


def make_sut(a: argparse.Namespace) -> NullSUT | LatencySUT:
    if a.sut == "null":
        return NullSUT()
    sigma = a.sigma if a.sut == "lognormal" else 0.0
    return LatencySUT(LatencyModel(mean_ms=a.latency_ms, sigma=sigma, tokens=a.tokens), workers=a.workers)


def default_outdir(kind: str) -> Path:
    return Path("mlmeter-runs") / f"{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"


def run(a: argparse.Namespace) -> tuple[TestResult, Path]:
    """Run the test, then write ``result.json`` with the host description and the power section."""
    settings = build_settings(a)
    outdir = (fresh_directory(Path(a.output), given=True, overwrite=a.overwrite) if a.output
              else default_outdir(f"loadgen-{a.scenario}-{a.mode}"))
    meter = Meter(source_names(a.power))
    progress = Progress(enabled=not a.quiet)
    for line in meter.problems:
        progress.on_stage(f"power: {line}")
    qsl = MemoryQSL(a.total_samples, a.perf_samples)
    interrupted: RunInterrupted | None = None
    try:
        if meter.two_pass:  # the power analyzer's ranging pass: the same test once, not reported
            meter.mode = "ranging"
            _run_once(a, qsl, settings, outdir / "ranging", MeteredPasses(progress, meter), False)
            meter.mode = "testing"
        r = _run_once(a, qsl, settings, outdir, MeteredPasses(progress, meter), a.trace)
    except RunInterrupted as exc:
        interrupted, r = exc, exc.result
    finally:
        meter.close()
    write_result(r, outdir, meter)
    if interrupted is not None:
        raise interrupted
    return r, outdir


def _run_once(a: argparse.Namespace, qsl: MemoryQSL, settings: TestSettings, outdir: Path, observer: MeteredPasses,
              trace: bool) -> TestResult:
    sut = make_sut(a)
    try:
        return run_test(sut, qsl, settings, LogSettings(outdir=str(outdir), enable_trace=trace,
                                                        write_result_json=False), observer=observer)
    finally:
        if isinstance(sut, LatencySUT):
            sut.close()


def write_result(r: TestResult, outdir: Path, meter: Meter) -> None:
    doc = result_dict(r)
    doc["system"] = describe_host()
    doc["power"] = meter.test_section(r)
    doc["files"]["result"] = str(outdir / "result.json")
    write_text(outdir / "result.json", json.dumps(doc, indent=2) + "\n")


def describe(r: TestResult) -> str:
    """A readable summary: verdict, headline figures, and every failed check explained."""
    lines = []
    p = r.performance
    verdict = "ACCURACY RUN" if r.valid is None else ("VALID" if r.valid else "INVALID")
    lines.append(f"{r.scenario.name} {r.mode.name}: {verdict}" + (" (interrupted, incomplete)" if r.interrupted else ""))
    if p is not None:
        m = p.metrics
        for k, v in m.items():
            lines.append(f"  {k.replace('_', ' ')}: {v:,.2f}")
        lat = p.query_latency or p.latency
        lines.append(
            f"  latency (ns): mean {lat.mean:,}  p50 {lat.percentiles[0.5]:,}  p90 {lat.percentiles[0.9]:,}  "
            f"p99 {lat.percentiles[0.99]:,}  max {lat.max:,}"
        )
        lines.append(f"  queries {p.query_count:,}, samples {p.sample_count:,}")
        for c in p.checks:
            mark = "ok " if c.passed else "FAIL"
            lines.append(f"  [{mark}] {c.name}: required {c.expected}; measured {c.actual}")
            if not c.passed and c.advice:
                lines.append(f"         -> {c.advice}")
    if r.find_peak_qps is not None:
        lines.append(f"  peak QPS meeting the latency bound: {r.find_peak_qps:,.3f}")
    if r.accuracy_logged:
        lines.append(f"  accuracy log: {r.accuracy_logged:,} samples")
    extra = [x for x in r.reasons if x not in {c.recommendation for c in (p.checks if p else ())}]
    for x in extra:
        lines.append(f"  failure: {x}")
    if r.errors:
        lines.append(f"  {len(r.errors)} error(s) in the detail log; first: {r.errors[0]}")
    lines.append(f"  files: {Path(r.files['summary']).parent}")
    return "\n".join(lines)
