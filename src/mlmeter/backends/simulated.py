"""A backend whose batches take a modelled time: ``fixed + per_sample × batch`` (sleeping, GIL released)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mlmeter.backends.base import BackendOptions, LoadedModel
from mlmeter.backends.null import NullBackend


class SimulatedBackend(NullBackend):
    """Like ``null`` but each ``predict`` sleeps the modelled service time, so batching has a real payoff.

    ``BackendOptions.extra``: ``fixed_ms`` (default 2.0) and ``per_sample_ms`` (default 0.25).
    One batch runs at a time per ``concurrency`` slot (default 1), like a single accelerator.
    """

    name = "simulated"

    def __init__(self) -> None:
        super().__init__()
        self._fixed = 0.002
        self._per = 0.00025
        self._lock = threading.Semaphore(1)

    def load(self, path: Path, options: BackendOptions) -> LoadedModel:
        loaded = super().load(path, options)
        self._fixed = float(options.extra.get("fixed_ms", 2.0)) / 1000
        self._per = float(options.extra.get("per_sample_ms", 0.25)) / 1000
        self._lock = threading.Semaphore(int(options.extra.get("concurrency", 1)))
        return LoadedModel(loaded.path, loaded.inputs, loaded.outputs,
                           {"fixed_ms": self._fixed * 1000, "per_sample_ms": self._per * 1000})

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        n = len(next(iter(feeds.values())))
        with self._lock:
            time.sleep(self._fixed + self._per * n)
        return super().predict(feeds)

