"""``run_inference``: backend + workload -> QSL and SUT -> one LoadGen test per scenario -> files.

Preparation (model load, signature check, dataset open, warm-up) happens once; the scenarios then run one
after another on the same loaded model and pre-processed samples. The harness never prints: it emits the
:mod:`mlmeter.events` stream (stages, the LoadGen's passes, the accuracy scoring's progress).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmeter import events
from mlmeter.backends import Backend, BackendError, BackendOptions, LoadedModel, create_backend
from mlmeter.inference.accuracy import read_accuracy_log
from mlmeter.inference.compliance import AuditRun, audit_runs
from mlmeter.inference.config import InferConfig, InferConfigError
from mlmeter.inference.download import fetch
from mlmeter.inference.qsl import PreprocessedQSL, SampleCache
from mlmeter.inference.sut import (
    BatchingPolicy,
    BatchRunner,
    InferenceSUT,
    ServiceTime,
    measure_offline_rate,
    measure_service,
)
from mlmeter.loadgen import (
    LogSettings,
    RunInterrupted,
    TestResult,
    TestScenario,
    TestSettings,
    run_test,
    saving_after_interrupt,
)
from mlmeter.loadgen.builder import SettingsBuilder
from mlmeter.loadgen.result_json import result_body
from mlmeter.loadgen.scenarios.policy import Headline, scenario_policy
from mlmeter.power import Meter
from mlmeter.power.metered import metered_test
from mlmeter.results.kinds.inference import accuracy_checks
from mlmeter.results.record import RunRecord, new_record, write_record
from mlmeter.submission.audits import audit_config_text
from mlmeter.system import describe_host
from mlmeter.util.atomic import write_text
from mlmeter.util.cache import default_cache_dir
from mlmeter.util.rundir import fresh_directory
from mlmeter.verdict import Check, failure
from mlmeter.workloads import AccuracyReport, Dataset, ModelSource, Workload, WorkloadError, create_workload


@dataclass
class Prepared:
    """What the scenarios share: the loaded model, the dataset and its in-RAM samples, the service model."""

    cfg: InferConfig
    workload: Workload
    backend: Backend
    model: LoadedModel
    dataset: Dataset
    qsl: PreprocessedQSL
    run: BatchRunner
    service: ServiceTime
    host: dict[str, Any] = field(default_factory=describe_host)
    offline_rate: float = 0.0
    """The Offline SUT's rate in a short probe, samples/s (sizes the Offline query of --auto-targets)."""
    meter: Meter = field(default_factory=lambda: Meter(()))

    def close(self) -> None:
        self.qsl.release()
        self.backend.close()
        self.meter.close()


@dataclass
class ScenarioOutcome:
    scenario: TestScenario
    outdir: Path
    result: TestResult
    accuracy: AccuracyReport | None
    record: RunRecord

    @property
    def verdict(self) -> str:
        return self.record.verdict.value

    @property
    def document(self) -> dict[str, Any]:
        """The inference body of the run record."""
        return self.record.body


def resolve_model(cfg: InferConfig, workload: Workload) -> Path:
    if cfg.model_path is not None:
        if not cfg.model_path.is_file():
            raise WorkloadError(f"--model-path {cfg.model_path}: file not found")
        return cfg.model_path
    if cfg.backend in ("null", "simulated"):
        return Path(f"<{cfg.backend}>")
    src = workload.model_source(cfg.backend)
    if src is None:
        raise WorkloadError(f"no default {cfg.model} model for backend {cfg.backend}; pass --model-path")
    if isinstance(src, ModelSource):
        cache = cfg.cache_dir or default_cache_dir()
        if not cfg.download and not (cache / "models" / src.filename).is_file():
            raise WorkloadError(f"{cache / 'models' / src.filename} not found and downloads are off; pass --model-path")
        return fetch(src, cache)
    return src


def prepare(cfg: InferConfig, observer: events.Observer | None = None) -> Prepared:
    """Create backend and workload, load and check the model, open the dataset, warm up."""
    obs = events.observing(observer)
    if not cfg.overwrite:
        for sc in cfg.scenarios:  # refuse a taken --output before loading anything
            for leaf in cfg.modes + cfg.compliance:
                output_dir(cfg, sc, leaf)
    workload = create_workload(cfg.model)
    backend = create_backend(cfg.backend)
    layout = cfg.data_format or backend.preferred_layout
    dataset = workload.open_dataset(cfg.dataset_path, cfg.count, layout)
    if cfg.count is not None and cfg.count > len(dataset):
        raise InferConfigError(f"--count {cfg.count}: the {cfg.model} dataset has {len(dataset)} samples; "
                               f"give at most {len(dataset)}")
    obs.on_stage(events.Stage(f"model: {cfg.model} for {cfg.backend} (made or downloaded on first use)"))
    path = resolve_model(cfg, workload)
    extra: dict[str, Any] = dict(cfg.backend_options)
    factory = getattr(workload, "torch_module", lambda: None)()
    if cfg.backend == "pytorch" and factory is not None:
        extra.setdefault("torch_module", factory)
    options = BackendOptions(device=cfg.device, intra_op_threads=cfg.threads, inter_op_threads=cfg.inter_op_threads,
                             compile=cfg.compile, extra=extra)
    obs.on_stage(events.Stage(f"loading {path} on {backend.name} {backend.version} ({cfg.device})"))
    model = backend.load(path, options)
    feeder = workload.bind(model)
    cache = SampleCache(cfg.cache_dir, workload.preprocessing_id, layout) if cfg.cache_dir else None
    perf = cfg.performance_sample_count or min(len(dataset), 500)
    qsl = PreprocessedQSL(dataset, perf, threads=cfg.preprocess_threads, cache=cache,
                          retain=len(cfg.scenarios) > 1)
    run = BatchRunner(qsl, backend, workload, feeder)
    warm = min(len(dataset), cfg.max_batchsize)
    obs.on_stage(events.Stage(f"warming up on {warm} samples"))
    qsl.load_samples(list(range(warm)))
    try:
        service = measure_service(run, cfg.max_batchsize, warm)
        offline_rate = measure_offline_rate(run, service, max_batch=cfg.max_batchsize, workers=cfg.workers,
                                            available=warm) if cfg.auto_targets else 0.0
    except (WorkloadError, BackendError):
        raise
    except Exception as exc:  # noqa: BLE001 - the runtime's own error types (or the probe's); reported with the cause
        raise BackendError(f"warm-up inference on {backend.name} failed: {type(exc).__name__}: {exc}") from exc
    meter = Meter(cfg.power)
    for line in meter.problems:
        obs.on_warning(events.Warning(f"power: {line}"))
    return Prepared(cfg, workload, backend, model, dataset, qsl, run, service,
                    host=describe_host(cfg.dataset_path), meter=meter, offline_rate=offline_rate)


def _auto_targets(s: TestSettings, p: Prepared) -> None:
    """Starting points from the warm-up (user.conf and flags still override): enough generated queries for
    the closed loops, an Offline query sized from a probe of the Offline SUT, Server at a third of the unbatched
    capacity (capped at 5000 QPS; find-peak measures the real peak)."""
    cfg, svc = p.cfg, p.service
    one = max(svc.predict(1), 1_000.0)
    s.single_stream_expected_latency_ns = int(one / 2) or 1
    s.multi_stream_expected_latency_ns = int(max(svc.predict(s.multi_stream_samples_per_query), one) / 2) or 1
    # The Offline query is sized 1.25x over the rate the Offline SUT itself kept in a short probe (its best of
    # three, so that a stall in one cannot shrink the query; measured within 4 % of the runs' rates on digits
    # and ResNet-50): with the LoadGen's own 10 % slack, the query outlasts the minimum duration by about 40 %,
    # and still reaches it if the run goes 1.37x faster than the probe.
    s.offline_expected_qps = 1.25 * p.offline_rate
    s.server_target_qps = min(cfg.workers / (one / 1e9) / 3, 5000.0)


def reference_fields(cfg: InferConfig) -> dict[str, Any]:
    """The reference harness's options as TestSettings fields (None: not given)."""
    time_ms = int(cfg.time_s * 1000) if cfg.time_s is not None else None
    latency = int(cfg.max_latency_s * 1e9) if cfg.max_latency_s is not None else None
    return {
        "mode": cfg.test_mode, "min_duration_ms": time_ms, "max_duration_ms": time_ms,
        **({"min_duration_ms": int(cfg.duration_s * 1000)} if cfg.duration_s is not None else {}),
        "server_target_qps": cfg.qps, "offline_expected_qps": cfg.qps,
        "min_query_count": cfg.count, "max_query_count": cfg.count,
        "multi_stream_samples_per_query": cfg.samples_per_query,
        "server_target_latency_ns": latency, "multi_stream_expected_latency_ns": latency,
        "performance_sample_count_override": cfg.performance_sample_count,
    }


def build_settings(p: Prepared, scenario: TestScenario) -> SettingsBuilder:
    """The layers: mlperf.conf (built in unless --mlperf-conf), auto targets, user.conf, the reference harness's
    options, then the other LoadGen settings given."""
    cfg = p.cfg
    b = SettingsBuilder(scenario, p.workload.loadgen_model).mlperf_conf(cfg.mlperf_conf)
    if cfg.auto_targets:
        b.apply("auto targets", lambda s: _auto_targets(s, p), "the warm-up and an Offline probe")
    return (b.user_conf(cfg.user_conf).values("options", reference_fields(cfg), "the reference harness's options")
            .values("flags", cfg.settings, "LoadGen settings given"))


def scenario_dir(cfg: InferConfig, scenario: TestScenario) -> Path:
    return (cfg.output or Path("output") / f"{cfg.backend}-{cfg.device}" / cfg.model) / scenario.name


def output_dir(cfg: InferConfig, scenario: TestScenario, leaf: str | None = None) -> Path:
    """The scenario's run directory: ``<output>/<scenario>/<mode or audit>``, never one holding an earlier run (a
    default one is numbered, a given one refused unless ``overwrite``)."""
    return fresh_directory(scenario_dir(cfg, scenario) / (leaf or cfg.mode), given=cfg.output is not None,
                           overwrite=cfg.overwrite)


def make_sut(p: Prepared, s: TestSettings, scenario: TestScenario) -> InferenceSUT:
    cfg = p.cfg
    sc = scenario_policy(scenario)
    direct = sc.closed  # one query outstanding: run it on the issuing thread, no batcher
    if sc.counts_overlatency:  # a latency bound: batches may wait, never past 90 % of it
        wait = int(cfg.batch_timeout_ms * 1e6)
        budget = int(s.server_target_latency_ns * 0.9)
    else:
        wait, budget = 0, 0
    policy = BatchingPolicy(max_batch=cfg.max_batchsize, max_wait_ns=wait, budget_ns=budget)
    return InferenceSUT(p.run, direct=direct, policy=policy, workers=cfg.workers, service=p.service,
                        name=f"mlmeter-{cfg.backend}-{cfg.model}")


def _headline(r: TestResult) -> Headline | None:
    perf = r.performance
    return None if perf is None else scenario_policy(r.scenario).headline(perf.metrics,
                                                                          perf.settings.target_latency_percentile)


def summary_line(p: Prepared, r: TestResult, acc: AccuracyReport | None, validity: str) -> str:
    h = _headline(r)
    parts = [f"{p.cfg.model} {r.scenario.name} {p.cfg.mode} on {p.cfg.backend}-{p.cfg.device}:"]
    if h is not None:
        parts.append(f"{h.shown:,.3f} ms ({h.key})" if h.percentile else f"{h.shown:,.2f} {h.unit} ({h.key})")
    if r.find_peak_qps is not None:
        parts.append(f"peak target QPS {r.find_peak_qps:,.1f} within the latency bound")
    if acc is not None:
        parts += [f"{m.name} {m.value:.3f} (threshold {m.threshold:.3f}, {'PASS' if m.passed else 'FAIL'})"
                  for m in acc.metrics]
    parts.append(validity)
    return " ".join(parts)


def scenario_checks(r: TestResult, acc: AccuracyReport | None, acc_error: str | None) -> list[Check]:
    """The LoadGen's checks, then one decisive check per quality metric and for a failed evaluation."""
    accuracy = accuracy_checks([m.as_dict() for m in acc.metrics]) if acc is not None else []
    return list(r.checks) + accuracy + ([failure(acc_error, "accuracy")] if acc_error else [])


def document(p: Prepared, r: TestResult, sut: InferenceSUT, acc: AccuracyReport | None) -> dict[str, Any]:
    """The ``inference`` body of the run record (its one-line ``summary`` is added once the verdict is known)."""
    cfg = p.cfg
    perf = r.performance
    h = _headline(r)
    es = r.settings
    early = perf.check("early_stopping") if perf is not None else None
    system_id = p.host["hostname"]
    return {
        "benchmark": cfg.model,
        "loadgen_model": p.workload.loadgen_model,
        "scenario": r.scenario.name,
        "mode": cfg.mode,
        "command": cfg.command,
        "config_name": f"{system_id}_{cfg.backend}-{cfg.device}/{cfg.model}/{r.scenario.name}",
        "scenario_key": h.key if h else None,
        "scenario_value": h.value if h else None,
        "effective_min_duration_ms": es.min_duration_ms,
        "effective_min_query_count": es.min_query_count,
        "early_stopping_met": early.passed if early is not None else None,
        "accuracy": [m.as_dict() for m in acc.metrics] if acc is not None else None,
        "quality_target": {
            "metric": p.workload.target.metric,
            "reference": p.workload.target.reference,
            "fraction": p.workload.target.fraction,
            "nominal": round(p.workload.target.nominal, 5),
            "threshold": round(p.workload.target.threshold, 5),
        },
        "backend": {"name": p.backend.name, "version": p.backend.version, "device": cfg.device,
                    "settings": _jsonable(p.model.settings)},
        "model": {"path": p.model.path,
                  "inputs": [[t.name, t.dtype, list(t.shape)] for t in p.model.inputs],
                  "outputs": [[t.name, t.dtype, list(t.shape)] for t in p.model.outputs]},
        "dataset": {"name": p.dataset.name, "samples": len(p.dataset),
                    "performance_sample_count": p.qsl.performance_sample_count},
        "harness": {
            "workers": cfg.workers, "max_batchsize": cfg.max_batchsize, "batch_timeout_ms": cfg.batch_timeout_ms,
            "intra_op_threads": cfg.threads or "default", "inter_op_threads": cfg.inter_op_threads or "default",
            "preprocess_threads": p.qsl.threads, "auto_targets": cfg.auto_targets,
            "batches": sut.batches, "mean_batch_size": sut.batch_samples / sut.batches if sut.batches else None,
            "warmup_service_ns": {"fixed": p.service.fixed, "per_sample": p.service.per},
            "preprocessed": p.qsl.preprocessed, "cache_hits": p.qsl.cache_hits,
            "cache_dir": str(p.qsl.cache.dir) if p.qsl.cache else None,
        },
        "loadgen": result_body(r),
    }


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def run_scenario(p: Prepared, scenario: TestScenario, observer: events.Observer | None = None,
                 audit_run: AuditRun | None = None) -> ScenarioOutcome:
    """One LoadGen test; then the accuracy evaluation (accuracy/submission modes) and ``result.json``. With
    ``audit_run``: a compliance audit's performance run in ``<scenario>/<TEST>``, then its verification."""
    obs = events.observing(observer)
    cfg = p.cfg
    built = build_settings(p, scenario)
    settings = built.settings
    resident = settings.performance_sample_count_override or p.qsl.performance_sample_count
    p.qsl.check_memory(min(resident, p.qsl.total_sample_count))
    outdir = output_dir(cfg, scenario, audit_run.audit.name if audit_run else None)
    outdir.mkdir(parents=True, exist_ok=True)
    obs.on_stage(events.Stage(f"{scenario.name} {audit_run.audit.name if audit_run else cfg.mode} -> {outdir}"))
    audit = cfg.audit_conf or (Path("audit.config") if Path("audit.config").is_file() else None)
    if audit_run is not None:
        audit = outdir / "audit.config"
        write_text(audit, audit_config_text(audit_run.audit))
    sut: InferenceSUT | None = None

    def once(s: TestSettings, out: Path, o: events.Observer, measured: bool) -> TestResult:
        nonlocal sut
        sut = make_sut(p, s, scenario)
        try:
            return run_test(sut, p.qsl, s, LogSettings(outdir=str(out), enable_trace=cfg.trace and measured,
                                                       write_result_json=False),
                            audit_config=audit if measured else None, observer=o, layers=built.layers)
        finally:
            sut.close()

    r, interrupted = metered_test(once, settings, outdir, p.meter, obs, ranging=cfg.mode != "accuracy")
    with saving_after_interrupt(interrupted):  # a second Ctrl-C waits for result.json
        assert sut is not None
        acc: AccuracyReport | None = None
        acc_error = None
        if cfg.mode in ("accuracy", "submission") and not interrupted:
            try:
                responses, dupes = read_accuracy_log(Path(r.files["accuracy"]))
                obs.on_stage(events.Stage(f"accuracy: scoring {len(responses):,} responses"))
                acc = p.workload.evaluate(responses, p.dataset, dupes, obs)
                write_text(outdir / "accuracy.txt", acc.text)
            except WorkloadError as exc:
                acc_error = f"accuracy evaluation failed: {exc}"
        checks = scenario_checks(r, acc, acc_error)
        body = document(p, r, sut, acc)
        if audit_run is not None and not interrupted:
            v = audit_run.verify(outdir)
            for name, text in v.files.items():
                write_text(outdir / name, text)
            checks.append(audit_run.check(v))
            body["compliance"] = v.as_dict()
            body["mode"] = audit_run.audit.name
        record = new_record("inference", body, checks=checks, complete=not r.interrupted,
                            system=p.host, power=p.meter.test_section(r))
        record.body["summary"] = summary_line(p, r, acc, record.verdict.value)
        write_record(outdir / "result.json", record)
    if interrupted:
        raise RunInterrupted(r)
    return ScenarioOutcome(scenario, outdir, r, acc, record)


def run_plan(p: Prepared, observer: events.Observer | None = None) -> list[ScenarioOutcome]:
    """Every scenario of ``p.cfg`` in order: its modes (``accuracy,performance`` runs both), then its audits,
    each verified against this scenario's runs."""
    cfg = p.cfg
    outcomes = []
    try:
        for sc in cfg.scenarios:
            runs: dict[str, Path] = {}
            for mode in cfg.modes:
                p.cfg = dataclasses.replace(cfg, mode=mode)
                o = run_scenario(p, sc, observer)
                outcomes.append(o)
                runs[mode] = o.outdir
            p.cfg = dataclasses.replace(cfg, mode="performance", audit_conf=None)
            for a in audit_runs(cfg.compliance, p.workload.loadgen_model, p.workload.response_dtype, runs,
                                scenario_dir(cfg, sc), lambda rs: p.workload.evaluate(rs, p.dataset, 0).text):
                outcomes.append(run_scenario(p, sc, observer, a))
    finally:
        p.cfg = cfg
    return outcomes


def run_inference(cfg: InferConfig, observer: events.Observer | None = None) -> list[ScenarioOutcome]:
    """Prepare once, then run every scenario of ``cfg`` in order (its modes, then its audits)."""
    p = prepare(cfg, observer)
    try:
        return run_plan(p, observer)
    finally:
        p.close()


__all__ = ["Prepared", "ScenarioOutcome", "build_settings", "output_dir", "prepare", "run_inference", "run_plan",
           "run_scenario"]
