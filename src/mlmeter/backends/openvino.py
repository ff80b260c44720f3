"""OpenVINO: reads ONNX or OpenVINO IR (``.xml``) models and compiles them for a device (CPU, GPU, NPU, AUTO)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.backends.base import BackendError, BackendOptions, LoadedModel, MissingExtra, TensorInfo


def _info(port: Any, fallback: str) -> TensorInfo:
    names = port.get_names()
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    dtype = port.get_element_type().to_dtype().name
    return TensorInfo(sorted(names)[0] if names else fallback, dtype, shape)


class OpenVinoBackend:
    """One compiled model; each calling thread gets its own infer request (requests are not thread-safe)."""

    name = "openvino"
    preferred_layout = "NCHW"
    thread_safe = True

    def __init__(self) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise MissingExtra(self.name, "openvino", "openvino") from exc
        self._ov = ov
        self.version = str(ov.get_version())
        self._compiled: Any = None
        self._local = threading.local()

    def _precision(self) -> str:
        """The precision OpenVINO computes in (bf16 by default on CPUs with AMX or AVX-512 BF16, whatever the
        model's)."""
        try:
            value = self._compiled.get_property("INFERENCE_PRECISION_HINT")
            return str(value.to_string() if hasattr(value, "to_string") else value)
        except Exception:  # noqa: BLE001 -- a device without the property: the model's own precision
            return "the model's"

    def load(self, path: Path, options: BackendOptions) -> LoadedModel:
        if not Path(path).is_file():
            raise BackendError(f"model file {path} does not exist")
        core = self._ov.Core()
        device = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU", "auto": "AUTO"}.get(options.device, options.device)
        if device not in ("AUTO", *core.available_devices):
            raise BackendError(f"openvino: device {device} not available (available: {', '.join(core.available_devices)})")
        config: dict[str, Any] = {}
        if options.intra_op_threads:
            config["INFERENCE_NUM_THREADS"] = options.intra_op_threads
        config.update(options.extra)
        try:
            model = core.read_model(str(path))
            self._compiled = core.compile_model(model, device, config)
        except Exception as exc:
            raise BackendError(f"openvino cannot load {path}: {exc}") from exc
        return LoadedModel(
            path=str(path),
            inputs=tuple(_info(p, f"input{i}") for i, p in enumerate(self._compiled.inputs)),
            outputs=tuple(_info(p, f"output{i}") for i, p in enumerate(self._compiled.outputs)),
            settings={"device": device, "config": {k: str(v) for k, v in config.items()},
                      "inference_precision": self._precision()},
        )

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        req = getattr(self._local, "request", None)
        if req is None:
            req = self._local.request = self._compiled.create_infer_request()
        result = req.infer(list(feeds.values()))
        return [np.asarray(result[o]) for o in self._compiled.outputs]

    def close(self) -> None:
        self._compiled = None
