"""Training dataset sizing (spec §3.1) exactly as the official tool computes it."""

from __future__ import annotations

from dataclasses import dataclass

from mlmeter.storage.workloads import TrainingWorkload

HOST_MEMORY_MULTIPLIER = 5
STEPS_PER_EPOCH = 500
GIB = 1024**3


@dataclass(frozen=True)
class DataSize:
    num_files_train: int
    by_memory: int
    by_steps: int
    total_bytes: float

    @property
    def dominant(self) -> str:
        return "memory" if self.by_memory >= self.by_steps else "steps"

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB


def training_data_size(w: TrainingWorkload, memory_gib_per_host: float, hosts: int, accelerators: int) -> DataSize:
    """Files needed: max(floor(5 × memory / file size), floor(500 × accelerators × batch / samples per file))."""
    total_mem = memory_gib_per_host * GIB * hosts
    dataset_bytes = HOST_MEMORY_MULTIPLIER * total_mem
    file_size = w.file_size_bytes
    by_memory = int(dataset_bytes // file_size)
    by_steps = int(STEPS_PER_EPOCH * accelerators * w.reader.batch_size // w.dataset.num_samples_per_file)
    files = max(by_memory, by_steps)
    return DataSize(files, by_memory, by_steps, files * file_size)
