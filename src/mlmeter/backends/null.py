"""A backend that runs nothing: zero outputs of the model's output signature, for harness-overhead tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mlmeter.backends.base import BackendOptions, LoadedModel, TensorInfo


class NullBackend:
    """Answers every batch with zeros shaped ``[batch, *output_shape]``; the model file is not read.

    The workload tells the output signature through ``BackendOptions.extra['outputs']`` (a list of
    TensorInfo); without it, one float32 output of shape [batch, 1].
    """

    name = "null"
    version = "0"
    preferred_layout = "NCHW"
    thread_safe = True

    def __init__(self) -> None:
        self._outputs: tuple[TensorInfo, ...] = (TensorInfo("output", "float32", (None, 1)),)
        self._inputs: tuple[TensorInfo, ...] = ()

    def load(self, path: Path, options: BackendOptions) -> LoadedModel:
        self._inputs = tuple(options.extra.get("inputs", ()))
        self._outputs = tuple(options.extra.get("outputs", self._outputs))
        return LoadedModel(str(path), self._inputs, self._outputs, {"note": "null backend: no inference"})

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        n = len(next(iter(feeds.values())))
        return [np.zeros((n, *(d or 1 for d in o.shape[1:])), dtype=o.dtype) for o in self._outputs]

    def close(self) -> None:
        pass
