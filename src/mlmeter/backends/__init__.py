"""Inference runtimes behind one ``Backend`` contract; each runtime is an optional extra."""

from __future__ import annotations

import importlib

from mlmeter.backends.base import Backend, BackendError, BackendOptions, LoadedModel, MissingExtra, TensorInfo

# backend name -> (module, class)
_REGISTRY = {
    "onnxruntime": ("mlmeter.backends.onnxruntime", "OnnxRuntimeBackend"),
    "pytorch": ("mlmeter.backends.pytorch", "TorchBackend"),
    "openvino": ("mlmeter.backends.openvino", "OpenVinoBackend"),
    "tflite": ("mlmeter.backends.tflite", "TfLiteBackend"),
    "null": ("mlmeter.backends.null", "NullBackend"),
    "kserve": ("mlmeter.backends.kserve", "KServeBackend"),
    "simulated": ("mlmeter.backends.simulated", "SimulatedBackend"),
}
BACKEND_NAMES = tuple(_REGISTRY)


def create_backend(name: str) -> Backend:
    """A new backend of the given name; raises ``MissingExtra`` when its runtime is not installed."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; valid backends: {', '.join(BACKEND_NAMES)}")
    module, cls = _REGISTRY[name]
    backend: Backend = getattr(importlib.import_module(module), cls)()
    return backend


__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendError",
    "BackendOptions",
    "LoadedModel",
    "MissingExtra",
    "TensorInfo",
    "create_backend",
]
