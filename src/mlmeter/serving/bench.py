"""One serving run: check the endpoints, build the settings, run the LoadGen against the endpoint SUT, and
write the run record (kind ``serving``) with the client's own figures beside the LoadGen's."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter import events
from mlmeter.inference.accuracy import read_accuracy_log
from mlmeter.inference.compliance import AuditRun, test06_run
from mlmeter.loadgen import (
    LogSettings,
    RunInterrupted,
    TestMode,
    TestResult,
    TestScenario,
    run_test,
    saving_after_interrupt,
)
from mlmeter.loadgen.builder import SettingsBuilder
from mlmeter.loadgen.config import conf_model, known_models
from mlmeter.loadgen.result_json import result_body
from mlmeter.results.kinds.inference import accuracy_checks
from mlmeter.results.record import RunRecord, new_record, write_record
from mlmeter.serving import ServingError, require
from mlmeter.serving.concurrency import ConcurrencyRun
from mlmeter.serving.endpoint import EndpointSUT, Exchange
from mlmeter.serving.llm_accuracy import Target, score, target_for
from mlmeter.serving.openai import RequestSpec, auth_headers, is_grpc
from mlmeter.serving.prompts import PromptQSL, PromptSet, load_prompts
from mlmeter.serving.server_info import describe, fetch
from mlmeter.submission.audits import audit_config_text, checker_model
from mlmeter.system import describe_host
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import fresh_directory
from mlmeter.workloads.base import WorkloadError

MODES = {"performance": TestMode.PerformanceOnly, "accuracy": TestMode.AccuracyOnly,
         "submission": TestMode.SubmissionRun}
"""The LoadGen modes; ``find-peak`` is the validity-aware search of :mod:`mlmeter.serving.peak`."""
DEFAULTS = {"min_duration_ms": 10_000, "min_query_count": 64, "server_target_qps": 1.0,
            "offline_expected_qps": 10.0, "ttft_latency": 2_000_000_000, "tpot_latency": 200_000_000}
"""Without --mlperf-model: a 10 s minimum, and llama2-70b's Server bounds (TTFT 2 s, TPOT 200 ms)."""


@dataclass(frozen=True)
class ServeConfig:
    endpoints: tuple[str, ...]
    model: str
    scenario: TestScenario = TestScenario.Server
    mode: str = "performance"
    api: str = "completions"
    max_tokens: int = 64
    stream: bool = True
    ignore_eos: bool = False
    mlperf_model: str | None = None
    """Apply this MLPerf model's mlperf.conf values (llama2-70b, llama3_1-8b…) instead of the defaults."""
    settings: dict[str, Any] = field(default_factory=dict)
    prompts: Path | None = None
    count: int | None = None
    output: Path | None = None
    overwrite: bool = False
    timeout_s: float = 600.0
    api_key_env: str = "OPENAI_API_KEY"
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Fields merged into every request body (server-specific sampling settings)."""
    tokenizer: Path | None = None
    """A ``tokenizer.json`` (or a directory holding one) to count output tokens when the server reports none."""
    client_workers: int = 1
    """Client processes (> 1 when one event loop cannot keep up with the rate)."""
    max_connections: int = 0
    """Connections per endpoint and client process (0: what the open-file limit allows)."""
    concurrency: int = 0
    """> 0: N closed-loop streams for the minimum duration instead of a LoadGen scenario (not MLPerf)."""
    token_ids: bool = False
    """Ask the server for the output token IDs and log them (int32), as MLPerf's LLM accuracy logs hold them."""
    compliance: tuple[str, ...] = ()
    """Audits run after the run, each in ``<output>/<TEST>`` (TEST06, which implies ``token_ids``)."""
    eos_token_id: int | None = None
    """The EOS token TEST06 looks for at the replies' ends (None: ``--tokenizer``'s, else 2, the official
    script's default)."""

    @property
    def modes(self) -> tuple[str, ...]:
        """``mode`` as a list: ``accuracy,performance`` runs both, one after the other, on one client."""
        return tuple(m.strip() for m in self.mode.split(",") if m.strip())

    @property
    def wants_token_ids(self) -> bool:
        return self.token_ids or "TEST06" in self.compliance


@dataclass(frozen=True)
class ServeOutcome:
    record: RunRecord
    outdir: Path
    result: TestResult | None
    """The LoadGen's result (None for a concurrency run)."""
    audits: tuple[ServeOutcome, ...] = ()
    """The compliance audit runs that followed it."""


SERVE_AUDITS = ("TEST06",)
"""The audits of an LLM run; TEST01 and TEST04 are ``mlmeter infer``'s."""


def check_config(cfg: ServeConfig) -> None:
    """What the options cannot do together, refused before anything runs."""
    modes = cfg.modes
    if not modes or len(set(modes)) != len(modes) or any(m not in (*MODES, "find-peak") for m in modes):
        raise ServingError(f"--mode {cfg.mode!r}: give one or more of {', '.join(MODES)}, each once (e.g. "
                           "accuracy,performance), or find-peak alone")
    if len(modes) > 1 and ("find-peak" in modes or cfg.concurrency):
        raise ServingError(f"--mode {cfg.mode}: several modes run one LoadGen test each, not with find-peak or "
                           "--concurrency")
    unknown = [t for t in cfg.compliance if t not in SERVE_AUDITS]
    if unknown:
        raise ServingError(f"--compliance {','.join(unknown)}: mlmeter serve runs {', '.join(SERVE_AUDITS)} (TEST01 "
                           "and TEST04 audit mlmeter infer runs)")
    if cfg.wants_token_ids and cfg.api == "generate":
        raise ServingError("--token-ids and TEST06 need token IDs from the server, which Triton's generate extension "
                           "does not send: use --api completions or chat (vLLM) or llamacpp (llama.cpp)")
    grpc = [is_grpc(e) for e in cfg.endpoints]
    if any(grpc) and cfg.api != "generate":
        raise ServingError("--endpoint grpc://HOST:PORT is Triton's gRPC stream, for --api generate")
    if any(grpc) and not all(grpc):
        raise ServingError("--endpoint: give every endpoint as grpc:// or none (one protocol per run)")
    nested = [k for k, v in cfg.extra_body.items() if isinstance(v, list | dict)]
    if any(grpc) and nested:
        raise ServingError(f"--extra-body {nested[0]!r}: over gRPC extra fields are Triton request parameters, "
                           "which are scalars (int, bool, string)")
    if any(grpc) and cfg.client_workers > 1:
        raise ServingError("--client-workers: the gRPC client runs in one process (drop --client-workers)")
    if cfg.api == "generate" and not cfg.stream and cfg.tokenizer is None:
        raise ServingError("--api generate --no-stream: Triton's whole replies carry no token count, and the LoadGen "
                           "needs one per sample: give --tokenizer (a tokenizer.json) to count them, or stream")
    if cfg.mlperf_model and conf_model(cfg.mlperf_model) not in known_models():
        raise ServingError(f"--mlperf-model {cfg.mlperf_model}: not a model of the built-in mlperf.conf; known: "
                           f"{', '.join(known_models())} (an accuracy variant such as llama2-70b-99.9 also works)")
    if cfg.compliance and (cfg.concurrency or cfg.mode == "find-peak"):
        raise ServingError("--compliance audits one LoadGen run: not with --concurrency or --mode find-peak")


def _check_v2(url: str, cfg: ServeConfig) -> None:
    """A KServe v2 server that is ready and has ``cfg.model`` ready (the backend's readiness check)."""
    from mlmeter.backends.kserve import BackendError, V2Client, check_ready

    try:
        c = V2Client(url, 10.0, cfg.api_key_env)
    except BackendError as exc:
        raise ServingError(f"--endpoint {exc}") from exc
    try:
        check_ready(c, f"/v2/models/{cfg.model}", cfg.model)
    except BackendError as exc:
        raise ServingError(f"{url}: {exc}; check --endpoint and --model (and ${cfg.api_key_env})") from exc
    finally:
        c.close()


def check_endpoints(cfg: ServeConfig) -> list[dict[str, Any]]:
    """Every endpoint answers ``/v1/models`` and serves ``cfg.model`` (else the served models are named); for
    ``--api generate``, the KServe v2 readiness of the server and the model (over gRPC for ``grpc://``). What
    each endpoint tells about its server and model (:func:`mlmeter.serving.server_info.describe`)."""
    headers = auth_headers(cfg.api_key_env)
    servers = []
    for url in cfg.endpoints:
        if cfg.api == "generate" and is_grpc(url):
            from mlmeter.serving.triton_grpc import describe_grpc

            servers.append(describe_grpc(url, cfg.model, cfg.api_key_env))
            continue
        if cfg.api == "generate":
            _check_v2(url.rstrip("/"), cfg)
            servers.append(describe(url, headers, None, None))
            continue
        try:
            data, reply_headers = fetch(url.rstrip("/") + "/v1/models", headers, timeout_s=10)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise ServingError(f"{url}: HTTP {exc.code}: the API key is missing or wrong (set "
                                   f"${cfg.api_key_env})") from exc
            raise ServingError(f"{url}/v1/models: HTTP {exc.code}; is this an OpenAI-compatible server?") from exc
        except (OSError, ValueError) as exc:
            raise ServingError(f"{url}: cannot reach an OpenAI-compatible server ({exc}); check --endpoint") from exc
        entries = [m for m in data.get("data") or [] if isinstance(m, dict)] if isinstance(data, dict) else []
        served = [m.get("id") for m in entries]
        if cfg.model not in served:
            raise ServingError(f"{url} does not serve model {cfg.model!r}; it serves: {', '.join(map(str, served)) or 'none'}")
        servers.append(describe(url, headers, entries[served.index(cfg.model)], reply_headers.get("server")))
    return servers


def token_counter(path: Path | None) -> Callable[[str], int] | None:
    """Output tokens of a reply by a local Hugging Face ``tokenizers`` file (no special tokens added)."""
    if path is None:
        return None
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ServingError("--tokenizer needs the tokenizers package: pip install tokenizers") from exc
    file = path / "tokenizer.json" if path.is_dir() else path
    try:
        tok = Tokenizer.from_file(str(file))
    except Exception as exc:  # noqa: BLE001 -- the library raises a bare Exception for a bad file
        raise ServingError(f"--tokenizer {file}: not a readable tokenizer.json ({exc})") from exc
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def tokenizer_eos(path: Path | None) -> int | None:
    """The EOS token's ID of a Hugging Face tokenizer directory (``tokenizer_config.json``'s ``eos_token``), if
    it names one the tokenizer knows."""
    folder = path if path is None or path.is_dir() else path.parent
    if folder is None or not (folder / "tokenizer_config.json").is_file():
        return None
    try:
        from tokenizers import Tokenizer

        eos = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("eos_token")
        eos = eos.get("content") if isinstance(eos, dict) else eos
        return Tokenizer.from_file(str(folder / "tokenizer.json")).token_to_id(eos) if isinstance(eos, str) else None
    except Exception:  # noqa: BLE001 -- an unreadable file leaves the official default
        return None


def build_settings(cfg: ServeConfig) -> SettingsBuilder:
    b = SettingsBuilder(cfg.scenario, conf_model(cfg.mlperf_model) if cfg.mlperf_model else "*")
    if cfg.mlperf_model:
        b.mlperf_conf()
    else:
        b.values("defaults", DEFAULTS, "mlmeter serve")
    return b.values("flags", {"mode": MODES[cfg.mode], "use_token_latencies": True, **cfg.settings}, "command line")


def run_serve(cfg: ServeConfig, observer: events.Observer | None = None) -> ServeOutcome:
    """Benchmark the endpoints in one mode: one LoadGen test (then its audits), or a concurrency run; write the run
    record."""
    check_config(cfg)
    if len(cfg.modes) > 1:
        raise ServingError(f"--mode {cfg.mode}: several modes run one after another in one run (run_modes), not in a "
                           "sweep over --rates or --concurrency levels")
    settings = build_settings(cfg)
    what = f"concurrency-{cfg.concurrency}" if cfg.concurrency else cfg.scenario.name
    obs = events.observing(observer)
    with _client(cfg, obs) as (prompts, target, sut):
        outdir = fresh_directory(cfg.output or Path("mlmeter-serve") / f"{cfg.model}-{what}",
                                 given=cfg.output is not None, overwrite=cfg.overwrite)
        obs.on_stage(events.Stage(f"{what} {'' if cfg.concurrency else cfg.mode} -> {outdir}"))
        if cfg.concurrency:
            return _concurrency(cfg, sut, len(prompts.prompts), settings, outdir, obs)
        main = _loadgen(cfg, sut, prompts, target, settings, outdir, obs)
        return replace(main, audits=tuple(_audit(cfg, sut, prompts, name, outdir, obs) for name in cfg.compliance))


def run_modes(cfg: ServeConfig, observer: events.Observer | None = None) -> list[ServeOutcome]:
    """Every mode of ``cfg.modes`` in order on one client, each in ``<output>/<mode>`` when there are several, then
    the audits (``<output>/<TEST>``), as ``mlmeter infer`` lays them out; every run written, in that order."""
    if len(cfg.modes) == 1:
        o = run_serve(cfg, observer)
        return [o, *o.audits]
    check_config(cfg)
    runs = [replace(cfg, mode=m) for m in cfg.modes]
    built = [build_settings(r) for r in runs]  # a bad setting is refused before the endpoints are asked
    obs = events.observing(observer)
    with _client(cfg, obs) as (prompts, target, sut):
        base = fresh_directory(cfg.output or Path("mlmeter-serve") / f"{cfg.model}-{cfg.scenario.name}",
                               given=cfg.output is not None, overwrite=cfg.overwrite)
        out = []
        for run, settings in zip(runs, built, strict=True):
            outdir = base / run.mode
            outdir.mkdir(parents=True)
            obs.on_stage(events.Stage(f"{cfg.scenario.name} {run.mode} -> {outdir}"))
            sut.reset()
            out.append(_loadgen(run, sut, prompts, target, settings, outdir, obs))
        return out + [_audit(cfg, sut, prompts, name, base, obs) for name in cfg.compliance]


@contextmanager
def _client(cfg: ServeConfig, obs: events.Observer) -> Iterator[tuple[PromptSet, Target | None, EndpointSUT]]:
    """The prompts, their accuracy target and the endpoint SUT, once every endpoint has been checked (before
    anything is created on disk); the client is closed at the end."""
    require("httptools")
    prompts = load_prompts(cfg.prompts, cfg.count)
    if cfg.api == "generate" and len(prompts.stop) > 1:
        raise ServingError(f"--api generate: Triton's request parameters hold one stop string, and these prompts "
                           f"stop at {len(prompts.stop)}: use --api completions or chat")
    target = target_for(cfg.mlperf_model, prompts.source) if prompts.references is not None else None
    counter = token_counter(cfg.tokenizer)
    obs.on_stage(events.Stage(f"checking {', '.join(cfg.endpoints)} for model {cfg.model}"))
    servers = check_endpoints(cfg)
    spec = RequestSpec(cfg.model, cfg.api, cfg.max_tokens, stream=cfg.stream, ignore_eos=cfg.ignore_eos,
                       stop=prompts.stop, extra=dict(cfg.extra_body), token_ids=cfg.wants_token_ids)
    sut = EndpointSUT(cfg.endpoints, spec, prompts.prompts, timeout_s=cfg.timeout_s, api_key_env=cfg.api_key_env,
                      count_tokens=counter, workers=cfg.client_workers, max_connections=cfg.max_connections)
    sut.servers = servers
    try:
        yield prompts, target, sut
    finally:
        sut.close()


def _audit(cfg: ServeConfig, sut: EndpointSUT, prompts: PromptSet, name: str, outdir: Path,
           obs: events.Observer) -> ServeOutcome:
    """A compliance audit's performance run in ``<outdir>/<name>`` (its ``audit.config`` written there and passed
    to the LoadGen), then its verification."""
    eos = cfg.eos_token_id if cfg.eos_token_id is not None else tokenizer_eos(cfg.tokenizer)
    run = test06_run(checker_model(cfg.mlperf_model or cfg.model), cfg.scenario.name, 2 if eos is None else eos)
    adir = outdir / name
    adir.mkdir()
    write_text(adir / "audit.config", audit_config_text(run.audit))
    sut.reset()
    obs.on_stage(events.Stage(f"{cfg.scenario.name} {name} -> {adir}"))
    perf = replace(cfg, mode="performance")
    return _loadgen(perf, sut, prompts, None, build_settings(perf), adir, obs, run)


def _loadgen(cfg: ServeConfig, sut: EndpointSUT, prompts: PromptSet, target: Target | None, built: SettingsBuilder,
             outdir: Path, obs: events.Observer, audit: AuditRun | None = None) -> ServeOutcome:
    interrupted = False
    try:
        r = run_test(sut, PromptQSL(prompts.prompts), built.settings, LogSettings(outdir=str(outdir), write_result_json=False),
                     audit_config=outdir / "audit.config" if audit else None, observer=obs, layers=built.layers)
    except RunInterrupted as exc:
        r, interrupted = exc.result, True
    with saving_after_interrupt(interrupted):  # a second Ctrl-C waits for result.json
        es = r.settings
        body = {**result_body(r), "mlperf_model": cfg.mlperf_model,
                "serving": client_figures(cfg, sut, es.ttft_latency, es.tpot_latency)}
        checks = list(r.checks)
        if cfg.mode in ("accuracy", "submission") and not interrupted and r.files.get("accuracy"):
            obs.on_stage(events.Stage("accuracy: scoring the replies (ROUGE)"))
            acc = score_replies(Path(r.files["accuracy"]), prompts, sut, target)
            body.update(llm_accuracy=acc, accuracy=acc["accuracy"])
            checks += accuracy_checks(acc["accuracy"])
            if "scores" in acc:
                write_text(outdir / "accuracy.txt", accuracy_text(acc))
        if audit is not None and not interrupted:
            v = audit.verify(outdir)
            for file, text in v.files.items():
                write_text(outdir / file, text)
            if not audit.audit.judges_performance:  # what the server did wrong still counts
                checks = [c for c in checks if c.decisive]
            checks.append(audit.check(v))
            body.update(compliance=v.as_dict(), mode=audit.audit.name)
        record = _write(outdir, body, checks, not r.interrupted, obs)
    if interrupted:
        raise RunInterrupted(r)
    return ServeOutcome(record, outdir, r)


def _concurrency(cfg: ServeConfig, sut: EndpointSUT, prompts: int, built: SettingsBuilder, outdir: Path,
                 obs: events.Observer) -> ServeOutcome:
    s = built.settings
    run = ConcurrencyRun(sut, cfg.concurrency, s.min_duration_ms / 1000, prompts)
    run.run()
    body = {**run.body(s.ttft_latency, s.tpot_latency),
            "serving": client_figures(cfg, sut, s.ttft_latency, s.tpot_latency)}
    return ServeOutcome(_write(outdir, body, run.checks(s.ttft_latency, s.tpot_latency), True, obs), outdir, None)


def _write(outdir: Path, body: dict[str, Any], checks: Any, complete: bool, obs: events.Observer) -> RunRecord:
    record = new_record("serving", body, checks=checks, complete=complete, system=describe_host())
    write_record(outdir / "result.json", record)
    obs.on_run_written(events.RunWritten(outdir, "serving", record.verdict.value))
    return record


def accuracy_text(acc: dict[str, Any]) -> str:
    """``accuracy.txt`` as MLPerf's LLM evaluation scripts print it (the lines the submission checker reads)."""
    result: dict[str, Any] = {k: f"{v}" for k, v in acc["scores"].items()}
    result.update(gen_len=int(acc["gen_len"]), gen_num=acc["gen_num"],
                  gen_tok_len=int(round(acc["tokens_per_sample"] * acc["gen_num"])),
                  tokens_per_sample=acc["tokens_per_sample"])
    return f"\nResults\n\n{result}\n"


def score_replies(log: Path, prompts: PromptSet, sut: EndpointSUT, target: Target | None) -> dict[str, Any]:
    """Score the replies the accuracy log holds (first reply per prompt) against the set's references; when it
    holds token IDs, the text of the same replies, which the SUT kept."""
    if prompts.references is None:
        return {"accuracy": [], "note": f"{prompts.source} has no references: nothing to score (give a dataset "
                                        "with an output column, or the embedded set)"}
    try:
        replies, _ = read_accuracy_log(log)
    except WorkloadError as exc:
        raise ServingError(str(exc)) from exc
    tokens = {e.sample: e.tokens for e in sut.exchanges if e.error is None}
    order = sorted(replies)
    if sut.spec.token_ids:
        texts = [sut.texts.get(i, "") for i in order]
    else:
        texts = [replies[i].decode("utf-8", "replace") for i in order]
    return score(texts, [prompts.references[i] for i in order], [tokens.get(i, 0) for i in order], target)


def sweep_concurrency(cfg: ServeConfig, levels: list[int], observer: events.Observer | None = None) -> list[ServeOutcome]:
    """One concurrency run per level (``<output>/concurrency-<n>``), in order."""
    base = cfg.output or Path("mlmeter-serve") / f"{cfg.model}-concurrency"
    return [run_serve(replace(cfg, concurrency=n, output=base / f"concurrency-{n}"), observer) for n in levels]


def sweep_rates(cfg: ServeConfig, rates: list[float], observer: events.Observer | None = None) -> list[ServeOutcome]:
    """One Server run per target QPS (``<output>/qps-<rate>``), in order: MLPerf's rules at each rate."""
    base = cfg.output or Path("mlmeter-serve") / f"{cfg.model}-rates"
    return [run_serve(replace(cfg, scenario=TestScenario.Server, concurrency=0, output=base / f"qps-{q:g}",
                              settings={**cfg.settings, "server_target_qps": q}), observer) for q in rates]


def level_of(o: ServeOutcome) -> float:
    """What a sweep varied in this run: its streams (concurrency) or its target QPS (rates)."""
    c = o.record.body.get("concurrency")
    return float(c["streams"]) if c else float(o.record.body["settings"]["effective"]["target_qps"])


def highest_passing(outcomes: list[ServeOutcome]) -> float | None:
    """The highest level of a sweep whose run is VALID (None when none is)."""
    ok = [level_of(o) for o in outcomes if o.record.verdict.value == "VALID"]
    return max(ok) if ok else None


def _pcts(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean())}


LIMITED_LAG_MS, LIMITED_SHARE = 5.0, 0.05
"""A send lag p99 above 5 ms and above 5 % of the median request latency: the client, not the server, may have
limited the run (an Offline query handing thousands of requests over at once lags by milliseconds, harmlessly)."""


def client_overhead(sut: EndpointSUT, lag: dict[str, float] | None) -> dict[str, Any]:
    """The client's own cost: its event loop and processes, CPU per request, and whether it kept up."""
    n, cpu = len(sut.exchanges), sut.client_cpu_s()
    done = [(e.done_ns - e.scheduled_ns) / 1e6 for e in sut.exchanges if e.error is None]
    bound = max(LIMITED_LAG_MS, LIMITED_SHARE * float(np.median(done))) if done else LIMITED_LAG_MS
    limited = bool(lag and lag["p99"] > bound)
    return {"event_loop": sut.event_loop, "workers": sut.workers, "cpu_s": round(cpu, 3),
            "cpu_ms_per_request": round(cpu * 1000 / n, 3) if n else None, "limited": limited,
            "warning": (f"the client may have limited the run: its send lag p99 is {lag['p99']:.1f} ms (over "
                        f"{bound:.1f} ms); give it more processes with --client-workers"
                        if limited and lag else None)}


def timeline(done: list[Exchange], buckets: int = 60) -> dict[str, Any] | None:
    """Completed requests and output tokens per second over the run, in about ``buckets`` equal steps."""
    if not done:
        return None
    t0 = min(e.scheduled_ns for e in done)
    span = max(e.done_ns for e in done) - t0
    step = max(span / buckets, 1e8)  # at least 0.1 s
    n = int(span // step) + 1
    reqs, toks = np.zeros(n), np.zeros(n)
    for e in done:
        k = int((e.done_ns - t0) // step)
        reqs[k] += 1
        toks[k] += e.tokens
    rate = 1e9 / step
    return {"bucket_s": step / 1e9, "t_s": [round((k + 1) * step / 1e9, 3) for k in range(n)],
            "requests_per_s": (reqs * rate).round(3).tolist(), "tokens_per_s": (toks * rate).round(3).tolist()}


def client_figures(cfg: ServeConfig, sut: EndpointSUT, ttft_ns: int, tpot_ns: int) -> dict[str, Any]:
    """What the client measured: its send lag, inter-token gaps, goodput, failures, per endpoint, its own cost."""
    exchanges = sut.exchanges
    lag = _pcts([(e.sent_ns - e.scheduled_ns) / 1e6 for e in exchanges])
    ok = [e for e in exchanges if e.error is None]
    good = [e for e in ok if e.first_ns and (e.first_ns - e.scheduled_ns) <= ttft_ns and
            (e.tokens < 2 or (e.done_ns - e.first_ns) / (e.tokens - 1) <= tpot_ns)]
    span_s = ((max(e.done_ns for e in exchanges) - min(e.scheduled_ns for e in exchanges)) / 1e9) if exchanges else 0.0
    sources = sorted({e.token_source for e in ok})
    return {
        "endpoints": list(cfg.endpoints), "model": cfg.model, "servers": sut.servers, "api": cfg.api, "stream": cfg.stream,
        "max_tokens": cfg.max_tokens, "ignore_eos": cfg.ignore_eos, "requests": len(exchanges),
        "failed_requests": len(exchanges) - len(ok),
        "failures": sorted({e.error for e in exchanges if e.error})[:10],
        "resent_requests": sum(e.resent for e in exchanges),
        "max_connections": sut.max_connections,
        "queued_requests": sum(e.queued for e in exchanges),
        "queued_note": "requests that waited for a connection behind max_connections (per endpoint and client "
                       "process); their send lag counts to when they went out",
        "resent_note": "requests sent again on a new connection because the server had closed the kept-alive one "
                       "before answering (their latency counts from the first schedule)",
        "output_tokens_from": sources[0] if len(sources) == 1 else (sources or "none (no reply completed)"),
        "send_lag_ms": lag, "issue_lag_ms": _pcts([(e.issued_ns - e.scheduled_ns) / 1e6 for e in exchanges]),
        "client": client_overhead(sut, lag), "timeline": timeline(ok),
        "inter_token_latency_ms": _pcts([g / 1e6 for e in ok for g in e.chunk_gaps_ns]),
        "goodput": {"requests_per_second": len(good) / span_s if span_s else None,
                    "tokens_per_second": sum(e.tokens for e in good) / span_s if span_s else None,
                    "share": len(good) / len(exchanges) if exchanges else None,
                    "bounds_ns": {"ttft": ttft_ns, "tpot": tpot_ns},
                    "note": "requests whose TTFT and TPOT (client-measured, from the LoadGen's issue) met the bounds"},
        "per_endpoint": [{"endpoint": url, "requests": sum(1 for e in exchanges if e.endpoint == k),
                          "failed": sum(1 for e in exchanges if e.endpoint == k and e.error),
                          "output_tokens": sum(e.tokens for e in ok if e.endpoint == k)}
                         for k, url in enumerate(cfg.endpoints)],
    }
