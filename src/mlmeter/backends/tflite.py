"""TensorFlow Lite / LiteRT: ``ai_edge_litert`` (or ``tflite_runtime``) interpreters, one per calling thread."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.backends.base import BackendError, BackendOptions, LoadedModel, MissingExtra, TensorInfo


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise MissingExtra("tflite", "tflite", "ai_edge_litert") from exc
    return Interpreter


class TfLiteBackend:
    """Interpreters are not thread-safe, so each worker thread owns one; inputs are resized to the batch."""

    name = "tflite"
    preferred_layout = "NHWC"
    thread_safe = True

    def __init__(self) -> None:
        self._cls = _interpreter_class()
        module = self._cls.__module__.split(".")[0]
        self.version = str(getattr(__import__(module), "__version__", "unknown"))
        self._local = threading.local()
        self._path = ""
        self._threads: int | None = None

    def _new(self) -> Any:
        try:
            return self._cls(model_path=self._path, num_threads=self._threads)
        except Exception as exc:
            raise BackendError(f"tflite cannot load {self._path}: {exc}") from exc

    def load(self, path: Path, options: BackendOptions) -> LoadedModel:
        if not Path(path).is_file():
            raise BackendError(f"model file {path} does not exist")
        if options.device != "cpu":
            raise BackendError("tflite: only --device cpu is supported")
        self._path, self._threads = str(path), options.intra_op_threads or None
        it = self._new()
        self._local.it = it
        det = [TensorInfo(d["name"], np.dtype(d["dtype"]).name, tuple(int(x) for x in d["shape"]))
               for d in it.get_input_details()]
        out = [TensorInfo(d["name"], np.dtype(d["dtype"]).name, tuple(int(x) for x in d["shape"]))
               for d in it.get_output_details()]
        return LoadedModel(str(path), tuple(det), tuple(out), {"num_threads": self._threads or "default"})

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        it = getattr(self._local, "it", None)
        if it is None:
            it = self._local.it = self._new()
        values = list(feeds.values())
        details = it.get_input_details()
        shapes = tuple(v.shape for v in values)
        if getattr(self._local, "shapes", None) != shapes:
            for d, v in zip(details, values, strict=True):
                it.resize_tensor_input(d["index"], v.shape)
            it.allocate_tensors()
            self._local.shapes = shapes
        for d, v in zip(details, values, strict=True):
            it.set_tensor(d["index"], v)
        it.invoke()
        return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]

    def close(self) -> None:
        self._local = threading.local()
