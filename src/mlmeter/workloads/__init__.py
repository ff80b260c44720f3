"""Models + datasets + pre/post-processing + quality targets, one module per task."""

from __future__ import annotations

import importlib

from mlmeter.workloads.base import (
    AccuracyMetric,
    AccuracyReport,
    Dataset,
    ModelSource,
    QualityTarget,
    Workload,
    WorkloadError,
)

# model name -> (module, class); modules are imported only when their workload is asked for
_REGISTRY = {
    "digits": ("mlmeter.workloads.digits", "Digits"),
    "digits-int8": ("mlmeter.workloads.digits", "DigitsInt8"),
    "resnet50": ("mlmeter.workloads.imagenet", "ResNet50"),
    "mobilenet": ("mlmeter.workloads.imagenet", "MobileNetV1"),
    "minilm": ("mlmeter.workloads.minilm", "MiniLM"),
    "minilm-int8": ("mlmeter.workloads.minilm", "MiniLMInt8"),
}
WORKLOAD_NAMES = tuple(_REGISTRY)


def create_workload(name: str) -> Workload:
    if name not in _REGISTRY:
        raise WorkloadError(f"unknown model {name!r}; valid models: {', '.join(WORKLOAD_NAMES)}")
    module, cls = _REGISTRY[name]
    workload: Workload = getattr(importlib.import_module(module), cls)()
    return workload


__all__ = [
    "WORKLOAD_NAMES",
    "AccuracyMetric",
    "AccuracyReport",
    "Dataset",
    "ModelSource",
    "QualityTarget",
    "Workload",
    "WorkloadError",
    "create_workload",
]
