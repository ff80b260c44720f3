"""The MLPerf Storage v2.0 workloads (spec §4) as frozen data, and ``--param key=value`` overrides."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from mlmeter.errors import MlmeterError


class StorageConfigError(MlmeterError, ValueError):
    """A bad model, accelerator or parameter; the message names it and lists what is valid."""


@dataclass(frozen=True)
class Dataset:
    data_folder: str = ""
    format: str = "npz"
    num_files_train: int = 0
    num_subfolders_train: int = 0
    num_samples_per_file: int = 1
    record_length_bytes: float = 0.0
    record_length_bytes_stdev: float = 0.0
    record_length_bytes_resize: float = 0.0


@dataclass(frozen=True)
class Reader:
    data_loader: str = "pytorch"
    batch_size: int = 1
    read_threads: int = 1
    computation_threads: int = 1
    file_shuffle: str = "off"
    sample_shuffle: str = "off"
    shuffle_size: int = 1024
    prefetch_size: int = 2
    transfer_size: int = 0
    odirect: bool = False


@dataclass(frozen=True)
class Train:
    epochs: int = 1
    computation_time: float = 0.0
    seed: int = 123


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_folder: str = ""
    checkpoint_after_epoch: int = 0
    epochs_between_checkpoints: int = 0
    model_size_bytes: int = 0
    """Bytes each rank writes per checkpoint (the unet3d YAML's 499,153,191; DLIO itself wrote 10 KB, spec §9.1)."""
    fsync: bool = True

    def due(self, epoch: int) -> bool:
        """A checkpoint after ``epoch``: from ``checkpoint_after_epoch`` on, every ``epochs_between_checkpoints``."""
        after, every = self.checkpoint_after_epoch, max(self.epochs_between_checkpoints, 1)
        return bool(self.model_size_bytes) and after > 0 and epoch >= after and (epoch - after) % every == 0


@dataclass(frozen=True)
class Metric:
    au: float = 0.90
    exclude_start_steps: int = 1
    exclude_end_steps: int = 0


@dataclass(frozen=True)
class TrainingWorkload:
    """One ``<model>_<accelerator>.yaml``: what the emulated accelerators read and how long they compute."""

    model: str
    accelerator: str
    framework: str
    dataset: Dataset
    reader: Reader
    train: Train
    metric: Metric = field(default_factory=Metric)
    checkpoint: Checkpoint = field(default_factory=Checkpoint)

    @property
    def file_size_bytes(self) -> float:
        return self.dataset.num_samples_per_file * self.dataset.record_length_bytes

    def with_params(self, params: dict[str, str]) -> TrainingWorkload:
        """Apply dotted ``section.key=value`` overrides, converting each value to the field's type."""
        w: TrainingWorkload = self
        for key, raw in params.items():
            section, _, name = key.partition(".")
            if section == "framework" and not name:
                w = dataclasses.replace(w, framework=raw)
                continue
            part = getattr(w, section, None) if section in _SECTIONS else None
            if part is None or not name or name not in {f.name for f in dataclasses.fields(part)}:
                raise StorageConfigError(f"--param {key}: unknown parameter; valid: {', '.join(sorted(param_keys()))}")
            current = getattr(part, name)
            w = dataclasses.replace(w, **{section: dataclasses.replace(part, **{name: _convert(key, raw, current)})})
        return w


_SECTIONS = ("dataset", "reader", "train", "checkpoint", "metric")


def param_keys() -> list[str]:
    keys = ["framework"]
    for section, cls in (("dataset", Dataset), ("reader", Reader), ("train", Train), ("checkpoint", Checkpoint),
                         ("metric", Metric)):
        keys += [f"{section}.{f.name}" for f in dataclasses.fields(cls)]
    return keys


def _convert(key: str, raw: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            if raw.lower() in ("true", "1", "yes", "on"):
                return True
            if raw.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(current, int):
            value: float = int(raw)
        elif isinstance(current, float):
            value = float(raw)
        else:
            return raw
    except ValueError as exc:
        raise StorageConfigError(f"--param {key}={raw}: expected {type(current).__name__}") from exc
    return _in_range(key, value)


# Parameters that count things: a run with none of them has nothing to do.
_AT_LEAST_ONE = {"num_files_train", "num_samples_per_file", "record_length_bytes", "batch_size", "epochs",
                 "read_threads", "num_subfolders_train_min"}


def _in_range(key: str, value: float) -> float:
    """Counts, sizes and times are finite and not negative; counts of things are at least 1 (and at most 10^9)."""
    name = key.rpartition(".")[2]
    least = 1 if name in _AT_LEAST_ONE else 0
    most = 1e9 if name.startswith("num_files") else 1e12
    if not math.isfinite(value) or not least <= value <= most:
        raise StorageConfigError(f"--param {key}={value:g}: {name} must be at least {least} and at most {most:g}")
    return value


_COMPUTE = {  # seconds per step (spec §4.1); only this differs between a100 and h100
    ("unet3d", "a100"): 0.636, ("unet3d", "h100"): 0.323,
    ("resnet50", "a100"): 0.435, ("resnet50", "h100"): 0.224,
    ("cosmoflow", "a100"): 0.00551, ("cosmoflow", "h100"): 0.00350,
}
MODELS = ("unet3d", "resnet50", "cosmoflow")
ACCELERATORS = ("a100", "h100")


def training_workload(model: str, accelerator: str) -> TrainingWorkload:
    if model not in MODELS:
        raise StorageConfigError(f"unknown model {model!r}; valid models: {', '.join(MODELS)}")
    if accelerator not in ACCELERATORS:
        raise StorageConfigError(f"unknown accelerator {accelerator!r}; valid accelerator types: {', '.join(ACCELERATORS)}")
    train = Train(epochs=5, computation_time=_COMPUTE[(model, accelerator)])
    if model == "unet3d":
        return TrainingWorkload(
            model, accelerator, "pytorch",
            Dataset(format="npz", num_files_train=168, num_samples_per_file=1, record_length_bytes=146600628,
                    record_length_bytes_stdev=68341808, record_length_bytes_resize=2097152),
            Reader(data_loader="pytorch", batch_size=7, read_threads=4, file_shuffle="seed", sample_shuffle="seed"),
            train, Metric(au=0.90),
            Checkpoint(checkpoint_folder="checkpoints/unet3d", checkpoint_after_epoch=5, epochs_between_checkpoints=2,
                       model_size_bytes=499153191),
        )
    if model == "resnet50":
        return TrainingWorkload(
            model, accelerator, "tensorflow",
            Dataset(format="tfrecord", num_files_train=1024, num_samples_per_file=1251, record_length_bytes=114660.07,
                    record_length_bytes_resize=150528),
            Reader(data_loader="tensorflow", batch_size=400, read_threads=8, computation_threads=8),
            train, Metric(au=0.90),
        )
    return TrainingWorkload(
        model, accelerator, "tensorflow",
        Dataset(format="tfrecord", num_files_train=524288, num_samples_per_file=1, record_length_bytes=2828486,
                record_length_bytes_stdev=71311),
        Reader(data_loader="tensorflow", batch_size=1, read_threads=4, file_shuffle="seed", sample_shuffle="seed",
               shuffle_size=2),
        train, Metric(au=0.70),
    )


def parse_params(items: list[str]) -> dict[str, str]:
    """``["a.b=1", "c.d=x y"]`` -> dict; repeated keys: the last wins."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StorageConfigError(f"--param {item!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out
