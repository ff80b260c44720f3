"""``run_test``: one LoadGen test from settings to log files, in any mode (spec §1, §12).

The library never prints: progress goes to an optional :class:`RunObserver`; failures of the SUT end the
run INVALID with the reason; Ctrl-C keeps what was measured, writes complete files and raises
:class:`RunInterrupted` carrying the partial result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from mlmeter import __version__
from mlmeter.loadgen import config as conf
from mlmeter.loadgen.completer import Completer, LogEntry
from mlmeter.loadgen.generate import LoadableSet, QueryPlan, loadable_sets
from mlmeter.loadgen.logs.accuracy import accuracy_text
from mlmeter.loadgen.logs.detail import DetailLog
from mlmeter.loadgen.logs.summary import early_stopping_text, footer, summary_body
from mlmeter.loadgen.logs.trace import Span, TracePass, trace_text
from mlmeter.loadgen.protocols import QuerySampleLibrary, SystemUnderTest, bind_issue
from mlmeter.loadgen.recorder import PassRecorder
from mlmeter.loadgen.result_json import result_document
from mlmeter.loadgen.results import PerformanceResult, compute
from mlmeter.loadgen.rng import MT19937, canonicals
from mlmeter.loadgen.scenarios import LOOPS, PassContext
from mlmeter.loadgen.scenarios.closed_loop import CHUNK
from mlmeter.loadgen.settings import (
    EffectiveSettings,
    TestMode,
    TestScenario,
    TestSettings,
    effective_settings,
    validate,
)
from mlmeter.util.atomic import write_text

_clock = time.perf_counter_ns
LOADGEN_VERSION = "6.0.17"


@dataclass
class LogSettings:
    """Where and how the log files are written (the official ``LogOutputSettings`` + ``enable_trace``)."""

    outdir: str = "."
    prefix: str = "mlperf_log_"
    suffix: str = ""
    prefix_with_datetime: bool = False
    enable_trace: bool = False
    write_result_json: bool = True


@dataclass(frozen=True)
class PassInfo:
    """Told to observers when a pass starts: what it is and where to read its live progress."""

    kind: str  # "performance", "accuracy", "find-peak"
    scenario: TestScenario
    target_qps: float
    query_count: int
    sample_count: int
    completer: Completer
    min_duration_ms: int = 0


class RunObserver(Protocol):
    def on_pass_start(self, info: PassInfo) -> None: ...

    def on_pass_end(self, info: PassInfo) -> None: ...


@dataclass(frozen=True)
class TestResult:
    """What a test produced: the verdict with its reasons, the performance result, the files written."""

    __test__ = False  # not a pytest test class

    scenario: TestScenario
    mode: TestMode
    settings: EffectiveSettings
    performance: PerformanceResult | None
    valid: bool | None  # None for AccuracyOnly
    reasons: tuple[str, ...]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    interrupted: bool
    find_peak_qps: float | None
    accuracy_logged: int
    files: dict[str, str] = field(default_factory=dict)
    requested: TestSettings | None = None
    find_peak_trials: tuple[PeakTrial, ...] = ()
    sut_name: str = ""
    qsl_name: str = ""
    started_at: str = ""


@dataclass(frozen=True)
class PeakTrial:
    """One find-peak pass: the target QPS tried, what was achieved, the tail latency and the verdict."""

    target_qps: float
    achieved_qps: float | None
    p99_latency_ns: int | None
    passed: bool


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the files are written and ``result`` holds what was measured."""

    def __init__(self, result: TestResult) -> None:
        super().__init__("run interrupted")
        self.result = result


@dataclass
class _PassOutcome:
    ctx: PassContext
    result: PerformanceResult | None
    info: PassInfo


class _Test:
    """State shared by all passes of one ``run_test`` call."""

    def __init__(
        self,
        sut: SystemUnderTest,
        qsl: QuerySampleLibrary,
        es: EffectiveSettings,
        detail: DetailLog,
        observer: RunObserver | None,
        trace: bool,
    ) -> None:
        self.sut, self.qsl, self.es, self.detail, self.observer = sut, qsl, es, detail, observer
        self.completer = Completer()
        self.seq = 0
        self.peak_trials: list[PeakTrial] = []
        self.acc_rng = MT19937(5489)
        self.acc_pos = 0
        self.log: list[LogEntry] = []
        self.failures: list[str] = []
        self.trace = trace
        self.trace_passes: list[TracePass] = []
        self.spans: list[Span] = []
        self.last: _PassOutcome | None = None
        self.sut.start(self.completer)

    # -- QSL -------------------------------------------------------------------------------------------
    def load(self, s: LoadableSet) -> bool:
        self.detail.add("loaded_qsl_set", list(s.indices))
        t0 = _clock()
        try:
            self.qsl.load_samples(list(s.indices))
        except Exception as exc:  # noqa: BLE001 - a failing QSL ends the run INVALID, with the reason
            msg = f"QSL load_samples raised: {type(exc).__name__}: {exc}"
            self.detail.error("error_runtime", msg)
            self.failures.append(msg)
            return False
        self.spans.append(Span("LoadSamples", t0, _clock()))
        return True

    def unload(self, s: LoadableSet) -> None:
        try:
            self.qsl.unload_samples(list(s.indices))
        except Exception as exc:  # noqa: BLE001 - reported, but the measurements stand
            self.detail.error("error_runtime", f"QSL unload_samples raised: {type(exc).__name__}: {exc}")

    # -- accuracy-log sampling (spec §11) -----------------------------------------------------------------
    def _sampling_probability(self, es: EffectiveSettings) -> float:
        if es.accuracy_log_sampling_target > 0:
            offline = es.scenario == TestScenario.Offline
            spq = es.samples_per_query
            expected = max(
                int(es.target_qps * es.min_duration_ms / 1000) * (1 if offline else spq),
                es.min_sample_count if offline else es.min_query_count * spq,
            )
            return es.accuracy_log_sampling_target / expected if expected else 1.0
        return es.accuracy_log_probability

    def _sample_mask(self, seq: int, n: int, offset: float, prob: float) -> np.ndarray:
        if seq > self.acc_pos:
            self.acc_rng.skip(2 * (seq - self.acc_pos))
        v = canonicals(self.acc_rng, n)
        self.acc_pos = seq + n
        w = v + offset
        w = np.where(w < 1.0, w, v + offset - 1.0)
        return w <= prob

    # -- one pass ---------------------------------------------------------------------------------------
    def run_pass(self, es: EffectiveSettings, loaded: LoadableSet, accuracy: bool, kind: str) -> _PassOutcome:
        t0 = _clock()
        plan = QueryPlan(es, loaded, accuracy)
        self.spans.append(Span("GenerateQueries", t0, _clock()))
        self.detail.many(
            [
                ("generated_query_count", plan.query_count),
                ("generated_samples_per_query", plan.samples_per_query),
                ("generated_query_duration", plan.duration_ns),
            ]
        )
        spq = plan.samples_per_query
        seq0 = self.seq
        self.seq += plan.sample_count
        closed = es.scenario in (TestScenario.SingleStream, TestScenario.MultiStream)
        capacity = min(plan.sample_count, CHUNK * spq) if closed else plan.sample_count
        tokens = es.use_token_latencies
        comp = self.completer
        comp.start_pass(seq0 + 1, capacity, spq, log_all=accuracy, tokens=tokens,
                        first=es.scenario != TestScenario.Offline)
        prob = 0.0 if accuracy else self._sampling_probability(es)
        offset = canonicals(MT19937(es.accuracy_log_rng_seed), 1)[0] if prob > 0 else 0.0
        if prob > 0:
            comp.log_mask = np.zeros(capacity, dtype=bool)

        def prepare(first: int, indices: np.ndarray) -> None:
            at = first - comp.window_start
            comp.qsl_idx[at : at + len(indices)] = indices
            if prob > 0:
                assert comp.log_mask is not None
                comp.log_mask[at : at + len(indices)] = self._sample_mask(seq0 + first, len(indices), offset, prob)

        recorder = PassRecorder(spq, es.scenario == TestScenario.MultiStream, tokens, self.trace)

        def record(scheduled: np.ndarray, issued: np.ndarray) -> None:
            if accuracy:
                return
            n = len(scheduled) * spq
            recorder.add(
                ctx.start_ns,
                scheduled,
                issued,
                comp.done[:n].copy(),
                comp.qsl_idx[:n].copy(),
                comp.first[:n].copy() if tokens else None,
                comp.n_tokens[:n].copy() if tokens else None,
            )

        ctx = PassContext(
            es=es,
            plan=plan,
            completer=comp,
            accuracy=accuracy,
            seq0=seq0,
            bind=lambda ids, idx: bind_issue(self.sut, ids, idx),
            prepare=prepare,
            record=record,
            timeout_ns=es.completion_timeout_ms * 1_000_000,
        )
        info = PassInfo(kind, es.scenario, es.target_qps, plan.query_count, plan.sample_count, comp, es.min_duration_ms)
        if self.observer:
            self.observer.on_pass_start(info)
        wall_start = time.time()
        outcome = _PassOutcome(ctx, None, info)
        self.last = outcome
        try:
            LOOPS[es.scenario](ctx)
            self._flush_and_wait(ctx)
        finally:
            self._finish_pass(ctx, outcome, recorder, wall_start)
            if self.observer:
                self.observer.on_pass_end(info)
        return outcome

    def _flush_and_wait(self, ctx: PassContext) -> None:
        try:
            self.sut.flush()
        except Exception as exc:  # noqa: BLE001 - reported as a SUT failure
            ctx.fail(f"SUT raised in flush: {type(exc).__name__}: {exc}")
        comp = self.completer
        if not comp.wait_for(comp.n_issued - ctx.abandoned, ctx.timeout_ns):
            ctx.timed_out()

    def _finish_pass(self, ctx: PassContext, outcome: _PassOutcome, recorder: PassRecorder, wall_start: float) -> None:
        comp = self.completer
        d = self.detail
        for key, message, t in ctx.messages:
            if key.startswith("error_"):
                d.error(key, message, at_ns=t)
            else:
                d.add(key, message, at_ns=t)
        ctx.record(ctx.scheduled_ns, ctx.issued_ns)
        with comp._lock:
            errors, comp.errors = comp.errors, []
            failures, comp.failures = comp.failures, []
            self.log.extend(comp.log)
            comp.log = []
            last_done = comp.last_done_ns
        for e in errors:
            d.error("error_runtime", e)
        self.failures.extend(ctx.failures)
        self.failures.extend(failures)
        d.many([(k, 0) for k in _LOGGER_COUNTERS])
        end_ns = max(last_done, ctx.start_ns)
        begin = datetime.fromtimestamp(wall_start, tz=timezone.utc)
        finish = datetime.fromtimestamp(wall_start + (end_ns - ctx.start_ns) / 1e9, tz=timezone.utc)
        d.many([("power_begin", _power_time(begin)), ("power_end", _power_time(finish))])
        if ctx.accuracy:
            return
        timing = recorder.timing(ctx.start_ns, ctx.es.scenario == TestScenario.Offline)
        if self.trace:
            tp = recorder.trace_pass(ctx.seq0, ctx.es.scenario == TestScenario.Server)
            self.trace_passes.append(dataclasses.replace(tp, spans=self.spans))
            self.spans = []
        if timing is not None:
            outcome.result = compute(ctx.es, timing)


_LOGGER_COUNTERS = (
    "logger_swap_request_slots_retry_count",
    "logger_swap_request_slots_retry_retry_count",
    "logger_swap_request_slots_retry_reencounter_count",
    "logger_start_reading_entries_retry_count",
    "logger_tls_total_log_cas_fail_count",
    "logger_tls_total_swap_buffers_slot_retry_count",
)


@contextlib.contextmanager
def _roomy_gc(gen0: int = 10_000) -> Iterator[None]:
    """Collect young objects less often during a test (cycles are still collected).

    A Python SUT allocates per query; at the default threshold of 700 the collector runs thousands of times a
    second and adds measurable overhead that the official LoadGen's C++ objects never cause.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], gen0), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _power_time(t: datetime) -> str:
    return t.strftime("%m-%d-%Y %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _requested_items(s: TestSettings) -> list[tuple[str, object]]:
    sc = conf.scenario_name(s.scenario)
    items: list[tuple[str, object]] = [("requested_scenario", sc), ("requested_test_mode", TestMode(s.mode).name)]
    if sc == "SingleStream":
        items += [
            ("requested_single_stream_expected_latency_ns", float(s.single_stream_expected_latency_ns)),
            ("requested_single_stream_target_latency_percentile", float(s.single_stream_target_latency_percentile)),
        ]
    elif sc == "MultiStream":
        items += [
            ("requested_multi_stream_expected_latency_ns", float(s.multi_stream_expected_latency_ns)),
            ("requested_multi_stream_target_latency_percentile", float(s.multi_stream_target_latency_percentile)),
            ("requested_multi_stream_samples_per_query", int(s.multi_stream_samples_per_query)),
        ]
    elif sc == "Server":
        items += [
            ("requested_server_target_qps", float(s.server_target_qps)),
            ("requested_server_target_latency_ns", int(s.server_target_latency_ns)),
            ("requested_server_target_latency_percentile", float(s.server_target_latency_percentile)),
            ("requested_server_coalesce_queries", bool(s.server_coalesce_queries)),
            ("requested_server_find_peak_qps_decimals_of_precision", int(s.server_find_peak_qps_decimals_of_precision)),
            ("requested_server_find_peak_qps_boundary_step_size", float(s.server_find_peak_qps_boundary_step_size)),
            ("requested_server_max_async_queries", int(s.server_max_async_queries)),
            ("requested_server_num_issue_query_threads", int(s.server_num_issue_query_threads)),
        ]
    else:
        items.append(("requested_offline_expected_qps", float(s.offline_expected_qps)))
    items += [
        ("requested_min_duration_ms", s.min_duration_ms),
        ("requested_max_duration_ms", s.max_duration_ms),
        ("requested_min_query_count", s.min_query_count),
        ("requested_max_query_count", s.max_query_count),
        ("requested_qsl_rng_seed", s.qsl_rng_seed),
        ("requested_sample_index_rng_seed", s.sample_index_rng_seed),
        ("requested_schedule_rng_seed", s.schedule_rng_seed),
        ("requested_accuracy_log_rng_seed", s.accuracy_log_rng_seed),
        ("requested_accuracy_log_probability", float(s.accuracy_log_probability)),
        ("requested_accuracy_log_sampling_target", s.accuracy_log_sampling_target),
        ("requested_print_timestamps", bool(s.print_timestamps)),
        ("requested_performance_issue_unique", bool(s.performance_issue_unique)),
        ("requested_performance_issue_same", bool(s.performance_issue_same)),
        ("requested_performance_issue_same_index", s.performance_issue_same_index),
        ("requested_performance_sample_count_override", s.performance_sample_count_override),
        ("requested_accuracy_sample_count_override", s.accuracy_sample_count_override),
        ("requested_sample_concatenate_permutation", bool(s.sample_concatenate_permutation)),
    ]
    if s.use_token_latencies:
        items.append(("requested_use_token_latencies", True))
        if sc != "Offline":
            items += [("requested_server_ttft_latency", s.ttft_latency), ("requested_server_tpot_latency", s.tpot_latency)]
    return items


def _effective_items(es: EffectiveSettings) -> list[tuple[str, object]]:
    return [
        ("effective_scenario", es.scenario.name),
        ("effective_test_mode", es.mode.name),
        ("effective_samples_per_query", es.samples_per_query),
        ("effective_target_qps", float(es.target_qps)),
        ("effective_target_latency_ns", es.target_latency_ns),
        ("effective_target_latency_percentile", float(es.target_latency_percentile)),
        ("effective_max_async_queries", es.max_async_queries),
        ("effective_target_duration_ms", es.target_duration_ms),
        ("effective_min_duration_ms", es.min_duration_ms),
        ("effective_max_duration_ms", es.max_duration_ms),
        ("effective_min_query_count", es.min_query_count),
        ("effective_max_query_count", es.max_query_count),
        ("effective_min_sample_count", es.min_sample_count),
        ("effective_qsl_rng_seed", es.qsl_rng_seed),
        ("effective_sample_index_rng_seed", es.sample_index_rng_seed),
        ("effective_schedule_rng_seed", es.schedule_rng_seed),
        ("effective_accuracy_log_rng_seed", es.accuracy_log_rng_seed),
        ("effective_accuracy_log_probability", float(es.accuracy_log_probability)),
        ("effective_accuracy_log_sampling_target", es.accuracy_log_sampling_target),
        ("effective_print_timestamps", bool(es.print_timestamps)),
        ("effective_performance_issue_unique", bool(es.performance_issue_unique)),
        ("effective_performance_issue_same", bool(es.performance_issue_same)),
        ("effective_performance_issue_same_index", es.performance_issue_same_index),
        ("effective_performance_sample_count", es.performance_sample_count),
        ("effective_accuracy_sample_count", es.accuracy_sample_count),
        ("effective_sample_concatenate_permutation", bool(es.sample_concatenate_permutation)),
    ]


def _result_items(r: PerformanceResult, valid: bool, reasons: Sequence[str]) -> list[tuple[str, object]]:
    es = r.settings
    sc = r.scenario
    m = r.metrics
    items: list[tuple[str, object]] = [("result_validity", "VALID" if valid else "INVALID")]
    checks = {c.name: c for c in r.checks}
    if sc == TestScenario.Server:
        items.append(("result_perf_constraints_met", checks["performance_constraints"].passed))
    items += [
        ("result_min_duration_met", checks["min_duration"].passed),
        ("result_min_queries_met", checks["min_queries"].passed),
        ("early_stopping_met", checks["early_stopping"].passed),
    ]
    if not valid:
        items.append(("result_invalid_reason", _invalid_reason(r, reasons)))
    if r.tokens is not None:
        ttft_text, tpot_text = _token_texts(r)
        items.append(("early_stopping_ttft_result", ttft_text.replace("\n", " ")))
        items.append(("early_stopping_tpot_result", tpot_text.replace("\n", " ")))
    elif r.early_stopping is not None:
        items.append(("early_stopping_result", early_stopping_text(r.early_stopping, r.early_stopping_99).replace("\n", " ")))
    else:
        items.append(("early_stopping_result", ""))
    items.append(("result_query_count", r.query_count))
    if sc == TestScenario.Server:
        items.append(("result_overlatency_query_count", r.overlatency_count))
    if sc == TestScenario.SingleStream:
        es_main, es99 = r.early_stopping, r.early_stopping_99
        if r.token_early_stopping is not None and r.token_early_stopping_99 is not None:
            es_main, es99 = r.token_early_stopping[0], r.token_early_stopping_99[0]
        items += [
            ("result_qps_with_loadgen_overhead", float(m["qps_with_loadgen_overhead"])),
            ("result_qps_without_loadgen_overhead", float(m["qps_without_loadgen_overhead"])),
            ("early_stopping_latency_ss", es_main.estimate if es_main is not None else 0),  # type: ignore[union-attr]
        ]
        items.append(("early_stopping_latency_ms", es99.estimate if es99 is not None and es99.satisfied else 0))
    elif sc == TestScenario.MultiStream and r.query_latency is not None:
        ql = r.query_latency
        items += [
            ("result_min_query_latency_ns", ql.min),
            ("result_max_query_latency_ns", ql.max),
            ("result_mean_query_latency_ns", ql.mean),
        ]
        items += [(f"result_{p * 100:.2f}_percentile_per_query_latency_ns", v) for p, v in ql.percentiles.items()]
        items.append(("early_stopping_latency_ms#multistream", r.early_stopping.estimate if r.early_stopping is not None else 0))  # type: ignore[union-attr]
    elif sc == TestScenario.Server:
        items += [
            ("result_scheduled_samples_per_sec", float(m["scheduled_samples_per_sec"])),
            ("result_completed_samples_per_sec", float(m["completed_samples_per_sec"])),
        ]
    else:
        items.append(("result_samples_per_second", float(m["samples_per_second"])))
    lat = r.latency
    items += [("result_min_latency_ns", lat.min), ("result_max_latency_ns", lat.max), ("result_mean_latency_ns", lat.mean)]
    items += [(f"result_{p * 100:.2f}_percentile_latency_ns", v) for p, v in lat.percentiles.items()]
    if r.tokens is not None:
        if sc != TestScenario.Offline:
            t = r.tokens.ttft
            items += [
                ("result_first_token_min_latency_ns", t.min),
                ("result_first_token_max_latency_ns", t.max),
                ("result_first_token_mean_latency_ns", t.mean),
            ]
            items += [(f"result_first_token_{p * 100:.2f}_percentile_latency_ns", v) for p, v in t.percentiles.items()]
            items += [
                ("result_token_throughput_with_loadgen_overhead", float(m["token_throughput_with_loadgen_overhead"])),
                ("result_token_throughput", float(m["token_throughput"])),
            ]
            tp = r.tokens.tpot
            items += [(f"result_time_per_output_token_{p * 100:.2f}_percentile_ns", v) for p, v in tp.percentiles.items()]
            items += [
                ("result_time_to_output_token_min", tp.min),
                ("result_time_to_output_token_max", tp.max),
                ("result_time_to_output_token_mean", tp.mean),
            ]
            if "completed_tokens_per_second" in m:
                items.append(("result_completed_tokens_per_second", float(m["completed_tokens_per_second"])))
        else:
            items.append(("result_tokens_per_second", float(m["tokens_per_second"])))
    if es.infer_token_latencies:
        if sc == TestScenario.Server:
            items.append(("result_inferred_completed_tokens_per_second", float(m["inferred_completed_tokens_per_second"])))
        elif sc == TestScenario.Offline:
            items.append(("result_inferred_tokens_per_second", float(m["inferred_tokens_per_second"])))
    return items


def _token_texts(r: PerformanceResult) -> tuple[str, str]:
    """The TTFT and TPOT early-stopping paragraphs (empty for Offline)."""
    if r.token_early_stopping is None:
        return "", ""
    extra = r.token_early_stopping_99 or (None, None)
    return (
        early_stopping_text(r.token_early_stopping[0], extra[0]),
        early_stopping_text(r.token_early_stopping[1], extra[1]),
    )


def _invalid_reason(r: PerformanceResult, extra: Sequence[str]) -> str:
    """The official ``result_invalid_reason``: failed recommendations (first sentence for min queries)."""
    text = ""
    for c in r.checks:
        if c.passed or not c.recommendation:
            continue
        text += c.recommendation.split("\n")[0] if c.name == "min_queries" else c.recommendation + " "
    return text + "".join(f"{x} " for x in extra)


def _version_items() -> list[tuple[str, object]]:
    return [
        ("loadgen_version", f"{LOADGEN_VERSION} @ mlmeter-{__version__}"),
        ("loadgen_build_date_local", "mlmeter"),
        ("loadgen_build_date_utc", "mlmeter"),
        ("loadgen_git_commit_date", "mlmeter"),
        ("loadgen_git_log_message", f"mlmeter {__version__}: pure-Python LoadGen, behaviour of LoadGen {LOADGEN_VERSION}"),
        ("loadgen_git_status_message", ""),
        ("loadgen_file_sha1", {}),
    ]


def _output_paths(ls: LogSettings, stamp: str) -> dict[str, Path]:
    pre = ls.prefix + (stamp + "_" if ls.prefix_with_datetime else "")
    out = Path(ls.outdir)
    return {
        "summary": out / f"{pre}summary{ls.suffix}.txt",
        "detail": out / f"{pre}detail{ls.suffix}.txt",
        "accuracy": out / f"{pre}accuracy{ls.suffix}.json",
        "trace": out / f"{pre}trace{ls.suffix}.json",
        "result": out / f"{pre}result{ls.suffix}.json" if ls.prefix != "mlperf_log_" else out / "result.json",
    }


def run_test(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    settings: TestSettings,
    log_settings: LogSettings | None = None,
    *,
    audit_config: str | os.PathLike[str] | None = "audit.config",
    observer: RunObserver | None = None,
    pending_errors: Sequence[tuple[str, str, int]] = (),
    summary_hook: Callable[[str], None] | None = None,
) -> TestResult:
    """Run one test and write its files; see the module docstring for failure behaviour.

    :param audit_config: a compliance ``audit.config`` applied if it exists (relative to the CWD), or None.
    :param pending_errors: (key, message, time) errors to put first in the detail log (compat ``FromConfig``).
    :raises SettingsError: settings that make no sense, before anything runs.
    :raises ConfigError: an unreadable ``audit.config``.
    """
    ls = log_settings or LogSettings()
    requested = settings.copy()
    total, perf = int(qsl.total_sample_count), int(qsl.performance_sample_count)
    warnings_early: list[str] = []
    if audit_config is not None and Path(audit_config).is_file():
        conf.apply(requested, conf.read_file(audit_config), "*", conf.scenario_name(requested.scenario), conf.ConfKind.AUDIT)
        warnings_early.append(
            "Found Audit Config file (audit.config). Overriding TestSettings from audit.config file."
        )
    validate(requested, total, perf)
    es = effective_settings(requested, total, perf)

    detail = DetailLog()
    for key, message, t in pending_errors:
        detail.error(key, message, at_ns=t)
    local = datetime.now()
    stamp = local.strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = _output_paths(ls, local.strftime("%Y-%m-%d_%H-%M-%S"))
    Path(ls.outdir).mkdir(parents=True, exist_ok=True)
    detail_path = Path(paths["detail"])
    detail.stream(detail_path.with_name(detail_path.name + ".partial"))
    epoch_ns = time.time_ns()
    detail.many(_version_items())
    t0 = _clock()
    sut_name = str(sut.name)
    name_ns = _clock() - t0
    detail.many(
        [
            ("test_datetime", stamp),
            ("sut_name", sut_name),
            ("get_sut_name_duration_ns", name_ns),
            ("qsl_name", str(qsl.name)),
            ("qsl_reported_total_count", total),
            ("qsl_reported_performance_count", perf),
        ]
    )
    for w in warnings_early:
        detail.warning(w)
    if requested.test05:
        detail.warning("Test05 flag detected Overriding random seeds")
    detail.many(_requested_items(requested))
    detail.many(_effective_items(es))

    test = _Test(sut, qsl, es, detail, observer, ls.enable_trace)
    interrupted = False
    perf_outcome: _PassOutcome | None = None
    peak: float | None = None
    try:
        with _roomy_gc():
            if es.mode in (TestMode.AccuracyOnly, TestMode.SubmissionRun):
                _accuracy_mode(test, total)
            if es.mode in (TestMode.PerformanceOnly, TestMode.SubmissionRun) and not test.failures:
                perf_outcome = _performance_mode(test, es, total)
            elif es.mode == TestMode.FindPeakPerformance:
                perf_outcome, peak = _find_peak(test, es, total)
    except KeyboardInterrupt:
        interrupted = True
        if perf_outcome is None and test.last is not None and test.last.info.kind != "accuracy":
            perf_outcome = test.last
        detail.error("error_runtime", "Run interrupted by the user (KeyboardInterrupt); results are incomplete.")

    perf_result = perf_outcome.result if perf_outcome else None
    reasons: list[str] = []
    valid: bool | None = None
    if es.mode != TestMode.AccuracyOnly:
        if perf_result is not None:
            reasons += [c.recommendation for c in perf_result.checks if not c.passed and c.recommendation]
            valid = perf_result.valid
        else:
            valid = False
            reasons.append("No performance result: no query completed.")
    if test.failures or interrupted:
        valid = False  # a SUT failure or an interruption makes any run INVALID, an accuracy run too
    failures = list(test.failures) + (["interrupted by the user"] if interrupted else [])
    if perf_result is not None:
        detail.many(_result_items(perf_result, bool(valid), failures))
    if es.mode != TestMode.AccuracyOnly:
        detail.add("num_errors", len(detail.errors))

    files: dict[str, str] = {}
    summary = ""
    if perf_result is not None:
        summary = summary_body(perf_result, sut_name, es.mode.name, failures)
    summary += footer(len(detail.warnings), len(detail.errors))
    write_text(paths["summary"], summary)
    write_text(paths["detail"], detail.text())
    detail.close_stream()
    write_text(paths["accuracy"], accuracy_text(test.log, es.scenario == TestScenario.Offline))
    write_text(paths["trace"], trace_text(detail.origin_ns, epoch_ns, test.trace_passes) if ls.enable_trace else "")
    for k in ("summary", "detail", "accuracy", "trace"):
        files[k] = str(paths[k])
    if summary_hook is not None:
        summary_hook(summary)
    result = TestResult(
        scenario=es.scenario,
        mode=es.mode,
        settings=es,
        performance=perf_result,
        valid=valid,
        reasons=tuple(reasons + failures),
        errors=tuple(detail.errors),
        warnings=tuple(detail.warnings),
        interrupted=interrupted,
        find_peak_qps=peak,
        find_peak_trials=tuple(test.peak_trials),
        accuracy_logged=len(test.log),
        files=files,
        requested=requested,
        sut_name=sut_name,
        qsl_name=str(qsl.name),
        started_at=datetime.fromtimestamp(epoch_ns / 1e9, tz=timezone.utc).isoformat(),
    )
    if ls.write_result_json:
        files["result"] = str(paths["result"])
        write_text(paths["result"], result_document(result))
    if interrupted:
        raise RunInterrupted(result)
    return result


def _accuracy_mode(test: _Test, total: int) -> None:
    es = test.es
    test.detail.add("generic_message", "Starting accuracy mode")
    pad = es.samples_per_query - 1 if es.scenario == TestScenario.MultiStream else 0
    for s in loadable_sets(es.accuracy_sample_count, total, es.performance_sample_count, es.qsl_rng_seed, pad):
        if not test.load(s):
            return
        try:
            test.run_pass(es, s, accuracy=True, kind="accuracy")
        finally:
            test.unload(s)
        if test.failures:
            return


def _perf_set(es: EffectiveSettings, total: int) -> LoadableSet:
    pad = es.samples_per_query - 1 if es.scenario == TestScenario.MultiStream else 0
    return loadable_sets(es.performance_sample_count, total, es.performance_sample_count, es.qsl_rng_seed, pad)[0]


def _performance_mode(test: _Test, es: EffectiveSettings, total: int) -> _PassOutcome | None:
    test.detail.add("generic_message", "Starting performance mode")
    s = _perf_set(es, total)
    if not test.load(s):
        return None
    try:
        return test.run_pass(es, s, accuracy=False, kind="performance")
    finally:
        test.unload(s)


def _constraint_ok(o: _PassOutcome) -> bool:
    if o.result is None or o.ctx.failures:
        return False
    c = o.result.check("performance_constraints")
    return bool(c and c.passed)


def _find_peak(test: _Test, es: EffectiveSettings, total: int) -> tuple[_PassOutcome | None, float | None]:
    """FindPeakPerformance (spec §12): widen the bounds, then binary-search the highest passing QPS."""
    d = test.detail
    d.add("generic_message", "Starting FindPeakPerformance mode")
    s = _perf_set(es, total)

    def trial(qps: float) -> _PassOutcome | None:
        if not test.load(s):
            return None
        try:
            o = test.run_pass(es.with_target_qps(qps), s, accuracy=False, kind="find-peak")
        finally:
            test.unload(s)
        r = o.result
        test.peak_trials.append(PeakTrial(
            qps, r.metrics.get("completed_samples_per_sec") if r else None,
            r.latency.percentiles[0.99] if r else None, _constraint_ok(o)))
        return o

    d.add("generic_message", "FindPeakPerformance: Check validity of the base settings")
    lower = es.target_qps
    base = trial(lower)
    if base is None or not _constraint_ok(base):
        rec = "" if base is None or base.result is None else base.result.check("performance_constraints").recommendation  # type: ignore[union-attr]
        d.error("error_runtime", f"FindPeakPerformance: Initial lower bound does not satisfy performance constraints, msg: {rec}")
        return base, None
    best = base
    while True:
        upper = lower * (1 + es.find_peak_step)
        d.add("generic_message", f"FindBoundaries: Checking fields [{lower:.6f}, {upper:.6f})")
        o = trial(upper)
        if o is None:
            return best, lower
        if _constraint_ok(o):
            lower, best = upper, o
            continue
        break
    scale = 10 ** es.find_peak_decimals
    while math.floor(lower * scale) + 1 < math.floor(upper * scale):
        mid = lower + (upper - lower) / 2
        d.add("generic_message", f"FindPeakPerformanceBinarySearch: Testing the mid value of bounds [{lower:.6f}, {upper:.6f}): {mid:.6f}")
        o = trial(mid)
        if o is None:
            break
        if _constraint_ok(o):
            lower, best = mid, o
        else:
            upper = mid
    d.add("generic_message", f"FindPeakPerformance: Found peak performance field: {lower:.6f}")
    return best, lower
