"""``mlmeter serve``: benchmark an OpenAI-compatible endpoint under MLPerf's rules; ``mlmeter serve mock``: a
mock server to point it at."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from mlmeter.cli import knobs, loadgen_cmd, options, repeat
from mlmeter.cli.progress import Progress
from mlmeter.loadgen import TestScenario
from mlmeter.serving import ServingError
from mlmeter.serving.server_info import label
from mlmeter.verdict import exit_code


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["run", "mock"], default="run",
                   help="run (default): benchmark --endpoint; mock: start a mock server")
    e = p.add_argument_group("endpoint")
    e.add_argument("--endpoint", action="append", default=[], metavar="URL",
                   help="base URL of an OpenAI-compatible server (repeat for several: least outstanding wins)")
    e.add_argument("--model", default=None, help="the served model's name (as /v1/models lists it)")
    e.add_argument("--api", choices=["completions", "chat", "llamacpp", "generate"], default="completions",
                   help="OpenAI /v1/completions or /v1/chat/completions, llama.cpp's native /completion, or Triton's "
                        "KServe v2 generate extension")
    e.add_argument("--extra-body", default=None, metavar="JSON",
                   help='fields merged into every request body, e.g. \'{"top_k": 1}\' (server-specific settings)')
    e.add_argument("--max-tokens", type=options.whole(1, 1_000_000), default=64, help="output tokens per request")
    e.add_argument("--no-stream", action="store_true", help="whole replies (TTFT is then the whole latency)")
    e.add_argument("--ignore-eos", action="store_true", help="ask for exactly --max-tokens (ignore_eos, min_tokens)")
    e.add_argument("--tokenizer", type=Path, default=None, metavar="PATH",
                   help="tokenizer.json (or its directory) to count output tokens when the server reports no usage")
    e.add_argument("--token-ids", action="store_true",
                   help="ask for the output token IDs (vLLM's return_token_ids, llama.cpp's return_tokens) and log "
                        "them (int32) as MLPerf's LLM accuracy logs hold them")
    e.add_argument("--client-workers", type=options.whole(1, 256), default=1, metavar="N",
                   help="client processes (when one event loop cannot keep up; the LoadGen stays in this one)")
    e.add_argument("--max-connections", type=options.whole(1, 1_000_000), default=0, metavar="N",
                   help="connections per endpoint (and client process); more requests wait for one (default: what "
                        "the open-file limit allows, raised to its hard limit)")
    e.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    e.add_argument("--timeout-s", type=options.number(0, 86_400), default=600.0, help="per-request timeout")
    b = p.add_argument_group("benchmark")
    b.add_argument("--scenario", choices=[s.name for s in TestScenario], default="Server")
    b.add_argument("--concurrency", default=None, metavar="N[,N…]",
                   help="N closed-loop streams for --min-duration-ms instead of a scenario (not MLPerf); several "
                        "levels sweep them and name the highest meeting the TTFT/TPOT bounds")
    b.add_argument("--mode", default="performance",
                   help="performance, accuracy or submission, or several run in turn (accuracy,performance: each in "
                        "<output>/<mode>, the audits in <output>/<TEST>), or find-peak")
    b.add_argument("--probe-duration-ms", type=options.whole(1, 86_400_000), default=5_000,
                   help="find-peak: minimum duration of each probe (the confirmation uses the full settings)")
    b.add_argument("--probe-queries", type=options.whole(1, 100_000_000), default=None,
                   help="find-peak: queries per probe (default: what early stopping needs, 459 for p99)")
    b.add_argument("--peak-tolerance", type=options.number(0, 1), default=0.05,
                   help="find-peak: bisect until the bracket is within this fraction")
    b.add_argument("--max-probes", type=options.whole(1, 1000), default=16)
    b.add_argument("--rates", default=None, metavar="QPS[,QPS…]",
                   help="a Server run at each target QPS (MLPerf's rules at each); names the highest VALID one")
    b.add_argument("--compliance", default="", metavar="TEST06",
                   help="after the run, the TEST06 audit (first token, EOS, token counts) in <output>/TEST06, "
                        "verified as the official script does; implies --token-ids")
    b.add_argument("--eos-token-id", type=options.whole(0, 2**31 - 1), default=None, metavar="ID",
                   help="the model's EOS token for TEST06 (default: --tokenizer's, else 2, the official script's)")
    b.add_argument("--mlperf-model", default=None,
                   help="apply this MLPerf model's mlperf.conf and accuracy targets (e.g. llama3_1-8b; "
                        "llama2-70b-99.9 for that accuracy variant)")
    b.add_argument("--prompts", type=Path, default=None, help="prompts file (JSON list or one per line)")
    b.add_argument("--count", type=options.whole(1, 10_000_000), default=None, help="use the first N prompts")
    b.add_argument("--ttft-ms", type=options.number(), default=None, help="TTFT bound (default 2000)")
    b.add_argument("--tpot-ms", type=options.number(), default=None, help="TPOT bound (default 200)")
    b.add_argument("--output", type=Path, default=None, help="run directory (default mlmeter-serve/<model>-<scenario>)")
    options.add_overwrite(b)
    knobs.add_knobs(p)
    options.add_repeat(p)
    m = p.add_argument_group("mock server (serve mock)")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=options.whole(0, 65535), default=8000)
    m.add_argument("--mock-ttft-ms", type=options.number(0, 3_600_000, above=False), default=20.0)
    m.add_argument("--mock-itl-ms", type=options.number(0, 3_600_000, above=False), default=5.0)
    m.add_argument("--mock-tokens", type=options.whole(1, 1_000_000), default=32)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_serve)


def _mock(a: argparse.Namespace) -> int:
    from mlmeter.serving import require
    from mlmeter.serving.mock import MockServer, MockSettings

    require("aiohttp")
    settings = MockSettings(model=a.model or "mock-llm", ttft_s=a.mock_ttft_ms / 1000, itl_s=a.mock_itl_ms / 1000,
                            tokens=a.mock_tokens)
    with MockServer(settings, a.host, a.port) as m:
        print(f"mock OpenAI-compatible server for model {settings.model!r} on {m.url} (Ctrl-C to stop)", flush=True)
        while True:
            time.sleep(3600)


def cmd_serve(a: argparse.Namespace) -> int:
    if a.action == "mock":
        return _mock(a)
    if not a.endpoint or not a.model:
        raise ServingError("serve: give --endpoint URL and --model NAME (see 'mlmeter serve --help')")
    from mlmeter.serving.bench import ServeConfig, highest_passing, run_modes, sweep_concurrency, sweep_rates

    settings = knobs.knob_values(a)
    if a.ttft_ms is not None:
        settings["ttft_latency"] = int(a.ttft_ms * 1e6)
    if a.tpot_ms is not None:
        settings["tpot_latency"] = int(a.tpot_ms * 1e6)
    levels = _levels(a.concurrency)
    cfg = ServeConfig(tuple(a.endpoint), a.model, TestScenario[a.scenario], a.mode, a.api, a.max_tokens,
                      not a.no_stream, a.ignore_eos, a.mlperf_model, settings, a.prompts, a.count, a.output,
                      a.overwrite, a.timeout_s, a.api_key_env, extra_body=_extra_body(a.extra_body), tokenizer=a.tokenizer,
                      client_workers=a.client_workers, max_connections=a.max_connections, concurrency=levels[0] if len(levels) == 1 else 0,
                      token_ids=a.token_ids, eos_token_id=a.eos_token_id,
                      compliance=tuple(t.strip().upper() for t in a.compliance.split(",") if t.strip()))
    if cfg.compliance and (len(levels) > 1 or a.rates is not None):
        raise ServingError("--compliance audits one LoadGen run: not with --rates or several --concurrency levels")
    progress = Progress(enabled=not a.quiet)
    if a.mode == "find-peak":
        return _find_peak(a, cfg, progress)
    if len(levels) > 1 or a.rates is not None:
        if a.rates is not None:
            outcomes, what = sweep_rates(cfg, _rates(a.rates), progress), "target QPS VALID under MLPerf's rules"
        else:
            outcomes, what = sweep_concurrency(cfg, levels, progress), "concurrency meeting the TTFT/TPOT bounds"
        repeat.register_runs([o.outdir for o in outcomes])
        for o in outcomes:
            print(_describe(o))
        best = highest_passing(outcomes)
        print(f"highest {what}: {f'{best:g}' if best is not None else 'none'}")
        return exit_code(o.record.verdict for o in outcomes)
    verdicts = []

    several = len(cfg.modes) > 1

    def once(i: int) -> list[tuple[str, Path]]:
        out = a.output if a.repeat == 1 or a.output is None else a.output / f"repeat-{i + 1}"
        runs = run_modes(dataclasses.replace(cfg, output=out), progress)
        for run in runs:
            print(_describe(run))
            verdicts.append(run.record.verdict)
        return [(run.outdir.name, run.outdir) for run in runs[:len(cfg.modes)]] if several else [("", runs[0].outdir)]

    def group(key: str, runs: list[Path]) -> Path:  # repeat-<n>/<mode> -> repeat/<mode>, as mlmeter infer's
        return runs[0].parent.parent / "repeat" / key if several else runs[0].parent / f"repeat-{runs[0].name}"

    repeat.repeated(a.repeat, once, group)
    return exit_code(verdicts)


def _find_peak(a: argparse.Namespace, cfg: Any, progress: Progress) -> int:
    from mlmeter.serving.peak import PeakSearch, find_peak

    if a.scenario != "Server" or a.rates is not None or (a.concurrency is not None and not cfg.concurrency):
        raise ServingError("--mode find-peak searches Server target QPS from --qps, or concurrency from one "
                           "--concurrency N: use it without --scenario, --rates or several concurrency levels")
    search = PeakSearch(a.probe_duration_ms, a.probe_queries or 0, a.peak_tolerance, a.max_probes)
    out = find_peak(cfg, search, progress)
    trials = out.peak["trials"]
    repeat.register_runs([out.outdir / t["run"] for t in trials])
    for k, t in enumerate((t for t in trials if t["role"] == "probe"), 1):
        lat = f"p99 TTFT {(t['p99_latency_ns'] or 0) / 1e6:.1f} ms, TPOT {(t['p99_tpot_ns'] or 0) / 1e6:.1f} ms"
        level = f"{t['streams']} streams" if "streams" in t else f"{t['target_qps']:.4g} QPS"
        print(f"probe {k}: {level} {'pass' if t['passed'] else 'fail'} ({lat})"
              + "".join(f"\n  {r}" for r in t["reasons"]))
    if out.confirmation is not None:
        print(_describe(out.confirmation))
    if cfg.concurrency:
        found = f"{int(out.qps)} streams, confirmed by a full run" if out.qps is not None else "none"
        print(f"highest concurrency meeting the TTFT/TPOT bounds (not MLPerf): {found}  "
              f"(search: {out.outdir / 'peak.json'})")
    else:
        found = f"{out.qps:.4g} QPS, confirmed VALID by a full run" if out.qps is not None else "none VALID"
        print(f"peak Server rate under MLPerf's rules: {found}  (search: {out.outdir / 'peak.json'})")
    return 0 if out.qps is not None else 1


def _extra_body(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ServingError(f"--extra-body: not valid JSON ({exc}); give an object like '{{\"top_k\": 1}}'") from exc
    if not isinstance(body, dict):
        raise ServingError(f"--extra-body: expected a JSON object, got {type(body).__name__}")
    return body


def _rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        rates = []
    if not rates or not all(0 < q <= 1e6 for q in rates):
        raise ServingError(f"--rates {text!r}: expected target QPS values above 0, like 5,10,20")
    return rates


def _levels(text: str | None) -> list[int]:
    if text is None:
        return [0]
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or not all(1 <= n <= 100_000 for n in levels):
        raise ServingError(f"--concurrency {text!r}: expected stream counts from 1 to 100000, like 1,2,4,8")
    return levels


def _describe(o: Any) -> str:
    rec, s = o.record, o.record.body["serving"]
    if o.result is not None:
        head = loadgen_cmd.describe(o.result).replace(f": {o.result.verdict}", f": {rec.verdict}", 1)
        head += "".join(f"\n  [{'ok ' if a['pass'] else 'FAIL'}] {a['name']} {a['value']} (needs >= {a['threshold']}"
                        + (f" and <= {a['upper']}" if "upper" in a else "") + ")" for a in rec.body.get("accuracy") or [])
        if "compliance" in rec.body:
            v = rec.body["compliance"]
            head += (f"\n  [{'ok ' if v['passed'] else 'FAIL'}] compliance {v['test']}: "
                     + ("; ".join(v["reasons"]) or "TEST PASS") + f" ({o.outdir / 'verify_accuracy.txt'})")
            if str(o.result.verdict) != "VALID":
                head += f"\n  ({v['test']} judges its accuracy log: the performance rules above are not part of it)"
    else:
        c, tok = rec.body["concurrency"], rec.body["tokens"]
        p99 = {k: ((tok[k] or {}).get("p99") or 0) / 1e6 for k in ("ttft", "tpot")}
        head = (f"concurrency {c['streams']} (not an MLPerf scenario): {rec.verdict}\n"
                f"  {rec.body['metrics']['completed_tokens_per_second'] or 0:,.1f} output tokens/s, "
                f"p99 TTFT {p99['ttft']:.3f} ms, p99 TPOT {p99['tpot']:.3f} ms, "
                f"goodput {c['goodput_requests_per_second'] or 0:.2f} requests/s\n  files: {o.outdir}")
        head += "".join(f"\n  [FAIL] {r}" for r in rec.reasons)
    resent = f", {s['resent_requests']} resent (the server had closed kept-alive connections)" \
        if s.get("resent_requests") else ""
    if s.get("queued_requests"):
        resent += f", {s['queued_requests']} waited for one of {s['max_connections']} connections"
    servers = "; ".join(f"{i.get('endpoint')}: {label(i)}" for i in s.get("servers") or [])
    head += f"\n  server: {servers}" if servers else ""
    return head + (f"\n  client: {s['requests']} requests, {s['failed_requests']} failed{resent}; output tokens from "
                   f"{s['output_tokens_from']}; send lag p99 {(s['send_lag_ms'] or {}).get('p99', 0):.3f} ms from the "
                   f"schedule (the LoadGen's issue lag p99 {(s.get('issue_lag_ms') or {}).get('p99', 0):.3f} ms); "
                   f"goodput {s['goodput']['requests_per_second'] or 0:.2f} requests/s; "
                   f"{s['client']['cpu_ms_per_request'] or 0:.2f} ms client CPU per request ({s['client']['event_loop']})"
                   + (f"\n  [WARN] {s['client']['warning']}" if s["client"]["warning"] else ""))
