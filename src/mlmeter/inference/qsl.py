"""The query sample library: pre-processes (or reads from the on-disk cache) into one RAM array, in parallel."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import numpy as np

from mlmeter.util.atomic import write_bytes, write_text
from mlmeter.workloads.base import Dataset, WorkloadError


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class SampleCache:
    """Pre-processed samples as ``<dir>/<sample key>.npy``; ``meta.json`` guards against stale contents."""

    def __init__(self, root: Path, preprocessing_id: str, layout: str) -> None:
        self.dir = root / "preprocessed" / preprocessing_id / layout
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        self._meta = {"preprocessing": preprocessing_id, "layout": layout}
        if meta.is_file():
            if json.loads(meta.read_text()) != self._meta:
                raise WorkloadError(f"{meta}: the cache was made by other pre-processing; remove {self.dir}")
        else:
            write_text(meta, json.dumps(self._meta) + "\n")

    def get(self, key: str) -> np.ndarray | None:
        path = self.dir / f"{key}.npy"
        if not path.is_file():
            return None
        try:
            arr: np.ndarray = np.load(path, allow_pickle=False)
        except (ValueError, OSError):
            return None  # a damaged entry is re-made
        return arr

    def put(self, key: str, arr: np.ndarray) -> None:
        path = self.dir / f"{key}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = BytesIO()
        np.save(buf, arr, allow_pickle=False)
        write_bytes(path, buf.getvalue())


class PreprocessedQSL:
    """Holds the loaded samples in one contiguous array; ``slots`` maps QSL index -> row.

    ``retain`` keeps the loaded rows across ``unload_samples`` calls until a different set is loaded or
    :meth:`release` is called, so several scenarios run on one preprocessed set.
    """

    def __init__(self, dataset: Dataset, performance_sample_count: int, *, threads: int = 0,
                 cache: SampleCache | None = None, retain: bool = False) -> None:
        self.dataset = dataset
        self.name = dataset.name
        self.total_sample_count = len(dataset)
        self.performance_sample_count = min(performance_sample_count, self.total_sample_count)
        self.threads = threads or os.cpu_count() or 1
        self.cache = cache
        self.retain = retain
        self.slots = np.full(self.total_sample_count, -1, dtype=np.int64)
        self.data: np.ndarray = np.empty(0, dtype=np.float32)
        self._loaded: frozenset[int] = frozenset()
        self.cache_hits = 0
        self.preprocessed = 0
        self.sample_nbytes = 0
        self._count_lock = threading.Lock()

    def _one(self, i: int) -> np.ndarray:
        key = self.dataset.key(i)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                with self._count_lock:
                    self.cache_hits += 1
                return hit
        arr = self.dataset.preprocess(i)
        with self._count_lock:
            self.preprocessed += 1
        if self.cache is not None:
            self.cache.put(key, arr)
        return arr

    def check_memory(self, n: int) -> None:
        """Raise ``WorkloadError`` when ``n`` samples cannot be held in RAM, saying how many fit."""
        if not self.sample_nbytes:
            self.sample_nbytes = self._one(0).nbytes
        need = n * self.sample_nbytes
        free = available_memory()
        if free is not None and need > free * 0.9:
            fit = int(free * 0.9 // self.sample_nbytes)
            raise WorkloadError(
                f"out of memory while preloading: {n} samples of {self.sample_nbytes / 2**20:.2f} MiB need "
                f"{need / 2**30:.2f} GiB, {free / 2**30:.2f} GiB is available; about {fit} samples fit "
                "(lower --performance-sample-count, or --count)"
            )

    def load_samples(self, indices: Sequence[int]) -> None:
        wanted = frozenset(int(i) for i in indices)
        if wanted == self._loaded and len(self.data):
            return
        order = sorted(wanted)
        self.check_memory(len(order))
        self.release()
        first = self._one(order[0])
        data = np.empty((len(order), *first.shape), dtype=first.dtype)
        data[0] = first

        def fill(span: tuple[int, int]) -> None:
            for row in range(*span):
                arr = self._one(order[row])
                if arr.shape != first.shape:
                    raise WorkloadError(f"sample {order[row]} pre-processed to {arr.shape}, others to {first.shape}")
                data[row] = arr

        step = max(1, -(-(len(order) - 1) // self.threads))
        spans = [(a, min(a + step, len(order))) for a in range(1, len(order), step)]
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            list(pool.map(fill, spans))
        self.data = data
        self.slots[order] = np.arange(len(order))
        self._loaded = wanted

    def unload_samples(self, indices: Sequence[int]) -> None:
        if not self.retain:
            self.release()

    def release(self) -> None:
        self.slots[:] = -1
        self.data = np.empty(0, dtype=np.float32)
        self._loaded = frozenset()

    def gather(self, indices: np.ndarray) -> np.ndarray:
        """The batch of the given QSL indices (a view when it is one sample)."""
        if len(indices) == 1:
            r = int(self.slots[indices[0]])
            return self.data[r : r + 1]
        out: np.ndarray = self.data[self.slots[indices]]
        return out
