"""Serving client: mlmeter, the peers and a bare client against the same mock server, side by side.

Two measurements from the serving issue, in one invocation:

- **ceiling** — the mock (``mlmeter serve mock``, its own process) with zero delays and 16 tokens per reply;
  each client is driven at rising Poisson request rates for ``--duration`` seconds (a rate is run up to
  ``--attempts`` times, and the climb stops after two rates in a row are missed: this machine is noisy); a rate
  is *sustained* when the achieved rate is at least 99 % of the scheduled one (and, for mlmeter, its send lag
  p99, counted from the LoadGen's schedule, is at most 2 ms). Prints each client's highest sustained rate and
  mlmeter's ratio to the best peer and to the bare client.
- **error** — the mock at 20 ms TTFT and 32 tokens 5 ms apart, 100 req/s, a fresh mock per client: each
  client's TTFT and TPOT p50 against the delays the mock reports it kept (``/mock/stats``: its timers run late
  by a fraction of a millisecond), and their p99.

Clients: ``mlmeter`` (``mlmeter serve --scenario Server``), ``bare`` (asyncio streams, raw HTTP/1.1 on
keep-alive connections, no bookkeeping: the anchor), and the peers whose executables are given, each
installed in a venv of its own: GuideLLM 0.8 (``--guidellm PATH``), AIPerf 0.13 (``--aiperf PATH``), MLCommons
Endpoints (``--endpoints PATH``: its ``inference-endpoint``, Python 3.12) and ``vllm bench serve``
(``--vllm PATH``). Usage::

    python benchmarks/serving_client.py --guidellm /work/peers/guidellm/bin/guidellm \\
        --aiperf /work/peers/aiperf/bin/aiperf --endpoints /work/peers/endpoints/bin/inference-endpoint \\
        --vllm /work/peers/vllm/bin/vllm --rates 250,500,1000,2000,3000,4000,5000,6000,7000,8000,10000,12000,14000,16000 \\
        --duration 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MODEL = "mock-llm"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Mock:
    """``mlmeter serve mock`` in a process of its own."""

    def __init__(self, ttft_ms: float, itl_ms: float, tokens: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "mlmeter.cli.main", "serve", "mock", "--port",
                                      str(self.port), "--mock-ttft-ms", str(ttft_ms), "--mock-itl-ms", str(itl_ms),
                                      "--mock-tokens", str(tokens)], stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/v1/models", timeout=1).read()  # noqa: S310 -- loopback
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the mock did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# -- clients: each returns {achieved, ttft_p50, ttft_p99, tpot_p50, tpot_p99, lag_p99} (ms, req/s) ------------
def run_mlmeter(url: str, rate: float, duration: float, tokens: int, workers: int = 1) -> dict:
    out = Path(tempfile.mkdtemp()) / "r"
    subprocess.run([sys.executable, "-m", "mlmeter.cli.main", "serve", "--endpoint", url, "--model", MODEL,
                    "--scenario", "Server", "--qps", str(rate), "--min-duration-ms", str(int(duration * 1000)),
                    "--min-query-count", "1", "--max-tokens", str(tokens), "--prompts", str(_prompts()),
                    "--client-workers", str(workers), "--output", str(out), "--quiet"], check=False,
                   stdout=subprocess.DEVNULL)
    doc = json.loads((out / "result.json").read_text())["body"]
    tok, s = doc.get("tokens") or {}, doc["serving"]
    res = {"achieved": doc["metrics"].get("completed_samples_per_sec", 0.0),
           "scheduled": doc["metrics"].get("scheduled_samples_per_sec"),
           "lag_p99": (s["send_lag_ms"] or {}).get("p99"), "failed": s["failed_requests"]}
    for k in ("ttft", "tpot"):
        for p in ("p50", "p99"):
            res[f"{k}_{p}"] = ((tok.get(k) or {}).get(p) or 0) / 1e6
    shutil.rmtree(out.parent, ignore_errors=True)
    return res


def _prompts() -> Path:
    path = Path(tempfile.gettempdir()) / "mlmeter-bench-prompts.txt"
    path.write_text("\n".join(f"Prompt number {i}: say something." for i in range(1024)) + "\n")
    return path


async def _bare(url: str, rate: float, duration: float, tokens: int) -> dict:
    """Open loop: Poisson send times up front; each request on a free keep-alive connection (or a new one)."""
    host, port = url.removeprefix("http://").split(":")
    rng = random.Random(1)
    t, sched = 0.0, []
    while t < duration:
        t += rng.expovariate(rate)
        sched.append(t)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    ttft, tpot, done = [], [], []
    body = json.dumps({"model": MODEL, "prompt": "hi", "max_tokens": tokens, "stream": True}).encode()
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(at: float) -> None:
        conn = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        reader, writer = conn
        writer.write(head + body)
        first = last = 0.0
        chunked = await _read_headers(reader)
        n = 0
        while True:
            line = await (_chunk(reader) if chunked else reader.readline())
            if not line:
                break
            if b"data:" in line:  # one read may carry several events
                last = loop.time()
                first = first or last
                n += line.count(b"data:")
                if b"[DONE]" in line:
                    break
        ttft.append((first - start - at) * 1000)
        tpot.append((last - first) / max(n - 1, 1) * 1000)
        done.append(last)
        if chunked:
            await _chunk(reader)  # the terminating chunk
        idle.append(conn)

    tasks = []
    for at in sched:
        delay = start + at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    for _, w in idle:
        w.close()
    span = max(done) - start if done else 1
    return {"achieved": len(done) / span, "scheduled": len(sched) / sched[-1], "lag_p99": None, "failed": len(sched) - len(done), **_pct("ttft", ttft),
            **_pct("tpot", tpot)}


async def _read_headers(reader: asyncio.StreamReader) -> bool:
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            return chunked
        chunked |= line.lower().startswith(b"transfer-encoding: chunked")


async def _chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await reader.readline()).strip() or b"0", 16)
    data = await reader.readexactly(size + 2) if size else (await reader.readline()) and b""
    return data


def _pct(name: str, values: list[float]) -> dict:
    v = sorted(values)
    if not v:
        return {f"{name}_p50": 0.0, f"{name}_p99": 0.0}
    return {f"{name}_p50": v[len(v) // 2], f"{name}_p99": v[min(int(len(v) * 0.99), len(v) - 1)]}


def run_bare(url: str, rate: float, duration: float, tokens: int) -> dict:
    return asyncio.run(_bare(url, rate, duration, tokens))


def run_guidellm(exe: str, url: str, rate: float, duration: float, tokens: int) -> dict:
    """GuideLLM 0.8: ``guidellm run`` with its ``kind=…`` options; synthetic 16-token prompts."""
    out = Path(tempfile.mkdtemp()) / "r.json"
    subprocess.run([exe, "run", "--backend", f"kind=openai_http,target={url},model={MODEL}",
                    "--profile", f"kind=poisson,rate={rate}", "--constraint", f"kind=max_duration,seconds={duration}",
                    "--data", f"kind=synthetic_text,prompt_tokens=16,output_tokens={tokens}",
                    "--tokenizer", f"kind=hf_auto,model={_tokenizer()}", "--output", f"kind=json,path={out}",
                    "--disable-console"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        m = json.loads(out.read_text())["benchmarks"][0]["metrics"]
        res = {"achieved": m["requests_per_second"]["successful"]["mean"], "lag_p99": None, "failed": 0}
        for k, key in (("ttft", "time_to_first_token_ms"), ("tpot", "inter_token_latency_ms")):
            d = m[key]["successful"]
            res[f"{k}_p50"], res[f"{k}_p99"] = d["median"], d["percentiles"]["p99"]
        return res
    except (OSError, KeyError, IndexError, ValueError) as exc:
        return {"achieved": 0.0, "error": f"guidellm: {type(exc).__name__}: {exc}"}


def run_aiperf(exe: str, url: str, rate: float, duration: float, tokens: int) -> dict:
    out = Path(tempfile.mkdtemp())
    subprocess.run([exe, "profile", "--model", MODEL, "--url", url, "--endpoint-type", "completions", "--streaming",
                    "--request-rate", str(rate), "--request-count", str(int(rate * duration)), "--tokenizer",
                    str(_tokenizer()), "--output-tokens-mean", str(tokens), "--artifact-dir", str(out), "--ui", "none"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        doc = json.loads(next(out.rglob("profile_export_aiperf.json")).read_text())
        res = {"achieved": doc["request_throughput"]["avg"], "lag_p99": None, "failed": 0}
        for k, key in (("ttft", "time_to_first_token"), ("tpot", "inter_token_latency")):
            res[f"{k}_p50"], res[f"{k}_p99"] = doc[key]["p50"], doc[key]["p99"]
        return res
    except (OSError, KeyError, StopIteration, ValueError) as exc:
        return {"achieved": 0.0, "error": f"aiperf: {type(exc).__name__}: {exc}"}


def run_endpoints(exe: str, url: str, rate: float, duration: float, tokens: int) -> dict:
    """MLCommons Endpoints (``inference-endpoint benchmark online``): Poisson at ``rate``, one worker process (two
    cores), chat API (its completions adapter needs gpt-oss's Harmony tokenizer)."""
    out = Path(tempfile.mkdtemp())
    data = out / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Prompt number {i}: say something."}) + "\n"
                            for i in range(1024)))
    subprocess.run([exe, "benchmark", "online", "--model", MODEL, "--endpoints", url, "--dataset", str(data),
                    "--load-pattern", "poisson", "--target-qps", str(rate), "--duration", f"{duration:g}s",
                    "--num-samples", str(int(rate * duration)), "--workers", "1", "--tokenizer", str(_tokenizer()),
                    "--max-output-tokens", str(tokens), "--streaming", "on", "--report-dir", str(out / "r")],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        doc = json.loads((out / "r" / "performance" / "result_summary.json").read_text())
        res = {"achieved": doc["qps"], "lag_p99": None, "failed": doc["n_samples_failed"]}
        for k in ("ttft", "tpot"):
            d = doc[k]
            res[f"{k}_p50"], res[f"{k}_p99"] = d["median"] / 1e6, d["percentiles"]["99.0"] / 1e6
        return res
    except (OSError, KeyError, ValueError) as exc:
        return {"achieved": 0.0, "error": f"endpoints: {type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def vllm_bench(exe: str, url: str, model: str, rate: float, prompts: int, tokens: int) -> dict:
    """Run ``vllm bench serve`` (the vLLM install's own client): Poisson at ``rate``, random 16-token prompts,
    ``--ignore-eos``; its saved result (raises OSError/ValueError when it wrote none)."""
    out = Path(tempfile.mkdtemp())
    try:
        subprocess.run([exe, "bench", "serve", "--backend", "openai", "--base-url", url, "--endpoint",
                        "/v1/completions", "--model", model, "--tokenizer", str(_tokenizer()), "--dataset-name",
                        "random", "--random-input-len", "16", "--random-output-len", str(tokens), "--ignore-eos",
                        "--num-prompts", str(prompts), "--request-rate", str(rate), "--save-result",
                        "--result-dir", str(out), "--result-filename", "r.json", "--disable-tqdm"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
        return json.loads((out / "r.json").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_vllm(exe: str, url: str, rate: float, duration: float, tokens: int) -> dict:
    try:
        doc = vllm_bench(exe, url, MODEL, rate, int(rate * duration), tokens)
        res = {"achieved": doc["request_throughput"], "lag_p99": None, "failed": doc["failed"]}
        for k in ("ttft", "tpot"):
            res[f"{k}_p50"], res[f"{k}_p99"] = doc[f"median_{k}_ms"], doc[f"p99_{k}_ms"]
        return res
    except (OSError, KeyError, ValueError) as exc:
        return {"achieved": 0.0, "error": f"vllm: {type(exc).__name__}: {exc}"}


def _tokenizer() -> Path:
    """A local word-level tokenizer directory (the peers need one and cannot reach a hub here)."""
    path = Path(tempfile.gettempdir()) / "mlmeter-bench-tokenizer"
    if not (path / "tokenizer.json").is_file():
        from tokenizers import Tokenizer, models, pre_tokenizers

        path.mkdir(exist_ok=True)
        vocab = {f"t{i}": i for i in range(4096)} | {"[UNK]": 4096}
        tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tok.save(str(path / "tokenizer.json"))
        (path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                                                "unk_token": "[UNK]"}))
    return path


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (each tool's run is a waited-for child)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn):  # noqa: ANN001, ANN201 -- wraps any client runner
    """Add the client's CPU per completed request (ms) to what ``fn`` returns; a client that fails (the bare one
    raises when the mock resets its connections) has not sustained the rate, and says why."""
    def run(url: str, rate: float, duration: float, tokens: int) -> dict:
        before = _cpu_s()
        try:
            r = fn(url, rate, duration, tokens)
        except (OSError, asyncio.IncompleteReadError, KeyError, ValueError) as exc:
            return {"achieved": 0.0, "failed": 1, "error": f"{type(exc).__name__}: {exc}"}
        done = (r.get("achieved") or 0) * duration
        r["cpu_ms"] = (_cpu_s() - before) * 1000 / done if done else None
        return r
    return run


def clients(a: argparse.Namespace) -> dict:
    found = {"mlmeter": run_mlmeter, "bare": run_bare}
    for w in a.mlmeter_workers:
        if w > 1:
            found[f"mlmeter-w{w}"] = lambda url, r, d, t, w=w: run_mlmeter(url, r, d, t, w)
    for name, exe, fn in (("guidellm", a.guidellm, run_guidellm), ("aiperf", a.aiperf, run_aiperf),
                          ("endpoints", a.endpoints, run_endpoints), ("vllm-bench", a.vllm, run_vllm)):
        if exe:
            found[name] = lambda url, r, d, t, exe=exe, fn=fn: fn(exe, url, r, d, t)
    keep = set(a.clients.split(",")) if a.clients else set(found)
    return {k: measured(fn) for k, fn in found.items() if k in keep}


def sustained(name: str, r: dict, rate: float) -> bool:
    """Completed at >= 99 % of the rate the Poisson schedule actually asked for — or >= 97 % of the requested
    rate for a tool that does not say (a 5 s Poisson schedule's own count varies by ~3 %) — nothing failed, and
    for mlmeter a send lag p99 of at most 2 ms."""
    need = 0.99 * r["scheduled"] if r.get("scheduled") else 0.97 * rate
    ok = r.get("achieved", 0) >= need and not r.get("failed")
    return ok and (not name.startswith("mlmeter") or (r.get("lag_p99") or 0) <= 2.0)


def ceiling(a: argparse.Namespace) -> dict:
    mock = Mock(0, 0, 16)
    best: dict[str, float] = {}
    try:
        for name, fn in clients(a).items():
            best[name], misses = 0.0, 0
            for rate in a.rates:
                for _ in range(a.attempts):  # a rate missed once may be this machine's noise: try it again
                    r = fn(mock.url, rate, a.duration, 16)
                    ok = sustained(name, r, rate)
                    lag = "" if r.get("lag_p99") is None else f", send lag p99 {r['lag_p99']:.2f} ms"
                    lag += f", client CPU {r['cpu_ms']:.2f} ms/request" if r.get("cpu_ms") else ""
                    print(f"  {name:9s} {rate:7.0f} req/s -> achieved {r.get('achieved', 0):8.1f}{lag}  "
                          f"{'sustained' if ok else 'NOT sustained'} {r.get('error', '')}", flush=True)
                    if ok:
                        break
                misses = 0 if ok else misses + 1
                if ok:
                    best[name] = rate
                if misses == 2:  # two rates in a row not sustained: the ceiling is below them
                    break
    finally:
        mock.stop()
    return best


def error(a: argparse.Namespace) -> dict:
    """Each client against a fresh mock; the truth is what that mock reports it kept (``/mock/stats``)."""
    rows = {}
    for name, fn in clients(a).items():
        mock = Mock(20, 5, 32)
        try:
            rows[name] = fn(mock.url, 100, a.duration, 32)
            with urllib.request.urlopen(mock.url + "/mock/stats", timeout=5) as resp:  # noqa: S310 -- loopback
                rows[name]["truth"] = json.loads(resp.read())
        finally:
            mock.stop()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="250,500,750,1000,1500,2000")
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--attempts", type=int, default=2, help="runs of a rate before it counts as missed (any client)")
    p.add_argument("--guidellm", default=None)
    p.add_argument("--aiperf", default=None)
    p.add_argument("--endpoints", default=None, help="MLCommons Endpoints' inference-endpoint executable")
    p.add_argument("--vllm", default=None, help="the vllm executable (for vllm bench serve)")
    p.add_argument("--only", default="ceiling,error")
    p.add_argument("--clients", default="", help="only these clients, e.g. mlmeter,bare")
    p.add_argument("--mlmeter-workers", default="1", help="also run mlmeter with these client worker counts, e.g. 1,2")
    a = p.parse_args()
    a.rates = [float(x) for x in a.rates.split(",")]
    a.mlmeter_workers = [int(x) for x in a.mlmeter_workers.split(",")]
    if "ceiling" in a.only:
        print("== client ceiling: mock with zero delays, 16 tokens per reply")
        best = ceiling(a)
        peers = {k: v for k, v in best.items() if not k.startswith("mlmeter") and k != "bare"}
        print("\n| client | highest sustained rate (req/s) |\n|---|---|")
        for k, v in best.items():
            print(f"| {k} | {v:g} |")
        ours = max((v for k, v in best.items() if k.startswith("mlmeter")), default=0)
        if ours and best.get("bare"):
            print(f"\nmlmeter (best of its configurations) / bare client: {ours / best['bare']:.2f}")
        if ours and peers and max(peers.values()):
            print(f"mlmeter (best of its configurations) / best peer: {ours / max(peers.values()):.2f}")
    if "error" in a.only:
        print("\n== measurement error: mock set to 20 ms TTFT and 32 tokens 5 ms apart, 100 req/s; error against what"
              " the mock kept (its /mock/stats medians)")
        print("| client | mock TTFT p50 (ms) | TTFT p50 err (ms) | TTFT p99 (ms) | mock TPOT p50 (ms) | TPOT p50 err (ms) |"
              " TPOT p99 (ms) |\n|---|---|---|---|---|---|---|")
        for k, r in error(a).items():
            if "error" in r:
                print(f"| {k} | {r['error']} | | | | | |")
                continue
            t = r["truth"]
            print(f"| {k} | {t['ttft_ms_p50']:.2f} | {r['ttft_p50'] - t['ttft_ms_p50']:+.2f} | {r['ttft_p99']:.2f} | "
                  f"{t['tpot_ms_p50']:.3f} | {r['tpot_p50'] - t['tpot_ms_p50']:+.3f} | {r['tpot_p99']:.3f} |")

if __name__ == "__main__":
    main()
