"""``mlmeter loadgen``: any scenario and mode against a built-in simulated SUT, with the verdict explained."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from mlmeter import events
from mlmeter.cli import knobs, options, repeat
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
    run_test,
    saving_after_interrupt,
)
from mlmeter.loadgen.builder import SettingsBuilder
from mlmeter.loadgen.config import known_models, read_file
from mlmeter.loadgen.result_json import result_record
from mlmeter.loadgen.simulated import LatencyModel, LatencySUT, MemoryQSL, NullSUT
from mlmeter.power import Meter, source_names
from mlmeter.power.metered import metered_test
from mlmeter.results.record import write_record
from mlmeter.system import describe_host
from mlmeter.util.rundir import fresh_directory
from mlmeter.verdict import exit_code

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
    s = p.add_argument_group("settings files")
    s.add_argument("--model", default=None, help="apply the built-in mlperf.conf values of this model")
    s.add_argument("--user-conf", default=None, help="a user.conf applied after mlperf.conf")
    knobs.add_knobs(p)
    p.add_argument("--trace", action="store_true", help="write mlperf_log_trace.json")
    options.add_power(p, "performance passes", server=True)
    options.add_repeat(p)
    p.add_argument("--output", default=None, help="run directory (default mlmeter-runs/loadgen-<scenario>-<time>)")
    options.add_overwrite(p)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_loadgen)


def cmd_loadgen(a: argparse.Namespace) -> int:
    base = Path(a.output) if a.output else default_outdir(f"loadgen-{a.scenario}-{a.mode}")
    results: list[TestResult] = []

    def once(i: int) -> list[tuple[str, Path]]:
        out = a.output if a.repeat == 1 else str(base / f"repeat-{i + 1}")
        r, outdir = run(argparse.Namespace(**{**vars(a), "output": out}))
        print(describe(r))
        results.append(r)
        return [("", outdir)]

    repeat.repeated(a.repeat, once, lambda _k, _runs: base)
    return exit_code(r.verdict for r in results)


def simulated_defaults(a: argparse.Namespace) -> dict[str, Any]:
    """Targets that suit the simulated SUT (used when neither --model nor --user-conf gives settings)."""
    sc = TestScenario[a.scenario]
    d: dict[str, Any] = {"min_duration_ms": 2000, "min_query_count": 100,
                         "server_target_qps": max(a.workers / (a.latency_ms / 1000) * 0.5, 1),
                         "offline_expected_qps": max(a.workers / (a.latency_ms / 1000) * 0.5, 1),
                         "server_target_latency_ns": int(max(a.latency_ms * 20, 1) * 1e6),
                         "multi_stream_target_latency_percentile": 0.99}
    if sc in (TestScenario.SingleStream, TestScenario.MultiStream):
        d["single_stream_expected_latency_ns"] = d["multi_stream_expected_latency_ns"] = int(max(a.latency_ms * 1e6 / 2, 500))
    return d


def build_settings(a: argparse.Namespace) -> SettingsBuilder:
    """The layers: mlperf.conf and user.conf (--model, --user-conf) or the simulated SUT's defaults, then flags."""
    if a.perf_samples > a.total_samples:
        raise SettingsError(f"--perf-samples {a.perf_samples} is more than --total-samples {a.total_samples}")
    if a.model and a.model not in known_models():
        raise SettingsError(f"--model {a.model}: not in the built-in mlperf.conf; known: {', '.join(known_models())}")
    b = SettingsBuilder(a.scenario, a.model or "*")
    if a.model or a.user_conf:
        b.mlperf_conf().user_conf(a.user_conf)
        if a.user_conf:
            for unknown in read_file(a.user_conf).unknown_keys:
                print(f"mlmeter: warning: {a.user_conf}: unknown key {unknown} is ignored", file=sys.stderr)
    else:
        b.values("defaults", simulated_defaults(a), "mlmeter loadgen's simulated SUT")
    flags = {"mode": MODES[a.mode], **knobs.knob_values(a)}
    if a.tokens:
        flags["use_token_latencies"] = True
    return b.values("flags", flags, "command line")


def make_sut(a: argparse.Namespace) -> NullSUT | LatencySUT:
    if a.sut == "null":
        return NullSUT()
    sigma = a.sigma if a.sut == "lognormal" else 0.0
    return LatencySUT(LatencyModel(mean_ms=a.latency_ms, sigma=sigma, tokens=a.tokens), workers=a.workers)


def default_outdir(kind: str) -> Path:
    return Path("mlmeter-runs") / f"{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"


def run(a: argparse.Namespace) -> tuple[TestResult, Path]:
    """Run the test, then write ``result.json`` with the host description and the power section."""
    built = build_settings(a)
    outdir = (fresh_directory(Path(a.output), given=True, overwrite=a.overwrite) if a.output
              else default_outdir(f"loadgen-{a.scenario}-{a.mode}"))
    meter = Meter(source_names(a.power))
    progress = Progress(enabled=not a.quiet)
    for line in meter.problems:
        progress.on_warning(events.Warning(f"power: {line}"))
    qsl = MemoryQSL(a.total_samples, a.perf_samples)

    def once(settings: TestSettings, out: Path, obs: events.Observer, measured: bool) -> TestResult:
        sut = make_sut(a)
        try:
            return run_test(sut, qsl, settings, LogSettings(outdir=str(out), enable_trace=a.trace and measured,
                                                            write_result_json=False),
                            observer=obs, layers=built.layers)
        finally:
            if isinstance(sut, LatencySUT):
                sut.close()

    try:
        r, interrupted = metered_test(once, built.settings, outdir, meter, progress)
    finally:
        meter.close()
    with saving_after_interrupt(interrupted):
        write_result(r, outdir, meter)
    if interrupted:
        raise RunInterrupted(r)
    return r, outdir


def write_result(r: TestResult, outdir: Path, meter: Meter) -> None:
    r.files["result"] = str(outdir / "result.json")
    write_record(outdir / "result.json", result_record(r, describe_host(), meter.test_section(r)))


DETAIL_LOG_ONLY = {"token_throughput"}
"""Figures the summary leaves to the detail log: the official ``result_token_throughput`` is tokens per
nanosecond (spec §8), which reads as 0.00 here. A figure that is not finite (tokens over the last issue time of an
Offline run, whose one query is issued at 0 s) is left out too."""


def describe(r: TestResult) -> str:
    """A readable summary: verdict, headline figures, and every failed check explained."""
    lines = []
    p = r.performance
    lines.append(f"{r.scenario.name} {r.mode.name}: {r.verdict}" + (" (interrupted)" if r.interrupted else ""))
    if p is not None:
        m = p.metrics
        for k, v in m.items():
            if k in DETAIL_LOG_ONLY or not math.isfinite(v):  # in the detail log as the official LoadGen writes it
                continue
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
                lines.append(f"         -> {knobs.name_flags(c.advice)}")
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
