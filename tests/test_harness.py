"""The inference harness end to end: files, accuracy, sharing, batching, failures."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mlmeter.inference import InferConfig, prepare, run_inference, run_scenario
from mlmeter.inference import qsl as qsl_module
from mlmeter.inference.sut import BatchingPolicy, InferenceSUT, ServiceTime, measure_offline_rate
from mlmeter.loadgen import TestScenario
from mlmeter.workloads import WorkloadError

from .records import body, record  # noqa: F401

ort = pytest.importorskip("onnxruntime")
S = TestScenario


def test_digits_accuracy_run_writes_official_files_and_result(tmp_path):
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(S.Offline,), mode="accuracy", output=tmp_path)
    (o,) = run_inference(cfg)
    assert o.outdir == tmp_path / "Offline" / "accuracy"
    for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "accuracy.txt"):
        assert (o.outdir / f).is_file()
    rec = record(o.outdir)
    doc = rec.body
    assert rec.kind == "inference" and doc["benchmark"] == "digits"
    assert rec.verdict.value == "VALID" and doc["mode"] == "accuracy"
    (acc,) = doc["accuracy"]
    assert acc["pass"] and acc["value"] == pytest.approx(97.556, abs=1e-3)
    assert acc["threshold"] == pytest.approx(97.556 * 0.99, abs=1e-3)
    assert (o.outdir / "accuracy.txt").read_text() == "accuracy=97.556%, good=439, total=450\n"
    for key in ("config_name", "effective_min_duration_ms", "effective_min_query_count", "summary",
                "early_stopping_met", "scenario_key"):
        assert key in doc
    assert rec.system["logical_cores"] >= 1 and doc["backend"]["settings"]["providers"]


def test_performance_runs_share_model_and_preprocessing(tmp_path):
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(S.Offline, S.SingleStream),
                      time_s=0.5, auto_targets=True, output=tmp_path, cache_dir=tmp_path / "cache")
    outs = run_inference(cfg)
    docs = [o.document for o in outs]
    assert [d["scenario_key"] for d in docs] == ["result_samples_per_second", "result_90.00_percentile_latency_ns"]
    assert docs[0]["scenario_value"] > 0 and docs[1]["scenario_value"] > 0
    assert docs[-1]["harness"]["preprocessed"] == 450  # every sample pre-processed once for both scenarios
    again = run_inference(dataclasses.replace(cfg, scenarios=(S.Offline,), output=tmp_path / "again"))
    assert again[0].document["harness"]["preprocessed"] == 0
    assert again[0].document["harness"]["cache_hits"] >= 450


def _tiny_imagenet(tmp_path: Path, count: int = 12, **kw):
    from mlmeter.workloads.fake_imagenet import make_fake_imagenet
    from tests.models import imagenet_classifier

    make_fake_imagenet(tmp_path / "data", count, seed=5)
    return tmp_path / "data", imagenet_classifier(tmp_path / "model.onnx", **kw)


@pytest.mark.parametrize("argmax", [True, False])
def test_imagenet_accuracy_matches_an_independent_computation(tmp_path, argmax):
    pytest.importorskip("cv2")
    pytest.importorskip("onnx")
    import cv2

    from mlmeter.workloads.imagenet import preprocess_vgg, read_val_map

    data, model = _tiny_imagenet(tmp_path, classes=1001 if argmax else 1000, argmax_output=argmax)
    names, labels = read_val_map(data / "val_map.txt", None)
    # make the labels partly right: label = the model's own class for even images
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = np.stack([preprocess_vgg(cv2.imread(str(data / n)), "NCHW") for n in names])
    scores = sess.run(["softmax_tensor:0"], {"input_tensor:0": x})[0]
    predicted = scores.argmax(1) - (1 if argmax else 0)
    labels = np.where(np.arange(len(names)) % 2 == 0, predicted, (predicted + 1) % 1000)
    (data / "val_map.txt").write_text("".join(f"{n} {int(v)}\n" for n, v in zip(names, labels, strict=True)))
    cfg = InferConfig(backend="onnxruntime", model="resnet50", scenarios=(S.SingleStream,), mode="accuracy",
                      dataset_path=data, model_path=model, output=tmp_path / "out", max_batchsize=4)
    (o,) = run_inference(cfg)
    good = int((predicted == labels).sum())
    assert (o.outdir / "accuracy.txt").read_text() == f"accuracy={100 * good / len(names):.3f}%, good={good}, total={len(names)}\n"
    assert o.document["accuracy"][0]["threshold"] == pytest.approx(75.6954, abs=1e-4)


def test_wrong_model_signature_is_refused(tmp_path):
    pytest.importorskip("onnx")
    from tests.models import imagenet_classifier

    model = imagenet_classifier(tmp_path / "m.onnx")
    cfg = InferConfig(backend="onnxruntime", model="digits", model_path=model, output=tmp_path)
    with pytest.raises(WorkloadError, match=r"input 'input_tensor:0' is float32\[None, 3, 224, 224\]"):
        prepare(cfg)


def test_crashing_inference_ends_invalid_with_reason_and_files(tmp_path):
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(S.Offline,), time_s=0.3,
                      auto_targets=True, output=tmp_path)
    p = prepare(cfg)
    calls = {"n": 0}
    real = p.backend.predict

    def flaky(feeds):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("device lost")
        return real(feeds)

    p.backend.predict = flaky  # type: ignore[method-assign]
    o = run_scenario(p, S.Offline)
    p.close()
    assert o.verdict == "INVALID"
    assert any("inference failed: RuntimeError: device lost" in r for r in o.record.reasons)
    assert "INVALID" in (o.outdir / "mlperf_log_summary.txt").read_text()
    assert record(o.outdir).verdict.value == "INVALID"


def test_accuracy_below_target_is_invalid(tmp_path):
    cfg = InferConfig(backend="null", model="digits", scenarios=(S.Offline,), mode="accuracy", output=tmp_path)
    (o,) = run_inference(cfg)
    assert o.verdict == "INVALID" and not o.document["accuracy"][0]["pass"]
    assert "below the target" in o.record.reasons[0]


def test_preload_that_does_not_fit_says_how_many_fit(tmp_path, monkeypatch):
    monkeypatch.setattr(qsl_module, "available_memory", lambda: 100 * 256)  # room for ~90 digits samples
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(S.Offline,), time_s=0.3, output=tmp_path)
    p = prepare(cfg)  # the 32 warm-up samples fit
    with pytest.raises(WorkloadError, match=r"out of memory while preloading: 450 samples .* about 90 samples fit"):
        run_scenario(p, S.Offline)
    p.close()


def test_batcher_holds_a_partial_batch_only_within_the_latency_budget():
    class Comp:
        def __init__(self):
            self.done = []

        def complete(self, ids, responses=None):
            self.done.append(len(ids))

    served = []

    def run(idx):
        served.append(len(idx))
        return np.zeros((len(idx), 1), np.float32)

    policy = BatchingPolicy(max_batch=8, max_wait_ns=10_000_000_000, budget_ns=50_000_000)
    service = ServiceTime(10_000_000, 1_000_000)  # 10 ms + 1 ms per sample
    sut = InferenceSUT(run, direct=False, policy=policy, workers=1, service=service, name="t")  # type: ignore[arg-type]
    comp = Comp()
    sut.start(comp)  # type: ignore[arg-type]

    t0 = time.perf_counter()
    sut.issue(np.array([1]), np.array([0]))
    while not comp.done:
        time.sleep(0.001)
    held = time.perf_counter() - t0
    sut.close()
    # released at budget (50 ms) minus the estimated service of a 2-sample batch (12 ms), not after 10 s
    assert 0.030 <= held < 0.5 and served == [1]


def test_batcher_forms_full_batches_under_load():
    served = []

    def run(idx):
        served.append(len(idx))
        return np.zeros((len(idx), 1), np.float32)

    class Comp:
        def complete(self, ids, responses=None):
            pass

    policy = BatchingPolicy(max_batch=4, max_wait_ns=0, budget_ns=0)
    sut = InferenceSUT(run, direct=False, policy=policy, workers=1, service=ServiceTime(0, 0), name="t")  # type: ignore[arg-type]
    sut.start(Comp())  # type: ignore[arg-type]
    sut.issue(np.arange(10), np.arange(10))  # one Offline-like query
    sut.flush()

    deadline = time.monotonic() + 5
    while sum(served) < 10 and time.monotonic() < deadline:
        time.sleep(0.001)
    sut.close()
    assert served == [4, 4, 2]


def test_corrupt_image_ends_the_run_invalid_naming_the_file(tmp_path):
    pytest.importorskip("cv2")
    pytest.importorskip("onnx")
    data, model = _tiny_imagenet(tmp_path, count=6)
    victim = sorted((data / "val").iterdir())[3]
    victim.write_bytes(b"\xff\xd8 truncated")
    cfg = InferConfig(backend="onnxruntime", model="resnet50", scenarios=(S.Offline,), mode="accuracy",
                      dataset_path=data, model_path=model, output=tmp_path / "out", max_batchsize=2)
    (o,) = run_inference(cfg)
    assert o.verdict == "INVALID"
    assert any("cannot decode the image" in r and victim.name in r for r in o.record.reasons)
    assert (o.outdir / "mlperf_log_detail.txt").is_file() and (o.outdir / "result.json").is_file()


def test_failing_warm_up_is_a_clear_error(tmp_path, monkeypatch):
    from mlmeter.backends import BackendError
    from mlmeter.backends.onnxruntime import OnnxRuntimeBackend

    def broken(self, feeds):
        raise RuntimeError("kernel not implemented")

    monkeypatch.setattr(OnnxRuntimeBackend, "predict", broken)
    cfg = InferConfig(backend="onnxruntime", model="digits", output=tmp_path)
    with pytest.raises(BackendError, match="warm-up inference on onnxruntime failed: RuntimeError: kernel not"):
        prepare(cfg)


def test_multistream_splits_queries_and_scores_each_sample_once(tmp_path):
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(S.MultiStream,), mode="accuracy",
                      max_batchsize=3, output=tmp_path)
    (o,) = run_inference(cfg)
    assert o.document["harness"]["mean_batch_size"] < 3.0  # 8-sample queries run as 3 + 3 + 2
    assert (o.outdir / "accuracy.txt").read_text() == "accuracy=97.556%, good=439, total=450\n"


def _probe(run, workers=1, **kw):
    return measure_offline_rate(run, ServiceTime(0, 500_000), max_batch=8, workers=workers, available=8, **kw)


def test_the_offline_probe_measures_the_sut_in_full_batches_across_workers():
    def runner(batch_s, served):
        def run(idx):
            served.append(len(idx))
            time.sleep(batch_s)  # the model's service time
            return np.zeros((len(idx), 1), np.float32)
        return run

    one, two = [], []
    rate1 = _probe(runner(0.005, one), seconds=0.05)
    rate2 = _probe(runner(0.005, two), workers=2, seconds=0.05)
    assert set(one) == {8} and set(two) == {8}  # full batches only
    assert len(one) >= 3 * 2 and len(two) >= 3 * 4  # every repeat, two batches per worker at least
    assert 0 < rate1 <= 8 / 0.005  # never faster than the model
    assert rate2 > 1.3 * rate1  # the second worker serves in parallel


def test_the_offline_probe_raises_the_inference_failure():
    def run(idx):
        raise ValueError("bad tensor")

    with pytest.raises(RuntimeError, match="inference failed: ValueError: bad tensor"):
        _probe(run)


def test_the_offline_probe_gives_up_on_a_hung_backend():
    release = threading.Event()

    def run(idx):
        release.wait(30)
        return np.zeros((len(idx), 1), np.float32)

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="no sample completed for 0.3 s"):
        _probe(run, idle_timeout_s=0.3)
    release.set()
    assert time.monotonic() - t0 < 10
