"""Synthetic training data with DLIO's naming and seeded size distribution (spec §4.2), written in parallel,
atomically (a file exists whole or not at all) and resumably (complete files are skipped)."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import shutil
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mlmeter import events
from mlmeter.errors import MlmeterError
from mlmeter.storage import tfrecord
from mlmeter.storage.workloads import StorageConfigError, TrainingWorkload
from mlmeter.util.atomic import write_text

FORMATS = ("npz", "tfrecord", "hdf5")


class DatagenError(MlmeterError, RuntimeError):
    """Generation could not finish (disk full, unwritable folder); nothing partial is left behind."""


@dataclass(frozen=True)
class FilePlan:
    index: int
    path: Path
    dim1: int
    dim2: int
    samples: int
    dimension: int
    """The nominal √record length; DLIO stores it as each TFRecord example's ``size`` feature."""

    @property
    def payload_bytes(self) -> int:
        return self.dim1 * self.dim2 * self.samples


def data_folder(data_dir: Path, model: str) -> Path:
    """mlpstorage's rule: ``--data-dir`` gets ``/<model>`` appended unless it already ends with it."""
    return data_dir if data_dir.name == model else data_dir / model


def file_name(i: int, total: int, fmt: str) -> str:
    return f"img_{i:0{len(str(total))}d}_of_{total}.{fmt}"


def file_dims(w: TrainingWorkload, total: int) -> np.ndarray:
    """(dim1, dim2) per file: after ``np.random.seed(10)``, 2 × total draws of N(√R, σ_R / (2√R)), ≥ 1, int."""
    r = w.dataset.record_length_bytes
    dimension = int(math.sqrt(r))
    stdev = w.dataset.record_length_bytes_stdev / 2 / math.sqrt(r)
    state = np.random.RandomState(10)
    dims = state.normal(dimension, stdev, 2 * total) if stdev > 0 else np.full(2 * total, float(dimension))
    return np.clip(dims, 1, None).astype(np.int64).reshape(total, 2)


def plan(w: TrainingWorkload, folder: Path) -> list[FilePlan]:
    total = w.dataset.num_files_train
    if total < 1:
        raise StorageConfigError("dataset.num_files_train must be at least 1 (see `mlmeter storage training datasize`)")
    if w.dataset.format not in FORMATS:
        raise StorageConfigError(f"dataset.format {w.dataset.format!r}: mlmeter writes {', '.join(FORMATS)}")
    dims = file_dims(w, total)
    dimension = int(math.sqrt(w.dataset.record_length_bytes))
    subs = w.dataset.num_subfolders_train
    out = []
    for i in range(total):
        base = folder / "train"
        if subs > 1:
            base = base / f"{i % subs:0{len(str(subs))}d}"
        out.append(FilePlan(i, base / file_name(i, total, w.dataset.format), int(dims[i, 0]), int(dims[i, 1]),
                            w.dataset.num_samples_per_file, dimension))
    return out


def _atomic_write(path: Path, write: Callable[[BinaryIO], None], fsync: bool) -> int:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path.stat().st_size


def _write_hdf5(p: FilePlan, rng: np.random.Generator, fsync: bool) -> int:
    """DLIO's layout: ``records`` uint8 (samples, dim1, dim2) and ``labels``; written to a temporary name."""
    try:
        import h5py
    except ImportError as exc:
        raise StorageConfigError("dataset.format=hdf5 needs h5py: pip install 'mlmeter[hdf5]'") from exc
    tmp = p.path.with_name(f".{p.path.name}.{os.getpid()}.part")
    try:
        with h5py.File(tmp, "w") as h:
            h.create_dataset("records", data=np.frombuffer(rng.bytes(p.payload_bytes), dtype=np.uint8)
                             .reshape(p.samples, p.dim1, p.dim2))
            h.create_dataset("labels", data=np.zeros(p.samples, dtype=np.int64))
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, p.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p.path.stat().st_size


def write_file(p: FilePlan, fmt: str, index_dir: Path | None, fsync: bool) -> int:
    """Write one file (random uint8 contents, seeded by the file index); returns its size in bytes."""
    rng = np.random.default_rng(p.index)
    if fmt == "hdf5":
        return _write_hdf5(p, rng, fsync)
    if fmt == "npz":
        x = np.frombuffer(rng.bytes(p.payload_bytes), dtype=np.uint8).reshape(p.dim1, p.dim2, p.samples)
        y = np.zeros(p.samples, dtype=np.int64)
        return _atomic_write(p.path, lambda f: np.savez(f, x=x, y=y), fsync)
    size = p.dim1 * p.dim2
    lengths: list[int] = []

    def records(f: BinaryIO) -> None:
        for _ in range(p.samples):
            rec = tfrecord.example(rng.bytes(size), p.dimension)
            lengths.append(len(rec))
            f.write(tfrecord.frame(rec))

    n = _atomic_write(p.path, records, fsync)
    if index_dir is not None:
        idx = index_dir / f"{p.path.name}.idx"
        text = tfrecord.index_text(lengths).encode()
        _atomic_write(idx, lambda f: None if f.write(text) else None, fsync)
    return n


@dataclass
class DatagenResult:
    folder: Path
    files_written: int
    files_skipped: int
    bytes_written: int
    seconds: float

    @property
    def mb_per_second(self) -> float:
        return self.bytes_written / 2**20 / self.seconds if self.seconds > 0 else 0.0




def _layout(w: TrainingWorkload, folder: Path, files: list[FilePlan]) -> Path | None:
    """Create the directories (train/valid/test, subfolders, the TFRecord index); returns the index folder."""
    for sub in ("train", "valid", "test"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    index_dir = folder / "index" / "train" if w.dataset.format == "tfrecord" else None
    if index_dir is not None:
        index_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        f.path.parent.mkdir(parents=True, exist_ok=True)
    return index_dir


def prepare_layout(w: TrainingWorkload, folder: Path) -> None:
    """Refuse a folder generated with other parameters, then create the dataset's directories (one rank does
    this before the others write)."""
    _check_parameters(w, folder, read_manifest(folder))
    _layout(w, folder, plan(w, folder))


def generate_mpi(w: TrainingWorkload, folder: Path, comm: Any, *, fsync: bool = False) -> list[DatagenResult] | None:
    """Under mpirun: rank 0 checks and lays out the folder, every rank writes its share, rank 0 writes the
    manifest and gets every rank's result (the others get None)."""
    if comm.rank == 0:
        prepare_layout(w, folder)
    comm.barrier()
    parts: list[DatagenResult] | None = comm.gather(generate_share(w, folder, comm.rank, comm.size, fsync=fsync))
    if parts is not None:
        _write_manifest(w, folder, plan(w, folder))
    return parts


def generate_share(w: TrainingWorkload, folder: Path, rank: int, size: int, *, fsync: bool = False) -> DatagenResult:
    """One MPI rank's part of the dataset: files rank, rank + size, … (as DLIO), after ``prepare_layout``."""
    files = plan(w, folder)
    index_dir = folder / "index" / "train" if w.dataset.format == "tfrecord" else None
    began = time.perf_counter()
    written = nbytes = skipped = 0
    for f in files[rank::size]:
        if f.path.is_file():
            skipped += 1
            continue
        try:
            nbytes += write_file(f, w.dataset.format, index_dir, fsync)
        except OSError as exc:
            raise _disk_error(exc, f, files[rank::size], folder) from exc
        written += 1
    return DatagenResult(folder, written, skipped, nbytes, time.perf_counter() - began)


MANIFEST = "mlmeter_datagen.json"


def _parameters(w: TrainingWorkload) -> dict[str, object]:
    d = dataclasses.asdict(w.dataset)
    d.pop("data_folder", None)
    return {"model": w.model, **d}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """What datagen recorded in ``folder`` (parameters and each file's size), or None for a folder without one."""
    f = folder / MANIFEST
    if not f.is_file():
        return None
    try:
        doc = json.loads(f.read_text())
        return doc if isinstance(doc, dict) and isinstance(doc.get("files"), dict) else None
    except (OSError, ValueError):
        return None


def _check_parameters(w: TrainingWorkload, folder: Path, manifest: dict[str, Any] | None) -> None:
    if manifest is None:
        return
    old, new = manifest.get("parameters") or {}, _parameters(w)
    changed = [f"{k} {old.get(k)} -> {v}" for k, v in new.items() if old.get(k) != v]
    if changed:
        raise DatagenError(f"{folder} holds a dataset generated with other parameters ({'; '.join(changed)}); "
                           "a generator never mixes or shrinks datasets: choose a new --data-dir")


def _write_manifest(w: TrainingWorkload, folder: Path, files: list[FilePlan]) -> None:
    sizes = {str(f.path.relative_to(folder)): f.path.stat().st_size for f in files if f.path.is_file()}
    write_text(folder / MANIFEST, json.dumps({"parameters": _parameters(w), "files": sizes}, indent=1) + "\n")


def verify_dataset(w: TrainingWorkload, folder: Path) -> None:
    """Before a run is timed: every file the workload reads exists with the size datagen recorded.

    :raises ReadError: naming the missing, truncated or foreign files and how to fix them.
    """
    from mlmeter.storage.readers import ReadError

    manifest = read_manifest(folder)
    files = plan(w, folder)
    missing = [f.path for f in files if not f.path.is_file()]
    if missing:
        raise ReadError(f"{len(missing)} of {len(files)} dataset files are missing (first: {missing[0]}); "
                        "run 'mlmeter storage training datagen' with the same --param values")
    if manifest is None:
        return
    try:
        _check_parameters(w, folder, manifest)
    except DatagenError as exc:
        raise ReadError(str(exc).replace("a generator never mixes or shrinks datasets: choose a new --data-dir",
                                         "give the --param values it was generated with")) from None
    recorded = manifest["files"]
    bad = [f.path for f in files if recorded.get(str(f.path.relative_to(folder))) != f.path.stat().st_size]
    if bad:
        raise ReadError(f"{len(bad)} dataset files differ in size from what datagen wrote (first: {bad[0]}: "
                        f"{bad[0].stat().st_size} bytes, recorded {recorded.get(str(bad[0].relative_to(folder)))}); "
                        "delete them and run datagen again")


def _datagen_progress(done: int, total: int, nbytes: int, secs: float) -> events.Progress:
    rate = nbytes / 2**20 / secs if secs > 0 else 0.0
    return events.Progress("datagen", done, total, "files", f"{nbytes / 2**30:.2f} GiB, {rate:,.0f} MB/s")


def _quiet_worker() -> None:
    """Pool workers leave Ctrl-C to the parent (which reports it once), instead of each printing a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def generate(w: TrainingWorkload, folder: Path, *, processes: int = 1, fsync: bool = False,
             observer: events.Observer | None = None) -> DatagenResult:
    """Write every missing file of ``w``'s dataset under ``folder`` with ``processes`` worker processes.

    A folder generated with other parameters is refused; a file whose size differs from the manifest's is
    written again; the manifest records the parameters and every file's size. Emits a progress event as files
    finish (files written of all files, with the bytes and rate so far).
    """
    obs = events.observing(observer)
    files = plan(w, folder)
    manifest = read_manifest(folder)
    _check_parameters(w, folder, manifest)
    index_dir = _layout(w, folder, files)
    recorded = (manifest or {}).get("files", {})

    def complete(f: FilePlan) -> bool:
        if not f.path.is_file():
            return False
        size = recorded.get(str(f.path.relative_to(folder)))
        return manifest is None or size == f.path.stat().st_size

    todo = [f for f in files if not complete(f)]
    need = sum(f.payload_bytes for f in todo)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DatagenError(
            f"{folder}: {len(todo)} files need about {need / 2**30:.2f} GiB, only {free / 2**30:.2f} GiB is free"
        )
    began = time.perf_counter()
    written = 0
    done = len(files) - len(todo)
    obs.on_progress(_datagen_progress(done, len(files), 0, 0.0))
    with ProcessPoolExecutor(max_workers=max(1, processes), initializer=_quiet_worker) as pool:
        pending = {pool.submit(write_file, f, w.dataset.format, index_dir, fsync): f for f in todo}
        try:
            while pending:
                finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in finished:
                    f = pending.pop(fut)
                    try:
                        written += fut.result()
                    except OSError as exc:
                        raise _disk_error(exc, f, todo, folder) from exc
                    done += 1
                obs.on_progress(_datagen_progress(done, len(files), written, time.perf_counter() - began))
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    _write_manifest(w, folder, files)
    return DatagenResult(folder, len(todo), len(files) - len(todo), written, time.perf_counter() - began)


def _disk_error(exc: OSError, f: FilePlan, todo: list[FilePlan], folder: Path) -> DatagenError:
    if exc.errno == errno.ENOSPC:
        left = sum(p.payload_bytes for p in todo if not p.path.is_file())
        return DatagenError(
            f"disk full while writing {f.path}: about {left / 2**30:.2f} GiB more is needed for the files still "
            f"missing; free space and rerun (complete files are kept and skipped)"
        )
    return DatagenError(f"cannot write {f.path}: {exc.strerror or exc}")
