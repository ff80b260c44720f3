"""The ``Backend`` contract every inference runtime implements, and its frozen options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mlmeter.errors import MlmeterError


class BackendError(MlmeterError):
    """A backend cannot be created or cannot load/run the model; the message says what to do."""


class MissingExtra(BackendError):
    """The runtime of a backend is not installed; names the pip extra that installs it."""

    def __init__(self, backend: str, extra: str, module: str) -> None:
        super().__init__(
            f"backend {backend!r} needs the Python module {module!r}, which is not installed; "
            f"install it with: pip install 'mlmeter[{extra}]'"
        )
        self.extra = extra


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type (NumPy dtype name) and shape of a model input or output; None for a dynamic axis."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]


@dataclass(frozen=True)
class BackendOptions:
    """How a backend runs: device, thread pools, runtime-specific switches. Recorded in ``result.json``."""

    device: str = "cpu"
    intra_op_threads: int = 0
    """Threads inside one inference (0: the runtime's default, usually the number of cores)."""
    inter_op_threads: int = 0
    providers: tuple[str, ...] = ()
    """ONNX Runtime execution providers in priority order (empty: chosen from ``device``)."""
    compile: bool = False
    """PyTorch: wrap the model in ``torch.compile``."""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedModel:
    """What a backend reports after loading: signature and the settings it actually applied."""

    path: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    settings: Mapping[str, Any]


@runtime_checkable
class Backend(Protocol):
    """Runs a model on batches. ``predict`` may be called from several threads at once unless
    ``thread_safe`` is False (the harness then serialises calls)."""

    name: str
    version: str
    preferred_layout: str  # "NCHW" or "NHWC"
    thread_safe: bool

    def load(self, path: Path, options: BackendOptions) -> LoadedModel: ...

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]: ...

    def close(self) -> None: ...
