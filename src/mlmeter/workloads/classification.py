"""Top-1 classification shared by the image workloads: arg-max post-processing and the official scoring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mlmeter import events
from mlmeter.backends.base import LoadedModel
from mlmeter.workloads.base import AccuracyMetric, AccuracyReport, Dataset, Feeder, QualityTarget, WorkloadError


def top1_report(responses: Mapping[int, bytes], labels: np.ndarray, target: QualityTarget,
                duplicates: int) -> AccuracyReport:
    """Score like ``accuracy-imagenet.py``: the first float32 of each response, truncated, against the label
    at the sample's QSL position; ``accuracy=…%, good=…, total=…``."""
    if not responses:
        raise WorkloadError("the accuracy log holds no samples; nothing to score")
    good = 0
    for idx, data in responses.items():
        if not data:
            continue  # an empty response (failed inference) counts as wrong
        if int(np.frombuffer(data, dtype=np.float32)[0]) == int(labels[idx]):
            good += 1
    total = len(responses)
    value = 100.0 * good / total
    text = f"accuracy={value:.3f}%, good={good}, total={total}\n"
    metric = AccuracyMetric(target.metric, round(value, 3), round(target.threshold, 5), value >= target.threshold)
    return AccuracyReport((metric,), text, total, duplicates)


class Classifier:
    """Feeds one image tensor; reads a class-index output (``ArgMax:0``) or arg-maxes a score matrix.

    The class offset follows the official convention: models with 1001 outputs (index 0 = background) and
    the TF/ONNX ``ArgMax:0`` output are shifted by −1; 1000-class models are not.
    """

    name: str
    target: QualityTarget
    sample_shape: tuple[int, ...] = ()
    response_dtype = "float32"
    """The class index, as a float32 (the reference harness's response)."""

    def __init__(self) -> None:
        self._output = 0
        self._argmax_done = False

    def bind(self, model: LoadedModel) -> Feeder:
        name = self._check(model)
        return lambda batch: {name: batch}

    def _check(self, model: LoadedModel) -> str:
        if not model.inputs:  # runtimes that do not expose a signature (PyTorch)
            self._output, self._argmax_done = 0, False
            return "input"
        if len(model.inputs) != 1:
            names = ", ".join(i.name for i in model.inputs)
            raise WorkloadError(f"{model.path}: expected one image input, the model has {len(model.inputs)} ({names})")
        inp = model.inputs[0]
        if len(inp.shape) != len(self.sample_shape) + 1 or not inp.dtype.startswith("float"):
            raise WorkloadError(
                f"{model.path}: input {inp.name!r} is {inp.dtype}{list(inp.shape)}; this workload feeds "
                f"float32[N, {', '.join(map(str, self.sample_shape))}]"
            )
        fixed = [d for d in inp.shape[1:] if d is not None]
        if fixed and tuple(d for d in inp.shape[1:]) != self.sample_shape and sorted(fixed) != sorted(self.sample_shape):
            raise WorkloadError(
                f"{model.path}: input {inp.name!r} has shape {list(inp.shape)}, expected [N, "
                f"{', '.join(map(str, self.sample_shape))}] (check --data-format)"
            )
        out_names = [o.name for o in model.outputs]
        if "ArgMax:0" in out_names:
            self._output, self._argmax_done = out_names.index("ArgMax:0"), True
            return inp.name
        for k, o in enumerate(model.outputs):
            if len(o.shape) == 2:
                self._output, self._argmax_done = k, False
                return inp.name
        shapes = ", ".join(f"{o.name}{list(o.shape)}" for o in model.outputs)
        raise WorkloadError(f"{model.path}: no class-index or [N, classes] score output among: {shapes}")

    def postprocess(self, outputs: Sequence[np.ndarray]) -> np.ndarray:
        out = outputs[self._output]
        if self._argmax_done:
            cls, offset = out.reshape(len(out), -1)[:, 0].astype(np.int64), -1
        else:
            scores = out.reshape(len(out), -1)
            cls, offset = scores.argmax(axis=1), (-1 if scores.shape[1] == 1001 else 0)
        return (cls + offset).astype(np.float32).reshape(-1, 1)

    def evaluate(self, responses: Mapping[int, bytes], dataset: Dataset, duplicates: int,
                 observer: events.Observer = events.SILENT) -> AccuracyReport:
        return top1_report(responses, dataset.labels, self.target, duplicates)
