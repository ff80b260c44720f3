"""Train, export and quantise the embedded default model (reproducible; run from the repository root).

    pip install -e '.[tools]' && python tools/train_digits.py

Data: scikit-learn's handwritten digits (1797 8×8 images, values 0–16, ten classes). A fixed permutation
splits it 75/25; a 64-48-10 MLP is trained on the training part with full-batch Adam in float64 NumPy
(deterministic), exported to ONNX, and quantised to INT8 (static QDQ, calibrated on the training part) with
ONNX Runtime. Writes into src/mlmeter/workloads/data/digits/:

- ``digits_fp32.onnx``, ``digits_int8.onnx``, ``weights_fp32.npz`` (the same weights, for other runtimes)
- ``test.npz``: the held-out images (uint8) and labels, with their row numbers in scikit-learn's order
- ``digits.json``: split, seed, training settings and the accuracies measured with ONNX Runtime
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from sklearn.datasets import load_digits

OUT = Path("src/mlmeter/workloads/data/digits")
SEED = 20261122
HIDDEN = 48
EPOCHS = 600
LR = 0.01
L2 = 1e-4


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SEED).permutation(n)
    cut = int(n * 0.75)
    return np.sort(order[:cut]), np.sort(order[cut:])


def train(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(SEED)
    params = [rng.normal(0, np.sqrt(2 / 64), (64, HIDDEN)), np.zeros(HIDDEN),
              rng.normal(0, np.sqrt(2 / HIDDEN), (HIDDEN, 10)), np.zeros(10)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[y]
    for t in range(1, EPOCHS + 1):
        w1, b1, w2, b2 = params
        h = np.maximum(x @ w1 + b1, 0)
        z = h @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - onehot) / len(x)
        dh = (dz @ w2.T) * (h > 0)
        grads = [x.T @ dh + L2 * w1, dh.sum(0), h.T @ dz + L2 * w2, dz.sum(0)]
        for k, g in enumerate(grads):
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            params[k] -= LR * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
    return [p.astype(np.float32) for p in params]


def export(params: list[np.ndarray], path: Path) -> None:
    w1, b1, w2, b2 = params
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["pixels", "w1", "b1"], ["hidden_pre"]),
         helper.make_node("Relu", ["hidden_pre"], ["hidden"]),
         helper.make_node("Gemm", ["hidden", "w2", "b2"], ["logits"])],
        "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(a, n) for a, n in zip(params, ("w1", "b1", "w2", "b2"), strict=True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mlmeter")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


class Calibration(CalibrationDataReader):
    def __init__(self, x: np.ndarray) -> None:
        self._batches = iter([{"pixels": x[i : i + 64]} for i in range(0, len(x), 64)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pred = sess.run(None, {"pixels": x})[0].argmax(1)
    return float(100.0 * (pred == y).mean())


def main() -> None:
    digits = load_digits()
    images = digits.data.astype(np.uint8)
    labels = digits.target.astype(np.int64)
    tr, te = split(len(images))
    x_tr, x_te = images[tr].astype(np.float32) / 16, images[te].astype(np.float32) / 16
    params = train(x_tr.astype(np.float64), labels[tr])
    OUT.mkdir(parents=True, exist_ok=True)
    fp32, int8 = OUT / "digits_fp32.onnx", OUT / "digits_int8.onnx"
    export(params, fp32)
    quantize_static(str(fp32), str(int8), Calibration(x_tr), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    np.savez_compressed(OUT / "weights_fp32.npz", w1=params[0], b1=params[1], w2=params[2], b2=params[3])
    np.savez_compressed(OUT / "test.npz", images=images[te], labels=labels[te], rows=te)
    meta = {
        "dataset": "sklearn.datasets.load_digits",
        "sklearn_version": sklearn.__version__,
        "split": {"seed": SEED, "train": len(tr), "test": len(te)},
        "model": {"layers": [64, HIDDEN, 10], "activation": "relu", "epochs": EPOCHS, "lr": LR, "l2": L2},
        "preprocessing": "pixel / 16 as float32",
        "fp32_accuracy": round(accuracy(fp32, x_te, labels[te]), 3),
        "int8_accuracy": round(accuracy(int8, x_te, labels[te]), 3),
        "train_accuracy_fp32": round(accuracy(fp32, x_tr, labels[tr]), 3),
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in (fp32, int8, OUT / "test.npz", OUT / "weights_fp32.npz")},
    }
    (OUT / "digits.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
