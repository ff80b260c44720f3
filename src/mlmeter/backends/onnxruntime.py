"""ONNX Runtime: CPU, and the CUDA / TensorRT / OpenVINO / CoreML execution providers when installed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.backends.base import BackendError, BackendOptions, LoadedModel, MissingExtra, TensorInfo

_DEVICE_PROVIDERS = {
    "cpu": ("CPUExecutionProvider",),
    "gpu": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "openvino": ("OpenVINOExecutionProvider", "CPUExecutionProvider"),
    "rocm": ("ROCMExecutionProvider", "CPUExecutionProvider"),
    "coreml": ("CoreMLExecutionProvider", "CPUExecutionProvider"),
}
_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def _info(arg: Any) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorInfo(arg.name, _ORT_TYPES.get(arg.type, arg.type), shape)


class OnnxRuntimeBackend:
    """One ``InferenceSession`` shared by all worker threads (``run`` is thread-safe in ONNX Runtime)."""

    name = "onnxruntime"
    preferred_layout = "NCHW"
    thread_safe = True

    def __init__(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingExtra(self.name, "onnxruntime", "onnxruntime") from exc
        self._ort = ort
        self.version = str(ort.__version__)
        self._session: Any = None
        self._outputs: list[str] = []

    def load(self, path: Path, options: BackendOptions) -> LoadedModel:
        ort = self._ort
        if not Path(path).is_file():
            raise BackendError(f"model file {path} does not exist")
        wanted = options.providers or _DEVICE_PROVIDERS.get(options.device)
        if wanted is None:
            raise BackendError(
                f"onnxruntime: unknown device {options.device!r}; valid devices: {', '.join(_DEVICE_PROVIDERS)}"
            )
        available = ort.get_available_providers()
        missing = [p for p in wanted if p not in available]
        if missing:
            raise BackendError(
                f"onnxruntime: execution provider(s) {', '.join(missing)} are not available in this onnxruntime "
                f"build (available: {', '.join(available)}); install the matching onnxruntime package "
                "(e.g. onnxruntime-gpu, onnxruntime-openvino) or choose --device cpu"
            )
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if options.intra_op_threads:
            so.intra_op_num_threads = options.intra_op_threads
        if options.inter_op_threads:
            so.inter_op_num_threads = options.inter_op_threads
        for key, value in options.extra.items():
            so.add_session_config_entry(str(key), str(value))
        try:
            self._session = ort.InferenceSession(str(path), sess_options=so, providers=list(wanted))
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise BackendError(f"onnxruntime cannot load {path}: {exc}") from exc
        outputs = tuple(_info(o) for o in self._session.get_outputs())
        self._outputs = [o.name for o in outputs]
        return LoadedModel(
            path=str(path),
            inputs=tuple(_info(i) for i in self._session.get_inputs()),
            outputs=outputs,
            settings={
                "providers": list(self._session.get_providers()),
                "intra_op_threads": options.intra_op_threads or "default",
                "inter_op_threads": options.inter_op_threads or "default",
                "graph_optimization_level": "ORT_ENABLE_ALL",
                "session_config": {str(k): str(v) for k, v in options.extra.items()},
            },
        )

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        out: Sequence[np.ndarray] = self._session.run(self._outputs, feeds)
        return out

    def close(self) -> None:
        self._session = None
