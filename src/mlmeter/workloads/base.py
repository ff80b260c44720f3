"""The ``Workload`` contract: dataset, pre-processing, model signature, post-processing, quality metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from mlmeter import events
from mlmeter.backends.base import LoadedModel
from mlmeter.errors import MlmeterError

Feeder = Callable[[np.ndarray], dict[str, np.ndarray]]
"""Turns a batch of pre-processed samples (stacked by the QSL) into the model's named inputs."""


class WorkloadError(MlmeterError):
    """Bad dataset, model or option for a workload; the message names the file and what to do."""


@dataclass(frozen=True)
class ModelSource:
    """Where the official model file comes from: a file name in the model cache, its URL and checksum."""

    filename: str
    url: str
    md5: str
    note: str = ""


@dataclass(frozen=True)
class QualityTarget:
    """``threshold`` is what decides (the submission checker's number); ``reference × fraction`` is shown too."""

    metric: str
    reference: float
    fraction: float
    threshold: float

    @property
    def nominal(self) -> float:
        return self.reference * self.fraction


@dataclass(frozen=True)
class AccuracyMetric:
    """One line of ``result.json``'s ``accuracy`` list (values in percent)."""

    name: str
    value: float
    threshold: float
    passed: bool

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "threshold": self.threshold, "pass": self.passed}


@dataclass(frozen=True)
class AccuracyReport:
    metrics: tuple[AccuracyMetric, ...]
    text: str
    """The ``accuracy.txt`` content, in the official script's format."""
    evaluated: int
    duplicates: int


@runtime_checkable
class Dataset(Protocol):
    """Samples addressed by QSL index; ``preprocess(i)`` gives the model-ready array of sample ``i``."""

    name: str
    labels: np.ndarray

    def __len__(self) -> int: ...

    def key(self, i: int) -> str:
        """A stable relative name of sample ``i`` (used for the preprocessed cache)."""
        ...

    def preprocess(self, i: int) -> np.ndarray: ...


@runtime_checkable
class Workload(Protocol):
    """A model task: what to feed, what comes out, and how quality is judged."""

    name: str
    loadgen_model: str
    """The ``mlperf.conf`` model key (e.g. ``resnet50``)."""
    target: QualityTarget
    preprocessing_id: str
    """Changes whenever the pre-processing changes; part of the cache key."""
    response_dtype: str
    """The NumPy type of a response's values in the accuracy log (what compliance TEST01 compares)."""

    def model_source(self, backend: str) -> ModelSource | Path | None:
        """The default model for a backend: a downloadable source, a packaged file, or None (must be given)."""
        ...

    def open_dataset(self, path: Path | None, count: int | None, layout: str) -> Dataset: ...

    def bind(self, model: LoadedModel) -> Feeder:
        """Check the loaded model's signature (raise ``WorkloadError``); return how a batch becomes feeds."""
        ...

    def postprocess(self, outputs: Sequence[np.ndarray]) -> np.ndarray:
        """Model outputs of a batch -> one response row per sample (what the accuracy log records)."""
        ...

    def evaluate(self, responses: Mapping[int, bytes], dataset: Dataset, duplicates: int,
                 observer: events.Observer = events.SILENT) -> AccuracyReport:
        """Score the first response of each QSL index against the dataset's ground truth."""
        ...
