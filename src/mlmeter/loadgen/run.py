"""``run_test``: the driver of one LoadGen test, from settings to log files, in any mode (spec §1, §12).

The library never prints: progress goes to an optional :class:`~mlmeter.events.Observer`; failures of the SUT
end the run INVALID with the reason; Ctrl-C keeps what was measured, writes complete files and raises
:class:`RunInterrupted` carrying the partial result. The pass state (the :class:`Completer`) is private to the
driver; the SUT sees it only as its :class:`~mlmeter.loadgen.protocols.CompletionSink`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.events import Observer, PassInfo, observing
from mlmeter.loadgen.accuracy_sampling import SampleSelector, offset_for, sampling_probability
from mlmeter.loadgen.builder import Layer, audit_layer
from mlmeter.loadgen.completer import Completer, LogEntry
from mlmeter.loadgen.find_peak import Peak, find_peak
from mlmeter.loadgen.generate import LoadableSet, QueryPlan, loadable_sets
from mlmeter.loadgen.logs.accuracy import accuracy_text
from mlmeter.loadgen.logs.detail import DetailLog
from mlmeter.loadgen.logs.detail_items import (
    LOGGER_COUNTERS,
    effective_items,
    power_time,
    requested_items,
    result_items,
    version_items,
)
from mlmeter.loadgen.logs.summary import footer, summary_body
from mlmeter.loadgen.logs.trace import Span, TracePass, trace_text
from mlmeter.loadgen.outcome import PassOutcome, PeakTrial, RunInterrupted, TestResult
from mlmeter.loadgen.protocols import QuerySampleLibrary, SystemUnderTest, bind_issue, driver_of
from mlmeter.loadgen.recorder import PassRecorder
from mlmeter.loadgen.result_json import result_record
from mlmeter.loadgen.results import compute
from mlmeter.loadgen.scenarios import PassContext, waiter
from mlmeter.loadgen.scenarios.closed_loop import CHUNK
from mlmeter.loadgen.scenarios.policy import scenario_policy
from mlmeter.loadgen.settings import (
    EffectiveSettings,
    TestMode,
    TestSettings,
    effective_settings,
    validate,
)
from mlmeter.results.record import write_record
from mlmeter.util.atomic import write_text
from mlmeter.verdict import Check, failure

_clock = time.perf_counter_ns


@dataclass
class LogSettings:
    """Where and how the log files are written (the official ``LogOutputSettings`` + ``enable_trace``)."""

    outdir: str = "."
    prefix: str = "mlperf_log_"
    suffix: str = ""
    prefix_with_datetime: bool = False
    enable_trace: bool = False
    write_result_json: bool = True


class _Test:
    """State shared by all passes of one ``run_test`` call."""

    def __init__(self, sut: SystemUnderTest, qsl: QuerySampleLibrary, es: EffectiveSettings, detail: DetailLog,
                 observer: Observer, trace: bool, response_reader: Callable[[Any], bytes] | None) -> None:
        self.sut, self.qsl, self.es, self.detail, self.observer = sut, qsl, es, detail, observer
        self.completer = Completer(response_reader)
        self.seq = 0
        self.sampler = SampleSelector()
        self.log: list[LogEntry] = []
        self.failures: list[str] = []
        self.trace = trace
        self.trace_passes: list[TracePass] = []
        self.spans: list[Span] = []
        self.last: PassOutcome | None = None
        self.completer.drive_with(driver_of(sut))
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

    def loaded_pass(self, es: EffectiveSettings, s: LoadableSet, kind: str) -> PassOutcome | None:
        """Load ``s``, run one pass over it, unload it; None when the QSL could not load it."""
        if not self.load(s):
            return None
        try:
            return self.run_pass(es, s, accuracy=kind == "accuracy", kind=kind)
        finally:
            self.unload(s)

    # -- one pass ---------------------------------------------------------------------------------------
    def run_pass(self, es: EffectiveSettings, loaded: LoadableSet, accuracy: bool, kind: str) -> PassOutcome:
        t0 = _clock()
        plan = QueryPlan(es, loaded, accuracy)
        self.spans.append(Span("GenerateQueries", t0, _clock()))
        self.detail.many([("generated_query_count", plan.query_count),
                          ("generated_samples_per_query", plan.samples_per_query),
                          ("generated_query_duration", plan.duration_ns)])
        seq0 = self.seq
        self.seq += plan.sample_count
        ctx, recorder = self._context(es, plan, seq0, accuracy)
        comp = self.completer
        info = PassInfo(kind, es.scenario.name, es.target_qps, plan.query_count, plan.sample_count, comp.counts,
                        es.min_duration_ms)
        self.observer.on_pass_start(info)
        wall_start = time.time()
        outcome = PassOutcome(kind, failures=ctx.failures)
        self.last = outcome
        try:
            scenario_policy(es.scenario).issue(ctx)
            self._flush_and_wait(ctx)
        finally:
            self._finish_pass(ctx, outcome, recorder, wall_start)
            self.observer.on_pass_end(info)
        return outcome

    def _context(self, es: EffectiveSettings, plan: QueryPlan, seq0: int,
                 accuracy: bool) -> tuple[PassContext, PassRecorder]:
        """The completer sized for the pass, the accuracy-log mask, the recorder and the loop's context."""
        spq = plan.samples_per_query
        policy = scenario_policy(es.scenario)
        capacity = min(plan.sample_count, CHUNK * spq) if policy.closed else plan.sample_count
        tokens = es.use_token_latencies
        comp = self.completer
        comp.start_pass(seq0 + 1, capacity, spq, log_all=accuracy, tokens=tokens,
                        first=policy.first_token)
        prob = 0.0 if accuracy else sampling_probability(es)
        offset = offset_for(es) if prob > 0 else 0.0
        if prob > 0:
            comp.log_mask = np.zeros(capacity, dtype=bool)

        def prepare(first: int, indices: np.ndarray) -> None:
            at = first - comp.window_start
            comp.qsl_idx[at : at + len(indices)] = indices
            if prob > 0:
                assert comp.log_mask is not None
                comp.log_mask[at : at + len(indices)] = self.sampler.mask(seq0 + first, len(indices), offset, prob)

        recorder = PassRecorder(spq, policy.query_latency, tokens, self.trace)

        def record(scheduled: np.ndarray, issued: np.ndarray) -> None:
            if accuracy:
                return
            n = len(scheduled) * spq
            recorder.add(ctx.start_ns, scheduled, issued, comp.done[:n].copy(), comp.qsl_idx[:n].copy(),
                         comp.first[:n].copy() if tokens else None, comp.n_tokens[:n].copy() if tokens else None)

        ctx = PassContext(es=es, plan=plan, completer=comp, accuracy=accuracy, seq0=seq0,
                          bind=lambda ids, idx: bind_issue(self.sut, ids, idx), prepare=prepare, record=record,
                          timeout_ns=es.completion_timeout_ms * 1_000_000, wait_until=waiter(comp.driver))
        return ctx, recorder

    def _flush_and_wait(self, ctx: PassContext) -> None:
        try:
            self.sut.flush()
        except Exception as exc:  # noqa: BLE001 - reported as a SUT failure
            ctx.fail(f"SUT raised in flush: {type(exc).__name__}: {exc}")
        comp = self.completer
        if not comp.wait_for(comp.n_issued - ctx.abandoned, ctx.timeout_ns):
            ctx.timed_out()

    def _finish_pass(self, ctx: PassContext, outcome: PassOutcome, recorder: PassRecorder, wall_start: float) -> None:
        d = self.detail
        for key, message, t in ctx.messages:
            if key.startswith("error_"):
                d.error(key, message, at_ns=t)
            else:
                d.add(key, message, at_ns=t)
        ctx.record(ctx.scheduled_ns, ctx.issued_ns)
        drained = self.completer.drain()
        self.log.extend(drained.log)
        for e in drained.errors:
            d.error("error_runtime", e)
        self.failures.extend(ctx.failures)
        self.failures.extend(drained.failures)
        d.many([(k, 0) for k in LOGGER_COUNTERS])
        end_ns = max(drained.last_done_ns, ctx.start_ns)
        begin = datetime.fromtimestamp(wall_start, tz=timezone.utc)
        finish = datetime.fromtimestamp(wall_start + (end_ns - ctx.start_ns) / 1e9, tz=timezone.utc)
        d.many([("power_begin", power_time(begin)), ("power_end", power_time(finish))])
        if ctx.accuracy:
            return
        policy = scenario_policy(ctx.es.scenario)
        timing = recorder.timing(ctx.start_ns, policy.one_query)
        if self.trace:
            tp = recorder.trace_pass(ctx.seq0, policy.paced)
            self.trace_passes.append(dataclasses.replace(tp, spans=self.spans))
            self.spans = []
        if timing is not None:
            outcome.result = compute(ctx.es, timing)

    # -- modes -------------------------------------------------------------------------------------------
    def accuracy_mode(self, total: int) -> None:
        es = self.es
        self.detail.add("generic_message", "Starting accuracy mode")
        pad = scenario_policy(es.scenario).loadable_padding(es)
        for s in loadable_sets(es.accuracy_sample_count, total, es.performance_sample_count, es.qsl_rng_seed, pad):
            if self.loaded_pass(es, s, "accuracy") is None or self.failures:
                return

    def performance_mode(self, total: int) -> PassOutcome | None:
        self.detail.add("generic_message", "Starting performance mode")
        return self.loaded_pass(self.es, _perf_set(self.es, total), "performance")

    def find_peak_mode(self, total: int) -> Peak:
        s = _perf_set(self.es, total)
        return find_peak(self.es, lambda qps: self.loaded_pass(self.es.with_target_qps(qps), s, "find-peak"),
                         lambda m: self.detail.add("generic_message", m),
                         lambda m: self.detail.error("error_runtime", m))


def _perf_set(es: EffectiveSettings, total: int) -> LoadableSet:
    pad = scenario_policy(es.scenario).loadable_padding(es)
    return loadable_sets(es.performance_sample_count, total, es.performance_sample_count, es.qsl_rng_seed, pad)[0]


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


@contextlib.contextmanager
def saving_after_interrupt(interrupted: bool) -> Iterator[None]:
    """Once the user has interrupted the run, a second Ctrl-C waits until the files of what was measured are
    written (in the main thread, where signals arrive; elsewhere nothing changes)."""
    previous = signal.getsignal(signal.SIGINT)
    if not interrupted or previous is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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


def _requested(settings: TestSettings, total: int, perf: int, audit_config: str | os.PathLike[str] | None,
               layers: Sequence[Layer]) -> tuple[TestSettings, list[str], tuple[Layer, ...]]:
    """The settings as requested, with a compliance ``audit.config`` applied when one exists (its layer added to
    ``layers``); validated."""
    requested = settings.copy()
    warnings: list[str] = []
    applied = tuple(layers)
    if audit_config is not None and Path(audit_config).is_file():
        applied += (audit_layer(requested, audit_config),)
        warnings.append("Found Audit Config file (audit.config). Overriding TestSettings from audit.config file.")
    validate(requested, total, perf)
    return requested, warnings, applied


@dataclass
class _Opening:
    detail: DetailLog
    paths: dict[str, Path]
    epoch_ns: int
    sut_name: str


def _open_log(sut: SystemUnderTest, qsl: QuerySampleLibrary, ls: LogSettings, requested: TestSettings,
              es: EffectiveSettings, warnings: list[str], pending: Sequence[tuple[str, str, int]]) -> _Opening:
    """The detail log's opening items (versions, names, settings), streamed to ``*.partial`` from now on."""
    detail = DetailLog()
    for key, message, t in pending:
        detail.error(key, message, at_ns=t)
    local = datetime.now()
    paths = _output_paths(ls, local.strftime("%Y-%m-%d_%H-%M-%S"))
    Path(ls.outdir).mkdir(parents=True, exist_ok=True)
    detail.stream(paths["detail"].with_name(paths["detail"].name + ".partial"))
    epoch_ns = time.time_ns()
    detail.many(version_items())
    t0 = _clock()
    sut_name = str(sut.name)
    name_ns = _clock() - t0
    detail.many([("test_datetime", local.strftime("%Y-%m-%dT%H:%M:%SZ")), ("sut_name", sut_name),
                 ("get_sut_name_duration_ns", name_ns), ("qsl_name", str(qsl.name)),
                 ("qsl_reported_total_count", int(qsl.total_sample_count)),
                 ("qsl_reported_performance_count", int(qsl.performance_sample_count))])
    for w in warnings:
        detail.warning(w)
    if requested.test05:
        detail.warning("Test05 flag detected Overriding random seeds")
    detail.many(requested_items(requested))
    detail.many(effective_items(es))
    return _Opening(detail, paths, epoch_ns, sut_name)


@dataclass
class _Modes:
    perf: PassOutcome | None = None
    peak: Peak | None = None
    interrupted: bool = False


def _run_modes(test: _Test, total: int) -> _Modes:
    es, out = test.es, _Modes()
    try:
        with _roomy_gc():
            if es.mode in (TestMode.AccuracyOnly, TestMode.SubmissionRun):
                test.accuracy_mode(total)
            if es.mode in (TestMode.PerformanceOnly, TestMode.SubmissionRun) and not test.failures:
                out.perf = test.performance_mode(total)
            elif es.mode == TestMode.FindPeakPerformance:
                out.peak = test.find_peak_mode(total)
                out.perf = out.peak.best
    except KeyboardInterrupt:
        out.interrupted = True
        if out.perf is None and test.last is not None and test.last.kind != "accuracy":
            out.perf = test.last
        test.detail.error("error_runtime", "Run interrupted by the user (KeyboardInterrupt); results are incomplete.")
    return out


def _checks(es: EffectiveSettings, modes: _Modes, failures: list[str]) -> list[Check]:
    """The performance checks (none for AccuracyOnly), then one decisive check per failure of the SUT or QSL."""
    perf = modes.perf.result if modes.perf else None
    checks: list[Check] = []
    if es.mode != TestMode.AccuracyOnly:
        if perf is not None:
            checks += perf.checks
        else:
            checks.append(Check("performance_result", False, "at least one completed query", "none completed",
                                "No performance result: no query completed."))
    return checks + [failure(f) for f in failures]


def run_test(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    settings: TestSettings,
    log_settings: LogSettings | None = None,
    *,
    audit_config: str | os.PathLike[str] | None = "audit.config",
    observer: Observer | None = None,
    pending_errors: Sequence[tuple[str, str, int]] = (),
    summary_hook: Callable[[str], None] | None = None,
    response_reader: Callable[[Any], bytes] | None = None,
    layers: Sequence[Layer] = (),
) -> TestResult:
    """Run one test and write its files; see the module docstring for failure behaviour.

    :param audit_config: a compliance ``audit.config`` applied if it exists (relative to the CWD), or None.
    :param pending_errors: (key, message, time) errors to put first in the detail log (compat ``FromConfig``).
    :param response_reader: how a response becomes the accuracy log's bytes (default: bytes-like or NumPy).
    :param layers: how ``settings`` were built (:class:`SettingsBuilder`), recorded in the result.
    :raises SettingsError: settings that make no sense, before anything runs.
    :raises ConfigError: an unreadable ``audit.config``.
    """
    ls = log_settings or LogSettings()
    total, perf = int(qsl.total_sample_count), int(qsl.performance_sample_count)
    requested, warnings, applied = _requested(settings, total, perf, audit_config, layers)
    es = effective_settings(requested, total, perf)
    opening = _open_log(sut, qsl, ls, requested, es, warnings, pending_errors)
    test = _Test(sut, qsl, es, opening.detail, observing(observer), ls.enable_trace, response_reader)
    modes = _run_modes(test, total)
    with saving_after_interrupt(modes.interrupted):
        result = _conclude(test, modes, opening, ls, requested, summary_hook, applied)
    if modes.interrupted:
        raise RunInterrupted(result)
    return result


def _conclude(test: _Test, modes: _Modes, opening: _Opening, ls: LogSettings, requested: TestSettings,
              summary_hook: Callable[[str], None] | None, layers: tuple[Layer, ...]) -> TestResult:
    """Judge, finish the detail log, write every file and build the :class:`TestResult`."""
    es, detail, paths = test.es, opening.detail, opening.paths
    perf = modes.perf.result if modes.perf else None
    failures = list(test.failures) + (["interrupted by the user"] if modes.interrupted else [])
    checks = _checks(es, modes, test.failures)
    valid = all(c.passed for c in checks) and not modes.interrupted
    if perf is not None:
        detail.many(result_items(perf, valid, failures))
    if es.mode != TestMode.AccuracyOnly:
        detail.add("num_errors", len(detail.errors))
    summary = summary_body(perf, opening.sut_name, es.mode.name, failures) if perf is not None else ""
    summary += footer(len(detail.warnings), len(detail.errors))
    write_text(paths["summary"], summary)
    write_text(paths["detail"], detail.text())
    detail.close_stream()
    write_text(paths["accuracy"], accuracy_text(test.log, scenario_policy(es.scenario).one_query))
    write_text(paths["trace"], trace_text(detail.origin_ns, opening.epoch_ns, test.trace_passes)
               if ls.enable_trace else "")
    files = {k: str(paths[k]) for k in ("summary", "detail", "accuracy", "trace")}
    if summary_hook is not None:
        summary_hook(summary)
    peak: Peak | None = modes.peak
    trials: tuple[PeakTrial, ...] = tuple(peak.trials) if peak else ()
    result = TestResult(
        scenario=es.scenario, mode=es.mode, settings=es, performance=perf, checks=tuple(checks),
        errors=tuple(detail.errors), warnings=tuple(detail.warnings), interrupted=modes.interrupted,
        find_peak_qps=peak.qps if peak else None, find_peak_trials=trials, accuracy_logged=len(test.log),
        files=files, requested=requested, layers=layers, sut_name=opening.sut_name, qsl_name=str(test.qsl.name),
        started_at=datetime.fromtimestamp(opening.epoch_ns / 1e9, tz=timezone.utc).isoformat())
    if ls.write_result_json:
        files["result"] = str(paths["result"])
        write_record(paths["result"], result_record(result))
    return result


__all__ = ["LogSettings", "PassInfo", "PeakTrial", "RunInterrupted", "TestResult", "run_test"]
