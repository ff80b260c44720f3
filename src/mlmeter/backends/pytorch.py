"""PyTorch (eager, optionally ``torch.compile``): TorchScript files, exported programs (``.pt2``), or a module
built by the workload from its own weights."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.backends.base import BackendError, BackendOptions, LoadedModel, MissingExtra

_DEVICES = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "mps": "mps"}


class TorchBackend:
    """Feeds the inputs positionally (in the order of the feed mapping) under ``torch.inference_mode``."""

    name = "pytorch"
    preferred_layout = "NCHW"
    thread_safe = True

    def __init__(self) -> None:
        try:
            import torch
        except ImportError as exc:
            raise MissingExtra(self.name, "pytorch", "torch") from exc
        self._torch = torch
        self.version = str(torch.__version__)
        self._model: Any = None
        self._device = "cpu"

    def _read(self, path: Path, factory: Callable[[Path], Any] | None) -> tuple[Any, str]:
        torch = self._torch
        if factory is not None:
            return factory(path), "module built from the workload's weights"
        if not path.is_file():
            raise BackendError(f"model file {path} does not exist")
        try:
            if path.suffix == ".pt2":
                return torch.export.load(str(path)).module(), "torch.export program"
            return torch.jit.load(str(path), map_location="cpu"), "TorchScript"
        except Exception as exc:
            raise BackendError(
                f"pytorch cannot load {path}: {exc}. Expected a TorchScript file (torch.jit.save) or an "
                "exported program (.pt2, torch.export.save); pickled modules are not loaded, for safety."
            ) from exc

    def load(self, path: Path, options: BackendOptions) -> LoadedModel:
        torch = self._torch
        if options.device not in _DEVICES:
            raise BackendError(f"pytorch: unknown device {options.device!r}; valid devices: {', '.join(_DEVICES)}")
        self._device = _DEVICES[options.device]
        if self._device == "cuda" and not torch.cuda.is_available():
            raise BackendError("pytorch: --device gpu requested but torch.cuda.is_available() is False")
        if options.intra_op_threads:
            torch.set_num_threads(options.intra_op_threads)
        if options.inter_op_threads:
            try:
                torch.set_num_interop_threads(options.inter_op_threads)
            except RuntimeError as exc:  # only settable once per process
                raise BackendError(f"pytorch: cannot set inter-op threads: {exc}") from exc
        model, kind = self._read(Path(path), options.extra.get("torch_module"))
        model = model.to(self._device)
        if kind != "torch.export program":  # an exported program is already in inference form
            model.eval()
        if options.compile:
            model = torch.compile(model)
        self._model = model
        return LoadedModel(
            path=str(path), inputs=(), outputs=(),
            settings={"format": kind, "device": self._device, "compile": options.compile,
                      "intra_op_threads": torch.get_num_threads(),
                      "inter_op_threads": torch.get_num_interop_threads()},
        )

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(v)).to(self._device) for v in feeds.values()]
            out = self._model(*args)
        if isinstance(out, torch.Tensor):
            out = (out,)
        elif isinstance(out, Mapping):
            out = tuple(out.values())
        return [o.detach().cpu().numpy() for o in out]

    def close(self) -> None:
        self._model = None
