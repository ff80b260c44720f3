"""The embedded default: handwritten digits (scikit-learn's 8×8 set) and a 64-48-10 MLP, FP32 and INT8.

Everything is in the package (kilobytes): the held-out images, the ONNX models and their weights, and the
FP32 reference accuracy measured by ``tools/train_digits.py``, which made them. The quality target is
MLPerf-style: 99 % of the FP32 reference, for both precisions.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.workloads.base import ModelSource, QualityTarget, WorkloadError
from mlmeter.workloads.classification import Classifier

_DATA = "data/digits"


def data_file(name: str) -> Path:
    return Path(str(resources.files("mlmeter.workloads").joinpath(f"{_DATA}/{name}")))


@cache
def metadata() -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(data_file("digits.json").read_text())
    return meta


class DigitsDataset:
    """The held-out split: ``preprocess`` scales the 0–16 pixels to [0, 1] as float32."""

    name = "digits-test"

    def __init__(self, count: int | None) -> None:
        with np.load(data_file("test.npz")) as z:
            images, labels = z["images"], z["labels"]
        n = len(images) if count is None else min(count, len(images))
        self.images = images[:n]
        self.labels = labels[:n]

    def __len__(self) -> int:
        return len(self.images)

    def key(self, i: int) -> str:
        return f"{i:05d}"

    def preprocess(self, i: int) -> np.ndarray:
        x: np.ndarray = self.images[i].astype(np.float32) / 16.0
        return x


def _torch_module(_: Path) -> Any:
    import torch

    with np.load(data_file("weights_fp32.npz")) as z:
        w1, b1, w2, b2 = (torch.from_numpy(z[k]) for k in ("w1", "b1", "w2", "b2"))
    hidden, output = torch.nn.Linear(64, w1.shape[1]), torch.nn.Linear(w1.shape[1], 10)
    with torch.no_grad():
        hidden.weight.copy_(w1.T)
        hidden.bias.copy_(b1)
        output.weight.copy_(w2.T)
        output.bias.copy_(b2)
    return torch.nn.Sequential(hidden, torch.nn.ReLU(), output)


class Digits(Classifier):
    """FP32 digits MLP."""

    name = "digits"
    loadgen_model = "digits"
    preprocessing_id = "digits-div16-v1"
    sample_shape = (64,)
    model_file = "digits_fp32.onnx"

    def __init__(self) -> None:
        super().__init__()
        ref = float(metadata()["fp32_accuracy"])
        self.target = QualityTarget("top-1 accuracy (%)", ref, 0.99, ref * 0.99)

    def model_source(self, backend: str) -> ModelSource | Path | None:
        if backend == "pytorch":
            return data_file("weights_fp32.npz")
        return data_file(self.model_file)

    def torch_module(self) -> Any:
        return _torch_module

    def open_dataset(self, path: Path | None, count: int | None, layout: str) -> DigitsDataset:
        if path is not None:
            raise WorkloadError("the digits workload is embedded; it takes no --dataset-path")
        return DigitsDataset(count)


class DigitsInt8(Digits):
    """The same model quantised to INT8 (static QDQ) with ONNX Runtime; judged against the FP32 reference."""

    name = "digits-int8"
    model_file = "digits_int8.onnx"

    def model_source(self, backend: str) -> ModelSource | Path | None:
        if backend == "pytorch":
            raise WorkloadError("digits-int8 is an ONNX QDQ model; run it with --backend onnxruntime or openvino")
        return data_file(self.model_file)

    def torch_module(self) -> Any:
        return None
