"""``run_inference``: backend + workload -> QSL and SUT -> one LoadGen test per scenario -> files.

Preparation (model load, signature check, dataset open, warm-up) happens once; the scenarios then run one
after another on the same loaded model and pre-processed samples. The harness never prints: progress goes
to an observer (``on_stage`` messages plus the LoadGen pass events).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlmeter import __version__
from mlmeter.backends import Backend, BackendError, BackendOptions, LoadedModel, create_backend
from mlmeter.inference.accuracy import read_accuracy_log
from mlmeter.inference.config import InferConfig, InferConfigError
from mlmeter.inference.download import fetch
from mlmeter.inference.qsl import PreprocessedQSL, SampleCache
from mlmeter.inference.sut import BatchingPolicy, BatchRunner, InferenceSUT, ServiceTime, measure_service
from mlmeter.loadgen import (
    LogSettings,
    PassInfo,
    RunInterrupted,
    TestMode,
    TestResult,
    TestScenario,
    TestSettings,
    run_test,
)
from mlmeter.loadgen import config as conf
from mlmeter.loadgen.result_json import result_dict
from mlmeter.power import Meter, MeteredPasses
from mlmeter.system import describe_host
from mlmeter.util.atomic import write_text
from mlmeter.util.cache import default_cache_dir
from mlmeter.util.rundir import fresh_directory
from mlmeter.workloads import AccuracyReport, Dataset, ModelSource, Workload, WorkloadError, create_workload

SCHEMA = "mlmeter.inference.result"
SCHEMA_VERSION = 1


class HarnessObserver(Protocol):
    def on_stage(self, message: str) -> None: ...

    def on_pass_start(self, info: PassInfo) -> None: ...

    def on_pass_end(self, info: PassInfo) -> None: ...


class _Silent:
    def on_stage(self, message: str) -> None:
        pass

    def on_pass_start(self, info: PassInfo) -> None:
        pass

    def on_pass_end(self, info: PassInfo) -> None:
        pass


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
    batch_ns: float = 0.0
    """Mean time of a full batch in a short timed calibration (sizes the Offline query of --auto-targets)."""
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
    document: dict[str, Any]

    @property
    def verdict(self) -> str:
        return str(self.document["result_validity"])


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


def prepare(cfg: InferConfig, observer: HarnessObserver | None = None) -> Prepared:
    """Create backend and workload, load and check the model, open the dataset, warm up."""
    obs = observer or _Silent()
    if not cfg.overwrite:
        for sc in cfg.scenarios:  # refuse a taken --output before loading anything
            output_dir(cfg, sc)
    workload = create_workload(cfg.model)
    backend = create_backend(cfg.backend)
    layout = cfg.data_format or backend.preferred_layout
    dataset = workload.open_dataset(cfg.dataset_path, cfg.count, layout)
    if cfg.count is not None and cfg.count > len(dataset):
        raise InferConfigError(f"--count {cfg.count}: the {cfg.model} dataset has {len(dataset)} samples; "
                               f"give at most {len(dataset)}")
    path = resolve_model(cfg, workload)
    extra: dict[str, Any] = dict(cfg.backend_options)
    factory = getattr(workload, "torch_module", lambda: None)()
    if cfg.backend == "pytorch" and factory is not None:
        extra.setdefault("torch_module", factory)
    options = BackendOptions(device=cfg.device, intra_op_threads=cfg.threads, inter_op_threads=cfg.inter_op_threads,
                             compile=cfg.compile, extra=extra)
    obs.on_stage(f"loading {path} on {backend.name} {backend.version} ({cfg.device})")
    model = backend.load(path, options)
    feeder = workload.bind(model)
    cache = SampleCache(cfg.cache_dir, workload.preprocessing_id, layout) if cfg.cache_dir else None
    perf = cfg.performance_sample_count or min(len(dataset), 500)
    qsl = PreprocessedQSL(dataset, perf, threads=cfg.preprocess_threads, cache=cache,
                          retain=len(cfg.scenarios) > 1)
    run = BatchRunner(qsl, backend, workload, feeder)
    warm = min(len(dataset), cfg.max_batchsize)
    obs.on_stage(f"warming up on {warm} samples")
    qsl.load_samples(list(range(warm)))
    try:
        service = measure_service(run, cfg.max_batchsize, warm)
        batch_ns = (_calibrated_batch_ns(run, warm) * cfg.max_batchsize / warm) if cfg.auto_targets else 0.0
    except (WorkloadError, BackendError):
        raise
    except Exception as exc:  # noqa: BLE001 - the runtime's own error types; reported with the cause
        raise BackendError(f"warm-up inference on {backend.name} failed: {type(exc).__name__}: {exc}") from exc
    meter = Meter(cfg.power)
    for line in meter.problems:
        obs.on_stage(f"power: {line}")
    return Prepared(cfg, workload, backend, model, dataset, qsl, run, service,
                    host=describe_host(cfg.dataset_path), meter=meter, batch_ns=batch_ns)


def _calibrated_batch_ns(run: BatchRunner, n: int, seconds: float = 0.5) -> float:
    """Mean time of one batch of ``n`` loaded samples, run back to back for about ``seconds`` (three at least)."""
    idx = np.arange(n, dtype=np.int64)
    began, batches = time.perf_counter_ns(), 0
    while batches < 3 or time.perf_counter_ns() - began < seconds * 1e9:
        run(idx)
        batches += 1
    return (time.perf_counter_ns() - began) / batches


def _auto_targets(s: TestSettings, p: Prepared) -> None:
    """Starting points from the warm-up (user.conf and flags still override): enough generated queries for
    the closed loops, an Offline query sized from the batched warm-up rate, Server at a third of the unbatched
    capacity (capped at 5000 QPS; find-peak measures the real peak)."""
    cfg, svc = p.cfg, p.service
    one = max(svc.predict(1), 1_000.0)
    full = max(svc.predict(cfg.max_batchsize), one)
    s.single_stream_expected_latency_ns = int(one / 2) or 1
    s.multi_stream_expected_latency_ns = int(max(svc.predict(s.multi_stream_samples_per_query), one) / 2) or 1
    # The Offline query is sized from a short timed calibration (the mean of back-to-back full batches, so a
    # busy machine's rate, not the warm-up's best case) plus ~40 µs of completion cost per batch; the SUT's
    # pipeline overlaps gathering and inference and outruns that loop (measured ~1.4x on digits), so aim 2x
    # over it: the query outlasts the minimum duration, by about half of it on a quiet machine.
    batch_ns = max(p.batch_ns, full)
    s.offline_expected_qps = 2.0 * cfg.workers * cfg.max_batchsize / ((batch_ns + 40_000) / 1e9)
    s.server_target_qps = min(cfg.workers / (one / 1e9) / 3, 5000.0)


def build_settings(p: Prepared, scenario: TestScenario) -> TestSettings:
    """mlperf.conf (built in unless --mlperf-conf), auto targets, user.conf, then the command-line overrides."""
    cfg, model = p.cfg, p.workload.loadgen_model
    s = conf.load_settings(model, scenario, mlperf_conf=cfg.mlperf_conf)
    if cfg.auto_targets:
        _auto_targets(s, p)
    if cfg.user_conf is not None:
        conf.apply(s, conf.read_file(cfg.user_conf), model, scenario.name, conf.ConfKind.USER)
    s.mode = cfg.test_mode
    if cfg.time_s is not None:
        s.min_duration_ms = s.max_duration_ms = int(cfg.time_s * 1000)
    if cfg.duration_s is not None:
        s.min_duration_ms = int(cfg.duration_s * 1000)
    if cfg.qps is not None:
        s.server_target_qps = s.offline_expected_qps = cfg.qps
    if cfg.count is not None:
        s.min_query_count = s.max_query_count = cfg.count
    if cfg.samples_per_query is not None:
        s.multi_stream_samples_per_query = cfg.samples_per_query
    if cfg.max_latency_s is not None:
        s.server_target_latency_ns = s.multi_stream_expected_latency_ns = int(cfg.max_latency_s * 1e9)
    if cfg.performance_sample_count is not None:
        s.performance_sample_count_override = cfg.performance_sample_count
    return s


def output_dir(cfg: InferConfig, scenario: TestScenario) -> Path:
    """The scenario's run directory: ``<output>/<scenario>/<mode>``, never one holding an earlier run (a
    default one is numbered, a given one refused unless ``overwrite``)."""
    base = cfg.output or Path("output") / f"{cfg.backend}-{cfg.device}" / cfg.model
    return fresh_directory(base / scenario.name / cfg.mode, given=cfg.output is not None, overwrite=cfg.overwrite)


def make_sut(p: Prepared, s: TestSettings, scenario: TestScenario) -> InferenceSUT:
    cfg = p.cfg
    direct = scenario in (TestScenario.SingleStream, TestScenario.MultiStream)
    if scenario == TestScenario.Server:
        wait = int(cfg.batch_timeout_ms * 1e6)
        budget = int(s.server_target_latency_ns * 0.9)
    else:
        wait, budget = 0, 0
    policy = BatchingPolicy(max_batch=cfg.max_batchsize, max_wait_ns=wait, budget_ns=budget)
    return InferenceSUT(p.run, direct=direct, policy=policy, workers=cfg.workers, service=p.service,
                        name=f"mlmeter-{cfg.backend}-{cfg.model}")


_SCENARIO_KEYS: dict[TestScenario, Callable[[Any], tuple[str, float]]] = {
    TestScenario.SingleStream: lambda r: (
        f"result_{r.settings.target_latency_percentile * 100:.2f}_percentile_latency_ns",
        float(r.metrics["percentile_latency_ns"])),
    TestScenario.MultiStream: lambda r: (
        f"result_{r.settings.target_latency_percentile * 100:.2f}_percentile_per_query_latency_ns",
        float(r.metrics["percentile_latency_ns"])),
    TestScenario.Server: lambda r: ("result_scheduled_samples_per_sec", float(r.metrics["scheduled_samples_per_sec"])),
    TestScenario.Offline: lambda r: ("result_samples_per_second", float(r.metrics["samples_per_second"])),
}


def summary_line(p: Prepared, r: TestResult, key: str | None, value: float | None,
                 acc: AccuracyReport | None, validity: str) -> str:
    parts = [f"{p.cfg.model} {r.scenario.name} {p.cfg.mode} on {p.cfg.backend}-{p.cfg.device}:"]
    if key is not None and value is not None:
        parts.append(f"{value / 1e6:,.3f} ms ({key})" if key.endswith("_ns") else f"{value:,.2f} samples/s ({key})")
    if r.find_peak_qps is not None:
        parts.append(f"peak target QPS {r.find_peak_qps:,.1f} within the latency bound")
    if acc is not None:
        parts += [f"{m.name} {m.value:.3f} (threshold {m.threshold:.3f}, {'PASS' if m.passed else 'FAIL'})"
                  for m in acc.metrics]
    parts.append(validity)
    return " ".join(parts)


def document(p: Prepared, r: TestResult, sut: InferenceSUT, acc: AccuracyReport | None,
             acc_error: str | None) -> dict[str, Any]:
    cfg = p.cfg
    perf = r.performance
    key, value = _SCENARIO_KEYS[r.scenario](perf) if perf is not None else (None, None)
    reasons = list(r.reasons)
    if acc_error:
        reasons.append(acc_error)
    if r.valid is None:  # accuracy-only: judged by the quality target
        ok = acc is not None and all(m.passed for m in acc.metrics) and not r.errors and not acc_error
        validity = "VALID" if ok else "INVALID"
        if acc is not None and not ok:
            reasons += [f"{m.name} {m.value:.3f} is below the target {m.threshold:.3f}" for m in acc.metrics if not m.passed]
    else:
        ok = bool(r.valid) and not acc_error and (acc is None or all(m.passed for m in acc.metrics))
        validity = "VALID" if ok else "INVALID"
    es = r.settings
    early = perf.check("early_stopping") if perf is not None else None
    system_id = p.host["hostname"]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlmeter", "version": __version__},
        "benchmark": cfg.model,
        "scenario": r.scenario.name,
        "mode": cfg.mode,
        "config_name": f"{system_id}_{cfg.backend}-{cfg.device}/{cfg.model}/{r.scenario.name}",
        "system": p.host,
        "complete": not r.interrupted,
        "result_validity": validity,
        "reasons": reasons,
        "scenario_key": key,
        "scenario_value": value,
        "summary": summary_line(p, r, key, value, acc, validity),
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
        "loadgen": result_dict(r),
    }


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def _ranging_pass(p: Prepared, settings: TestSettings, scenario: TestScenario, outdir: Path,
                  obs: MeteredPasses) -> None:
    """The power analyzer's ranging pass: the same performance test once, its figures kept apart and not
    reported (a submission run's accuracy pass is not repeated)."""
    obs.on_stage(f"{scenario.name}: ranging pass for the power analyzer -> {outdir}")
    p.meter.mode = "ranging"
    ranging = replace(settings, mode=TestMode.PerformanceOnly) \
        if settings.mode == TestMode.SubmissionRun else settings
    sut = make_sut(p, ranging, scenario)
    try:
        run_test(sut, p.qsl, ranging, LogSettings(outdir=str(outdir), write_result_json=False), observer=obs)
    finally:
        sut.close()
        p.meter.mode = "testing"


def run_scenario(p: Prepared, scenario: TestScenario, observer: HarnessObserver | None = None) -> ScenarioOutcome:
    """One LoadGen test; then the accuracy evaluation (accuracy/submission modes) and ``result.json``."""
    p.meter.trace = None
    obs = MeteredPasses(observer or _Silent(), p.meter)
    cfg = p.cfg
    settings = build_settings(p, scenario)
    resident = settings.performance_sample_count_override or p.qsl.performance_sample_count
    p.qsl.check_memory(min(resident, p.qsl.total_sample_count))
    outdir = output_dir(cfg, scenario)
    outdir.mkdir(parents=True, exist_ok=True)
    if p.meter.two_pass and cfg.mode != "accuracy":
        _ranging_pass(p, settings, scenario, outdir / "ranging", obs)
    sut = make_sut(p, settings, scenario)
    obs.on_stage(f"{scenario.name} {cfg.mode} -> {outdir}")
    interrupted: RunInterrupted | None = None
    try:
        audit = cfg.audit_conf or (Path("audit.config") if Path("audit.config").is_file() else None)
        r = run_test(sut, p.qsl, settings, LogSettings(outdir=str(outdir), enable_trace=cfg.trace,
                                                        write_result_json=False),
                     audit_config=audit, observer=obs)
    except RunInterrupted as exc:
        interrupted, r = exc, exc.result
    finally:
        sut.close()
    acc: AccuracyReport | None = None
    acc_error = None
    if cfg.mode in ("accuracy", "submission") and interrupted is None:
        try:
            responses, dupes = read_accuracy_log(Path(r.files["accuracy"]))
            acc = p.workload.evaluate(responses, p.dataset, dupes)
            write_text(outdir / "accuracy.txt", acc.text)
        except WorkloadError as exc:
            acc_error = f"accuracy evaluation failed: {exc}"
    doc = document(p, r, sut, acc, acc_error)
    doc["power"] = p.meter.test_section(r)
    write_text(outdir / "result.json", json.dumps(doc, indent=2) + "\n")
    if interrupted is not None:
        raise interrupted
    return ScenarioOutcome(scenario, outdir, r, acc, doc)


def run_inference(cfg: InferConfig, observer: HarnessObserver | None = None) -> list[ScenarioOutcome]:
    """Prepare once, then run every scenario of ``cfg`` in order."""
    p = prepare(cfg, observer)
    try:
        return [run_scenario(p, sc, observer) for sc in cfg.scenarios]
    finally:
        p.close()


__all__ = ["Prepared", "ScenarioOutcome", "build_settings", "output_dir", "prepare", "run_inference", "run_scenario"]
