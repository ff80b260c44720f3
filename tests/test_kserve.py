"""KServe v2: the classic workloads on a model server (``mlmeter infer --backend kserve``) against two real KServe
v2 servers from PyPI, Seldon's MLServer and NVIDIA's Triton Inference Server (the ``tritonserver`` that PyTriton
bundles), each serving the embedded digits ONNX model — same pre-processing, same accuracy as ONNX Runtime locally,
over HTTP with JSON tensors, HTTP with Triton's binary tensors, and gRPC; and Triton's generate extension for LLMs
(``mlmeter serve --api generate``) against the mock and against Triton.

``$MLMETER_MLSERVER`` names the ``mlserver`` executable and ``$MLMETER_TRITON`` the Python of a venv with
``nvidia-pytriton`` and ``onnxruntime`` (``.ci/run`` installs each in a venv of its own); without one, its tests
skip, unless ``$MLMETER_REQUIRE_MLSERVER`` / ``$MLMETER_REQUIRE_TRITON`` is set (CI), when they fail instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlmeter.cli.main import main

from .records import record
from .servers import free_port, running

HERE = Path(__file__).parent


def _installed(name: str, what: str) -> str:
    """The file ``$MLMETER_<name>`` names; else skip, or fail where ``$MLMETER_REQUIRE_<name>`` says it must be."""
    path = os.environ.get(f"MLMETER_{name}")
    if not path or not Path(path).is_file():
        if os.environ.get(f"MLMETER_REQUIRE_{name}"):
            pytest.fail(f"no {what} ($MLMETER_{name}; .ci/run installs it)")
        pytest.skip(f"no {what} ($MLMETER_{name})")
    return path


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory):
    exe = _installed("MLSERVER", "mlserver executable")
    from mlmeter.workloads.digits import data_file

    root = tmp_path_factory.mktemp("mlserver")
    shutil.copy(HERE / "kserve_runtime" / "onnx_runtime.py", root / "onnx_runtime.py")
    http, grpc, metrics = free_port(), free_port(), free_port()
    (root / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics, "parallel_workers": 0}))
    (root / "model-settings.json").write_text(json.dumps({
        "name": "digits_fp32", "implementation": "onnx_runtime.OnnxModel",
        "parameters": {"uri": str(data_file("digits_fp32.onnx"))},
        "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]}))
    url = f"http://127.0.0.1:{http}"
    with running([exe, "start", str(root)], url + "/v2/models/digits_fp32/ready", root / "server.log", "mlserver",
                 cwd=root):
        yield {"http": url, "grpc": f"grpc://127.0.0.1:{grpc}"}


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    py = _installed("TRITON", "Python with nvidia-pytriton for Triton")
    from mlmeter.workloads.digits import data_file

    # PyTriton's Python-backend stub links the libpython of the system's library path: the venv's own interpreter
    # must come first, or its standard library meets another patch release's runtime (pyenv 3.11.7 on Debian's)
    libdir = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')"],
                            capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH"))
                                                             if p)}
    root = tmp_path_factory.mktemp("triton")
    http, grpc, metrics = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{http}"
    with running([py, str(HERE / "triton_runtime" / "models.py"), str(http), str(grpc), str(metrics),
                  str(data_file("digits_fp32.onnx"))], url + "/v2/models/copy_llm_whole/ready", root / "server.log",
                 "Triton", cwd=root, timeout_s=180, env=env):
        yield {"http": url, "grpc": f"grpc://127.0.0.1:{grpc}"}


def _digits_scores_as_locally(url: str, tmp_path: Path, protocol: str, *options: str) -> None:
    """The accuracy pass over the server equals ONNX Runtime's here; a short Server run has no failed request."""
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main(["infer", "--backend", "onnxruntime", "--model", "digits", "--scenario", "Offline", "--mode",
                 "accuracy", "--output", str(local), "--quiet"]) == 0
    kserve = ["--backend", "kserve", "--backend-option", f"url={url}", *options]
    code = main(["infer", *kserve, "--model", "digits", "--scenario", "Offline", "--mode", "accuracy", "--output",
                 str(remote), "--quiet"])
    ours, theirs = record(remote / "Offline" / "accuracy"), record(local / "Offline" / "accuracy")
    assert code == 0 and ours.verdict.value == "VALID"
    assert ours.body["accuracy"][0]["value"] == theirs.body["accuracy"][0]["value"]  # same model, same pre-processing
    assert ours.body["backend"]["settings"]["protocol"] == protocol
    code = main(["infer", *kserve, "--model", "digits", "--scenario", "Server", "--time", "1", "--auto-targets",
                 "--output", str(tmp_path / "srv"), "--quiet"])
    rec = record(tmp_path / "srv" / "Server" / "performance")
    assert code in (0, 1) and rec.body["loadgen"]["sample_count"] > 0
    assert not [c for c in rec.checks if c.decisive and not c.passed]  # no failed request


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_digits_on_mlserver_scores_as_it_does_locally(mlserver, tmp_path, protocol):
    if protocol == "grpc":
        pytest.importorskip("tritonclient.grpc")
    # MLServer lists no binary_tensor_data extension: JSON tensors over HTTP
    _digits_scores_as_locally(mlserver[protocol], tmp_path, f"KServe v2 {'gRPC' if protocol == 'grpc' else 'HTTP/JSON'}")


@pytest.mark.parametrize(("protocol", "options", "label"), [
    ("http", [], "KServe v2 HTTP/binary"),  # Triton lists the extension: binary tensors by default
    ("http", ["--backend-option", "binary=off"], "KServe v2 HTTP/JSON"),
    ("grpc", [], "KServe v2 gRPC"),
])
def test_digits_on_triton_scores_as_it_does_locally(triton, tmp_path, protocol, options, label):
    if protocol == "grpc":
        pytest.importorskip("tritonclient.grpc")
    _digits_scores_as_locally(triton[protocol], tmp_path, label, *options)


def test_binary_tensors_asked_of_a_server_without_them_is_one_line(mlserver, tmp_path, capsys):
    code = main(["infer", "--backend", "kserve", "--backend-option", f"url={mlserver['http']}", "--backend-option",
                 "binary=on", "--model", "digits", "--output", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "does not list the binary_tensor_data extension" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("transport", ["http", "grpc"])
@pytest.mark.parametrize("stream", [True, False])
def test_triton_generate_serves_the_copy_tasks_under_the_loadgen(triton, tmp_path, stream, transport):
    """Triton's own generate extension over HTTP (``generate_stream`` from a decoupled model: one response per
    word; or ``generate``), and the same models over gRPC (a ``ModelStreamInfer`` stream per request): the embedded
    accuracy gate passes, and the streamed words are the tokens counted."""
    from mlmeter.serving.prompts import embedded

    if transport == "grpc":
        pytest.importorskip("tritonclient.grpc")
    model = "copy_llm" if stream else "copy_llm_whole"
    how = [] if stream else ["--no-stream", "--tokenizer", str(_word_tokenizer(tmp_path / "tokenizer.json"))]
    code = main(["serve", "--endpoint", triton[transport], "--model", model, "--api", "generate", "--scenario",
                 "Offline", "--mode", "accuracy,performance", "--qps", "150", "--min-duration-ms", "1000",
                 "--min-query-count", "64", "--output", str(tmp_path / "g"), "--quiet", *how])
    acc, perf = record(tmp_path / "g" / "accuracy"), record(tmp_path / "g" / "performance")
    # the performance run's duration depends on this machine's speed: its verdict is not the point here
    assert code in (0, 1) and acc.verdict.value == "VALID" and acc.body["llm_accuracy"]["scores"]["rouge1"] == 100.0
    s, tok = perf.body["serving"], perf.body["tokens"]
    assert s["failed_requests"] == 0 and s["servers"][0]["software"].startswith("triton")
    words = [len(r.split()) for r in embedded().references]  # one token per word: a chunk each, or counted
    assert min(words) * s["requests"] <= tok["token_count"] <= max(words) * s["requests"]
    assert s["output_tokens_from"] == ("counted chunks" if stream else "local tokenizer")
    if stream:  # a response per word, some apart in time (a loaded client may read several in one go)
        itl = s["inter_token_latency_ms"]
        assert itl is not None and itl["max"] > 0


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_the_request_settings_reach_triton_as_parameters(triton, tmp_path, transport):
    """``--max-tokens`` travels as the ``max_tokens`` request parameter (JSON over HTTP, a typed parameter over
    gRPC), and the model stops there: every streamed answer is cut to that many words."""
    from mlmeter.serving.prompts import embedded

    if transport == "grpc":
        pytest.importorskip("tritonclient.grpc")
    assert min(len(r.split()) for r in embedded().references) > 3  # so a cut answer is shorter than a whole one
    code = main(["serve", "--endpoint", triton[transport], "--model", "copy_llm", "--api", "generate", "--scenario",
                 "Offline", "--max-tokens", "3", "--qps", "150", "--min-duration-ms", "500", "--min-query-count",
                 "32", "--output", str(tmp_path / "p"), "--quiet"])
    perf = record(tmp_path / "p")
    assert code in (0, 1) and perf.body["serving"]["failed_requests"] == 0
    assert perf.body["tokens"]["token_count"] == 3 * perf.body["serving"]["requests"]


def test_a_triton_grpc_model_that_is_not_there_is_one_line(triton, tmp_path, capsys):
    pytest.importorskip("tritonclient.grpc")
    code = main(["serve", "--endpoint", triton["grpc"], "--model", "nope", "--api", "generate", "--output",
                 str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "model 'nope' is not ready" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_kserve_model_that_is_not_served_is_refused_naming_it(mlserver, tmp_path, capsys, protocol):
    if protocol == "grpc":
        pytest.importorskip("tritonclient.grpc")
    code = main(["infer", "--backend", "kserve", "--backend-option", f"url={mlserver[protocol]}", "--backend-option",
                 "model=resnet", "--model", "digits", "--output", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "model 'resnet'" in err and len(err.strip().splitlines()) == 1


def test_a_kserve_server_that_is_not_there_is_one_line(tmp_path, capsys):
    code = main(["infer", "--backend", "kserve", "--backend-option", "url=http://127.0.0.1:9", "--model", "digits",
                 "--output", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "is a KServe v2 server listening there?" in err and "Traceback" not in err
    assert main(["infer", "--backend", "kserve", "--model", "digits", "--output", str(tmp_path / "b"), "--quiet"]) == 2
    assert "--backend-option url=" in capsys.readouterr().err
    if importlib.util.find_spec("tritonclient") is not None:
        code = main(["infer", "--backend", "kserve", "--backend-option", "url=grpc://127.0.0.1:9", "--backend-option",
                     "timeout_s=5", "--model", "digits", "--output", str(tmp_path / "g"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "is a KServe v2 gRPC server listening there?" in err and "Traceback" not in err


def _word_tokenizer(path: Path) -> Path:
    """A word-level tokenizer.json: one token per whitespace-separated word."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from mlmeter.serving.prompts import embedded

    words = {w for s in embedded().references or [] for w in s.split()}
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(sorted(words) + ["[UNK]"])}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(path))
    return path


@pytest.mark.parametrize("stream", [True, False])
def test_triton_generate_extension_runs_under_the_loadgen(tmp_path, stream):
    """Streamed: a token per chunk; whole replies (no usage in the generate extension): a local tokenizer counts."""
    pytest.importorskip("aiohttp")
    from mlmeter.serving.mock import MockServer, MockSettings
    from mlmeter.serving.prompts import embedded

    how = [] if stream else ["--no-stream", "--tokenizer", str(_word_tokenizer(tmp_path / "tokenizer.json"))]
    with MockServer(MockSettings(ttft_s=0.01, itl_s=0.002, tokens=64, echo=True)) as m:
        code = main(["serve", "--endpoint", m.url, "--model", "mock-llm", "--api", "generate", "--scenario", "Server",
                     "--qps", "30", "--min-duration-ms", "1000", "--min-query-count", "20", "--output",
                     str(tmp_path / "g"), "--quiet", *how])
        bad = main(["serve", "--endpoint", m.url, "--model", "other", "--api", "generate", "--output",
                    str(tmp_path / "x"), "--quiet"])
    rec = record(tmp_path / "g")
    s, tok = rec.body["serving"], rec.body["tokens"]
    assert code in (0, 1) and s["failed_requests"] == 0 and s["api"] == "generate"
    assert s["output_tokens_from"] == ("counted chunks" if stream else "local tokenizer")
    words = [len(r.split()) for r in embedded().references]
    assert min(words) * s["requests"] <= tok["token_count"] <= max(words) * s["requests"]  # one token per word
    if stream:  # the mock's 10 ms TTFT, measured from the schedule
        assert tok["ttft"]["p50"] >= 10e6 and s["inter_token_latency_ms"]["p50"] >= 1.5
    assert bad == 2 and not (tmp_path / "x").exists()


def test_grpc_without_its_extra_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tritonclient.grpc", None)  # what an environment without the extra imports
    monkeypatch.delitem(sys.modules, "mlmeter.backends.kserve_grpc", raising=False)
    code = main(["infer", "--backend", "kserve", "--backend-option", "url=grpc://127.0.0.1:9", "--model", "digits",
                 "--output", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'mlmeter[kserve-grpc]'" in err and len(err.strip().splitlines()) == 1
    monkeypatch.delitem(sys.modules, "mlmeter.serving.triton_grpc", raising=False)
    code = main(["serve", "--endpoint", "grpc://127.0.0.1:9", "--model", "m", "--api", "generate", "--output",
                 str(tmp_path / "s"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'mlmeter[kserve-grpc]'" in err and len(err.strip().splitlines()) == 1
