"""``mlmeter serve``: benchmark an OpenAI-compatible endpoint under MLPerf's rules; ``mlmeter serve mock``: a
mock server to point it at."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlmeter.cli import knobs, loadgen_cmd, options, repeat
from mlmeter.cli.progress import Progress
from mlmeter.loadgen import TestScenario
from mlmeter.serving import ServingError
from mlmeter.verdict import exit_code


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["run", "mock"], default="run",
                   help="run (default): benchmark --endpoint; mock: start a mock server")
    e = p.add_argument_group("endpoint")
    e.add_argument("--endpoint", action="append", default=[], metavar="URL",
                   help="base URL of an OpenAI-compatible server (repeat for several: least outstanding wins)")
    e.add_argument("--model", default=None, help="the served model's name (as /v1/models lists it)")
    e.add_argument("--api", choices=["completions", "chat"], default="completions")
    e.add_argument("--max-tokens", type=options.whole(1, 1_000_000), default=64, help="output tokens per request")
    e.add_argument("--no-stream", action="store_true", help="whole replies (TTFT is then the whole latency)")
    e.add_argument("--ignore-eos", action="store_true", help="ask for exactly --max-tokens (ignore_eos, min_tokens)")
    e.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    e.add_argument("--timeout-s", type=options.number(0, 86_400), default=600.0, help="per-request timeout")
    b = p.add_argument_group("benchmark")
    b.add_argument("--scenario", choices=[s.name for s in TestScenario], default="Server")
    b.add_argument("--mode", choices=["performance", "accuracy", "submission", "find-peak"], default="performance")
    b.add_argument("--mlperf-model", default=None, help="apply this MLPerf model's mlperf.conf (e.g. llama2-70b)")
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
    from mlmeter.serving import require_aiohttp
    from mlmeter.serving.mock import MockServer, MockSettings

    require_aiohttp()
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
    from mlmeter.serving.bench import ServeConfig, run_serve

    settings = knobs.knob_values(a)
    if a.ttft_ms is not None:
        settings["ttft_latency"] = int(a.ttft_ms * 1e6)
    if a.tpot_ms is not None:
        settings["tpot_latency"] = int(a.tpot_ms * 1e6)
    base = a.output
    verdicts = []

    def once(i: int) -> list[tuple[str, Path]]:
        out = base if a.repeat == 1 or base is None else base / f"repeat-{i + 1}"
        cfg = ServeConfig(tuple(a.endpoint), a.model, TestScenario[a.scenario], a.mode, a.api, a.max_tokens,
                          not a.no_stream, a.ignore_eos, a.mlperf_model, settings, a.prompts, a.count, out,
                          a.overwrite, a.timeout_s, a.api_key_env)
        r, rec, outdir = run_serve(cfg, Progress(enabled=not a.quiet))
        print(loadgen_cmd.describe(r))
        s = rec.body["serving"]
        print(f"  client: {s['requests']} requests, {s['failed_requests']} failed; output tokens from "
              f"{s['output_tokens_from']}; send lag p99 {(s['send_lag_ms'] or {}).get('p99', 0):.3f} ms; "
              f"goodput {s['goodput']['requests_per_second'] or 0:.2f} requests/s")
        verdicts.append(rec.verdict)
        return [("", outdir)]

    repeat.repeated(a.repeat, once, lambda _k, runs: runs[0].parent / f"repeat-{runs[0].name}")
    return exit_code(verdicts)
