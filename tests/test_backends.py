"""Backends: one contract, clear errors, the same numbers from every runtime."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mlmeter.backends import BackendError, BackendOptions, MissingExtra, create_backend
from mlmeter.workloads.digits import DigitsDataset, data_file

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def digits_batch():
    ds = DigitsDataset(40)
    return np.stack([ds.preprocess(i) for i in range(len(ds))])


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(BackendError, match="valid backends: onnxruntime, pytorch, openvino, tflite, null, kserve, simulated"):
        create_backend("tensorrt-llm")


def test_missing_runtime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(MissingExtra, match=r"pip install 'mlmeter\[onnxruntime\]'"):
        create_backend("onnxruntime")


def test_onnxruntime_signature_settings_and_errors(tmp_path, digits_batch):
    b = create_backend("onnxruntime")
    m = b.load(data_file("digits_fp32.onnx"), BackendOptions(intra_op_threads=1))
    assert [(t.name, t.dtype, t.shape) for t in m.inputs] == [("pixels", "float32", (None, 64))]
    assert m.settings["providers"] == ["CPUExecutionProvider"] and m.settings["intra_op_threads"] == 1
    assert b.predict({"pixels": digits_batch})[0].shape == (40, 10)
    with pytest.raises(BackendError, match="does not exist"):
        b.load(tmp_path / "nope.onnx", BackendOptions())
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(BackendError, match="cannot load"):
        b.load(bad, BackendOptions())
    with pytest.raises(BackendError, match="not available in this onnxruntime build"):
        b.load(data_file("digits_fp32.onnx"), BackendOptions(device="gpu"))
    with pytest.raises(BackendError, match="unknown device"):
        b.load(data_file("digits_fp32.onnx"), BackendOptions(device="abacus"))


def _reference(batch):
    b = create_backend("onnxruntime")
    b.load(data_file("digits_fp32.onnx"), BackendOptions())
    return b.predict({"pixels": batch})[0]


def test_pytorch_matches_onnxruntime(tmp_path, digits_batch):
    torch = pytest.importorskip("torch")
    from mlmeter.workloads.digits import _torch_module

    b = create_backend("pytorch")
    m = b.load(tmp_path / "unused", BackendOptions(intra_op_threads=1, extra={"torch_module": _torch_module}))
    got = b.predict({"input": digits_batch})[0]
    np.testing.assert_allclose(got, _reference(digits_batch), rtol=1e-4, atol=1e-4)
    assert m.settings["format"].startswith("module built")
    exported = tmp_path / "digits.pt2"
    program = torch.export.export(_torch_module(exported), (torch.from_numpy(digits_batch),))
    torch.export.save(program, str(exported))
    b2 = create_backend("pytorch")
    assert b2.load(exported, BackendOptions()).settings["format"] == "torch.export program"
    np.testing.assert_allclose(b2.predict({"x": digits_batch})[0], got, rtol=1e-6)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(BackendError, match="pickled modules are not loaded"):
        create_backend("pytorch").load(junk, BackendOptions())


def test_openvino_matches_onnxruntime(digits_batch):
    pytest.importorskip("openvino")
    b = create_backend("openvino")
    exact = {"INFERENCE_PRECISION_HINT": "f32"}  # the CPU plugin may otherwise pick bf16
    m = b.load(data_file("digits_fp32.onnx"), BackendOptions(intra_op_threads=1, extra=exact))
    assert m.inputs[0].name == "pixels" and m.settings["device"] == "CPU"
    assert m.settings["inference_precision"] == "f32"  # the record says what OpenVINO computed in
    np.testing.assert_allclose(b.predict({"pixels": digits_batch})[0], _reference(digits_batch), rtol=1e-4, atol=1e-4)


def test_simulated_backend_takes_the_modelled_time():
    import time

    b = create_backend("simulated")
    b.load(data_file("digits_fp32.onnx"), BackendOptions(extra={"fixed_ms": 5, "per_sample_ms": 1}))
    t0 = time.perf_counter()
    out = b.predict({"x": np.zeros((10, 64), np.float32)})
    assert time.perf_counter() - t0 >= 0.015 and out[0].shape == (10, 1)


def test_tflite_matches_onnxruntime(tmp_path, digits_batch):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tflite")
    from tests.models import digits_tflite

    model = digits_tflite(tmp_path / "digits.tflite")
    b = create_backend("tflite")
    m = b.load(model, BackendOptions(intra_op_threads=1))
    assert m.inputs[0].name == "pixels" and m.outputs[0].shape == (1, 10)
    np.testing.assert_allclose(b.predict({"pixels": digits_batch})[0], _reference(digits_batch), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.predict({"pixels": digits_batch[:3]})[0], _reference(digits_batch[:3]), rtol=1e-4,
                               atol=1e-4)  # a different batch size re-allocates
