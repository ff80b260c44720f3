"""Models + datasets + pre/post-processing + quality targets, one module per task."""

from __future__ import annotations

from collections.abc import Callable

from mlmeter.workloads.base import (
    AccuracyMetric,
    AccuracyReport,
    Dataset,
    ModelSource,
    QualityTarget,
    Workload,
    WorkloadError,
)


def _digits() -> Workload:
    from mlmeter.workloads.digits import Digits

    return Digits()


def _digits_int8() -> Workload:
    from mlmeter.workloads.digits import DigitsInt8

    return DigitsInt8()


def _resnet50() -> Workload:
    from mlmeter.workloads.imagenet import ResNet50

    return ResNet50()


def _mobilenet() -> Workload:
    from mlmeter.workloads.imagenet import MobileNetV1

    return MobileNetV1()


def _minilm() -> Workload:
    from mlmeter.workloads.minilm import MiniLM

    return MiniLM()


def _minilm_int8() -> Workload:
    from mlmeter.workloads.minilm import MiniLMInt8

    return MiniLMInt8()


_REGISTRY: dict[str, Callable[[], Workload]] = {
    "digits": _digits,
    "digits-int8": _digits_int8,
    "resnet50": _resnet50,
    "mobilenet": _mobilenet,
    "minilm": _minilm,
    "minilm-int8": _minilm_int8,
}
WORKLOAD_NAMES = tuple(_REGISTRY)


def create_workload(name: str) -> Workload:
    if name not in _REGISTRY:
        raise WorkloadError(f"unknown model {name!r}; valid models: {', '.join(WORKLOAD_NAMES)}")
    return _REGISTRY[name]()


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
