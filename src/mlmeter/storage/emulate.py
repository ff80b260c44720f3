"""One emulated accelerator (spec §5.2): per step, wait for a batch, "compute" by sleeping, meet the others."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from mlmeter.storage.comm import Comm
from mlmeter.storage.datagen import file_dims
from mlmeter.storage.metrics import EpochRecord
from mlmeter.storage.readers import ReadError, Sample, TfLikeLoader, TorchLikeLoader
from mlmeter.storage.workloads import TrainingWorkload

_NAME = re.compile(r"_(\d+)_of_(\d+)\.\w+$")


def list_files(folder: Path, w: TrainingWorkload) -> list[Path]:
    """The training files as DLIO lists them: ``train/*.<fmt>`` or ``train/*/*.<fmt>`` sorted by base name;
    the first ``num_files_train`` are used. Raises ``ReadError`` saying how many are needed."""
    train = folder / "train"
    if not train.is_dir():
        raise ReadError(f"{train}: data directory not found; run `mlmeter storage training datagen` first")
    fmt = w.dataset.format
    dirs = sorted(p for p in train.iterdir() if p.is_dir())
    if dirs:
        if w.dataset.num_subfolders_train != len(dirs):
            raise ReadError(f"{train}: {len(dirs)} subfolders, but dataset.num_subfolders_train is "
                            f"{w.dataset.num_subfolders_train}")
        files = sorted(train.glob(f"*/*.{fmt}"), key=lambda p: p.name)
    else:
        files = sorted(p for p in train.iterdir() if p.name.endswith(f".{fmt}"))
    need = w.dataset.num_files_train
    if len(files) < need:
        raise ReadError(f"{train}: {len(files)} .{fmt} files found, {need} needed (dataset.num_files_train); "
                        "generate them with `mlmeter storage training datagen`")
    return files[:need]


@dataclass(frozen=True)
class RankJob:
    """Everything a rank needs, picklable."""

    workload: TrainingWorkload
    files: tuple[Path, ...]
    ranks: int
    steps: int
    """Steps per epoch, the same on every rank: floor(samples per file × files / batch / ranks)."""
    checkpoint_dir: Path | None = None


def write_checkpoint(job: RankJob, rank: int, epoch: int) -> float:
    """Each rank writes its model state (``model_size_bytes``, fsync'ed if asked); returns the seconds taken."""
    c = job.workload.checkpoint
    assert job.checkpoint_dir is not None
    path = job.checkpoint_dir / f"global_epoch{epoch}_step{epoch * job.steps}" / f"model_states-{rank}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = np.random.default_rng(rank + epoch).bytes(min(c.model_size_bytes, 16 << 20))
    t0 = time.perf_counter()
    with open(path, "wb", buffering=0) as f:
        left = c.model_size_bytes
        while left > 0:
            n = f.write(block[: min(left, len(block))])
            left -= n
        if c.fsync:
            os.fsync(f.fileno())
    return time.perf_counter() - t0


def steps_per_epoch(w: TrainingWorkload, ranks: int) -> int:
    return int(w.dataset.num_samples_per_file * w.dataset.num_files_train // w.reader.batch_size // ranks)


@cache
def _dims(w: TrainingWorkload, total: int) -> np.ndarray:
    from dataclasses import replace

    return file_dims(replace(w, dataset=replace(w.dataset, num_files_train=total)), total)


def _expected_shape(w: TrainingWorkload, path: Path) -> tuple[int, int, int] | None:
    m = _NAME.search(path.name)
    if m is None:
        return None
    i, total = int(m.group(1)), int(m.group(2))
    if i >= total:
        return None
    d = _dims(w, total)[i]
    if w.dataset.format == "hdf5":
        return (w.dataset.num_samples_per_file, int(d[0]), int(d[1]))
    return (int(d[0]), int(d[1]), w.dataset.num_samples_per_file)


def device_read_bytes() -> int | None:
    """Bytes this process made the kernel fetch from storage (``/proc/self/io`` ``read_bytes``), or None."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


Tick = Callable[[int, int], None]
"""(epoch, step) after each step; rank 0 reports progress through it."""


def run_rank(job: RankJob, comm: Comm, tick: Tick | None = None) -> list[EpochRecord]:
    """Emulate one accelerator for every epoch; returns one record per epoch."""
    w = job.workload
    r, size, steps, batch = comm.rank, comm.size, job.steps, w.reader.batch_size
    compute_s = w.train.computation_time
    records: list[EpochRecord] = []
    files = list(job.files)
    if w.reader.data_loader == "pytorch":
        per_file = w.dataset.num_samples_per_file
        n = len(files) * per_file
        chunk = math.ceil(n / size)
        mine = list(range(r * chunk, min(n, (r + 1) * chunk)))
        samples = []
        for g in range(n):
            path = files[g // per_file]
            shape = _expected_shape(w, path)
            samples.append(Sample(path, shape if shape is not None else (-1, -1, -1), w.dataset.format))
        loader: TorchLikeLoader | TfLikeLoader = TorchLikeLoader(samples, batch, w.reader.read_threads,
                                                                 w.reader.prefetch_size, w.reader.transfer_size)
    else:
        mine_files = files[r::size] if len(files) >= size else files
        shuffle = w.reader.shuffle_size if w.reader.sample_shuffle != "off" else 0
        loader = TfLikeLoader(mine_files, batch, w.reader.read_threads, w.reader.prefetch_size, shuffle,
                              w.train.seed)
    try:
        for epoch in range(1, w.train.epochs + 1):
            if isinstance(loader, TorchLikeLoader):
                order = list(mine)
                if w.reader.sample_shuffle != "off":  # DLIO leaves the order unchanged here (spec §9.12)
                    order = np.random.default_rng(w.train.seed + epoch).permutation(order).tolist()
                batches = loader.epoch(order, steps)
            else:
                fl = list(loader.files)
                if w.reader.file_shuffle != "off":
                    fl = np.random.default_rng(w.train.seed + epoch).permutation(np.array(fl, dtype=object)).tolist()
                batches = loader.epoch(fl, steps, epoch)
            load, proc, compute = [], [], []
            nbytes = 0
            dev0 = device_read_bytes()
            start = time.perf_counter()
            t_load0 = start
            for step in range(steps):
                got = next(batches, None)
                if got is None:
                    raise ReadError(f"rank {r}: the loader ran out of data after {step} of {steps} steps")
                nbytes += got
                t_c0 = time.perf_counter()
                load.append(t_c0 - t_load0)
                time.sleep(compute_s)
                t_end = time.perf_counter()
                compute.append(t_end - t_c0)
                proc.append(t_end - t_load0)
                comm.barrier()
                if tick is not None:
                    tick(epoch, step + 1)
                t_load0 = time.perf_counter()
            comm.barrier()
            wall = time.perf_counter() - start
            dev1 = device_read_bytes()
            device = dev1 - dev0 if dev0 is not None and dev1 is not None else -1
            ckpt = 0.0
            if job.checkpoint_dir is not None and w.checkpoint.due(epoch):
                ckpt = write_checkpoint(job, r, epoch)
                comm.barrier()
            records.append(EpochRecord(tuple(load), tuple(proc), tuple(compute), wall, nbytes, device, ckpt))
    finally:
        loader.close()
    return records
