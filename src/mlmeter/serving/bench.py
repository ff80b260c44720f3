"""One serving run: check the endpoints, build the settings, run the LoadGen against the endpoint SUT, and
write the run record (kind ``serving``) with the client's own figures beside the LoadGen's."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter import events
from mlmeter.loadgen import LogSettings, RunInterrupted, TestMode, TestResult, TestScenario, run_test
from mlmeter.loadgen.builder import SettingsBuilder
from mlmeter.loadgen.result_json import result_body
from mlmeter.results.record import RunRecord, new_record, write_record
from mlmeter.serving import ServingError, require_aiohttp
from mlmeter.serving.endpoint import EndpointSUT, Exchange
from mlmeter.serving.openai import RequestSpec
from mlmeter.serving.prompts import PromptQSL, load_prompts
from mlmeter.system import describe_host
from mlmeter.util.rundir import fresh_directory

MODES = {"performance": TestMode.PerformanceOnly, "accuracy": TestMode.AccuracyOnly,
         "submission": TestMode.SubmissionRun, "find-peak": TestMode.FindPeakPerformance}
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


def check_endpoints(cfg: ServeConfig) -> None:
    """Every endpoint answers ``/v1/models`` and serves ``cfg.model`` (else the served models are named)."""
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    for url in cfg.endpoints:
        try:
            req = urllib.request.Request(url.rstrip("/") + "/v1/models", headers=headers)
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- the user's endpoint
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise ServingError(f"{url}: HTTP {exc.code}: the API key is missing or wrong (set "
                                   f"${cfg.api_key_env})") from exc
            raise ServingError(f"{url}/v1/models: HTTP {exc.code}; is this an OpenAI-compatible server?") from exc
        except (OSError, ValueError) as exc:
            raise ServingError(f"{url}: cannot reach an OpenAI-compatible server ({exc}); check --endpoint") from exc
        served = [m.get("id") for m in data.get("data") or [] if isinstance(m, dict)]
        if cfg.model not in served:
            raise ServingError(f"{url} does not serve model {cfg.model!r}; it serves: {', '.join(map(str, served)) or 'none'}")


def build_settings(cfg: ServeConfig) -> SettingsBuilder:
    b = SettingsBuilder(cfg.scenario, cfg.mlperf_model or "*")
    if cfg.mlperf_model:
        b.mlperf_conf()
    else:
        b.values("defaults", DEFAULTS, "mlmeter serve")
    return b.values("flags", {"mode": MODES[cfg.mode], "use_token_latencies": True, **cfg.settings}, "command line")


def run_serve(cfg: ServeConfig, observer: events.Observer | None = None) -> tuple[TestResult, RunRecord, Path]:
    """Benchmark the endpoints; returns the LoadGen result, the run record and the run directory."""
    require_aiohttp()
    obs = events.observing(observer)
    prompts = load_prompts(cfg.prompts, cfg.count)
    built = build_settings(cfg)
    outdir = fresh_directory(cfg.output or Path("mlmeter-serve") / f"{cfg.model}-{cfg.scenario.name}",
                             given=cfg.output is not None, overwrite=cfg.overwrite)
    obs.on_stage(events.Stage(f"checking {', '.join(cfg.endpoints)} for model {cfg.model}"))
    check_endpoints(cfg)
    spec = RequestSpec(cfg.model, cfg.api, cfg.max_tokens, stream=cfg.stream, ignore_eos=cfg.ignore_eos)
    sut = EndpointSUT(cfg.endpoints, spec, prompts, timeout_s=cfg.timeout_s, api_key_env=cfg.api_key_env)
    interrupted = False
    try:
        obs.on_stage(events.Stage(f"{cfg.scenario.name} {cfg.mode} -> {outdir}"))
        try:
            r = run_test(sut, PromptQSL(prompts), built.settings, LogSettings(outdir=str(outdir), write_result_json=False),
                         audit_config=None, observer=obs, layers=built.layers)
        except RunInterrupted as exc:
            r, interrupted = exc.result, True
    finally:
        sut.close()
    body = {**result_body(r), "serving": client_figures(cfg, sut.exchanges, r)}
    record = new_record("serving", body, checks=r.checks, complete=not r.interrupted, system=describe_host())
    write_record(outdir / "result.json", record)
    obs.on_run_written(events.RunWritten(outdir, "serving", record.verdict.value))
    if interrupted:
        raise RunInterrupted(r)
    return r, record, outdir


def _pcts(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean())}


def client_figures(cfg: ServeConfig, exchanges: list[Exchange], r: TestResult) -> dict[str, Any]:
    """What the client measured: its send lag, inter-token gaps, goodput, failures, per endpoint."""
    ok = [e for e in exchanges if e.error is None]
    es = r.settings
    good = [e for e in ok if e.first_ns and (e.first_ns - e.issued_ns) <= es.ttft_latency and
            (e.tokens < 2 or (e.done_ns - e.first_ns) / (e.tokens - 1) <= es.tpot_latency)]
    span_s = ((max(e.done_ns for e in exchanges) - min(e.issued_ns for e in exchanges)) / 1e9) if exchanges else 0.0
    sources = sorted({e.token_source for e in ok})
    return {
        "endpoints": list(cfg.endpoints), "model": cfg.model, "api": cfg.api, "stream": cfg.stream,
        "max_tokens": cfg.max_tokens, "ignore_eos": cfg.ignore_eos, "requests": len(exchanges),
        "failed_requests": len(exchanges) - len(ok),
        "failures": sorted({e.error for e in exchanges if e.error})[:10],
        "output_tokens_from": sources[0] if len(sources) == 1 else (sources or "none (no reply completed)"),
        "send_lag_ms": _pcts([(e.sent_ns - e.issued_ns) / 1e6 for e in exchanges]),
        "inter_token_latency_ms": _pcts([g / 1e6 for e in ok for g in e.chunk_gaps_ns]),
        "goodput": {"requests_per_second": len(good) / span_s if span_s else None,
                    "tokens_per_second": sum(e.tokens for e in good) / span_s if span_s else None,
                    "share": len(good) / len(exchanges) if exchanges else None,
                    "bounds_ns": {"ttft": es.ttft_latency, "tpot": es.tpot_latency},
                    "note": "requests whose TTFT and TPOT (client-measured, from the LoadGen's issue) met the bounds"},
        "per_endpoint": [{"endpoint": url, "requests": sum(1 for e in exchanges if e.endpoint == k),
                          "failed": sum(1 for e in exchanges if e.endpoint == k and e.error),
                          "output_tokens": sum(e.tokens for e in ok if e.endpoint == k)}
                         for k, url in enumerate(cfg.endpoints)],
    }
