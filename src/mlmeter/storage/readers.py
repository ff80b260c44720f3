"""Real file reads for the emulated accelerators: a PyTorch-like and a TensorFlow-like loader (spec §5.3).

Both read every byte of their files (the data is then discarded, as in DLIO), in ``read_threads`` threads,
with a bounded number of batches prefetched, and check what they read: an npz file's array shape must be
the one the dataset plan says (wrong size → error naming the file); TFRecord CRCs are verified.
"""

from __future__ import annotations

import ast
import contextlib
import math
import queue
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlmeter.errors import MlmeterError
from mlmeter.storage import tfrecord


class ReadError(MlmeterError, RuntimeError):
    """A dataset file is missing, of the wrong size or corrupt; the message names it."""


@dataclass(frozen=True)
class Sample:
    path: Path
    shape: tuple[int, int, int]
    """The expected array shape: npz ``x`` (dim1, dim2, samples), hdf5 ``records`` (samples, dim1, dim2)."""
    fmt: str = "npz"


def npz_shape(head: bytes, path: Path) -> tuple[int, ...]:
    """The shape of the first array of an uncompressed ``.npz`` from its first bytes."""
    if head[:4] != b"PK\x03\x04":
        raise ReadError(f"{path}: not an npz file (no zip header)")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    at = 30 + name_len + extra_len
    if head[at : at + 6] != b"\x93NUMPY":
        raise ReadError(f"{path}: corrupt npz (no .npy header in the first member)")
    major = head[at + 6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[at + 8 : at + 10])
        start = at + 10
    else:
        (hlen,) = struct.unpack("<I", head[at + 8 : at + 12])
        start = at + 12
    try:
        header = ast.literal_eval(head[start : start + hlen].decode("latin1"))
        return tuple(header["shape"])
    except (ValueError, SyntaxError, KeyError) as exc:
        raise ReadError(f"{path}: corrupt npz header") from exc


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.buf = bytearray(0)


def read_npz_sample(s: Sample, local: _Buffers, transfer_size: int = 0) -> int:
    """Read the whole file (as ``np.load(path)['x']`` does), in ``transfer_size`` requests if given."""
    try:
        with open(s.path, "rb", buffering=0) as f:
            size = f.seek(0, 2)
            f.seek(0)
            if len(local.buf) < size:
                local.buf = bytearray(size)
            view = memoryview(local.buf)[:size]
            step = transfer_size or size
            got = 0
            while got < size:
                n = f.readinto(view[got : got + step])
                if not n:
                    break
                got += n
    except FileNotFoundError as exc:
        raise ReadError(f"{s.path}: file not found") from exc
    shape = npz_shape(bytes(view[:512]), s.path)
    if s.shape[0] >= 0 and shape != s.shape:
        raise ReadError(f"{s.path}: array shape {shape}, the dataset plan says {s.shape} (wrong size or other data)")
    return got


def read_hdf5_sample(s: Sample) -> int:
    """Read the whole ``records`` dataset of an hdf5 file (needs h5py)."""
    import h5py

    try:
        with h5py.File(s.path, "r") as h:
            data = h["records"][...]
    except FileNotFoundError as exc:
        raise ReadError(f"{s.path}: file not found") from exc
    except (OSError, KeyError) as exc:
        raise ReadError(f"{s.path}: corrupt hdf5 file ({exc})") from exc
    if s.shape[0] >= 0 and data.shape != s.shape:
        raise ReadError(f"{s.path}: records shape {data.shape}, the dataset plan says {s.shape}")
    return int(data.nbytes)


class TorchLikeLoader:
    """Batches of ``batch_size`` samples from this rank's contiguous block, ``read_threads`` workers each
    building whole batches, ``read_threads × ceil(prefetch_size / read_threads)`` batches in flight, yielded
    in order (persistent workers, ``drop_last``)."""

    def __init__(self, samples: list[Sample], batch_size: int, read_threads: int, prefetch_size: int,
                 transfer_size: int = 0) -> None:
        self.samples, self.batch_size, self.transfer_size = samples, batch_size, transfer_size
        self.threads = max(1, read_threads)
        self.in_flight = self.threads * max(1, math.ceil(prefetch_size / self.threads))
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="mlmeter-reader")
        self._local = _Buffers()

    def _batch(self, items: list[Sample]) -> int:
        return sum(read_hdf5_sample(s) if s.fmt == "hdf5" else read_npz_sample(s, self._local, self.transfer_size)
                   for s in items)

    def epoch(self, order: list[int], steps: int) -> Iterator[int]:
        """Yield the bytes read by each of ``steps`` batches, reading ahead."""
        batches = [[self.samples[i] for i in order[k * self.batch_size : (k + 1) * self.batch_size]]
                   for k in range(steps)]
        futures: list[Future[int]] = []
        nxt = 0
        for k in range(steps):
            while nxt < steps and len(futures) - k < self.in_flight:
                futures.append(self._pool.submit(self._batch, batches[nxt]))
                nxt += 1
            yield futures[k].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class TfLikeLoader:
    """Records streamed from this rank's files by ``read_threads`` parallel readers (interleaved), batched
    by ``batch_size`` (``drop_remainder``), an optional seeded shuffle buffer, ``prefetch_size`` batches ahead."""

    def __init__(self, files: list[Path], batch_size: int, read_threads: int, prefetch_size: int,
                 shuffle_size: int = 0, seed: int = 123) -> None:
        self.files, self.batch_size = files, batch_size
        self.threads = max(1, read_threads)
        self.prefetch = max(1, prefetch_size)
        self.shuffle_size, self.seed = shuffle_size, seed

    def _records(self, files: list[Path]) -> Iterator[int]:
        """Record sizes, read by ``threads`` readers over the files (each reader takes every threads-th file)."""
        q: queue.Queue[int | BaseException | None] = queue.Queue(maxsize=4 * self.batch_size)
        stop = threading.Event()

        def reader(mine: list[Path]) -> None:
            try:
                for path in mine:
                    try:
                        with open(path, "rb") as f:
                            for rec in tfrecord.read_records(f, str(path)):
                                if stop.is_set():
                                    return
                                q.put(len(rec) + 16)
                    except FileNotFoundError as exc:
                        raise ReadError(f"{path}: file not found") from exc
                    except tfrecord.TFRecordError as exc:
                        raise ReadError(str(exc)) from exc
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                q.put(exc)
            finally:
                q.put(None)

        workers = [threading.Thread(target=reader, args=(files[k :: self.threads],), daemon=True)
                   for k in range(min(self.threads, len(files)))]
        for t in workers:
            t.start()
        alive = len(workers)
        try:
            while alive:
                item = q.get()
                if item is None:
                    alive -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            while any(t.is_alive() for t in workers):
                with contextlib.suppress(queue.Empty):  # drain so that blocked readers see the stop flag
                    q.get(timeout=0.05)
            for t in workers:
                t.join()

    def epoch(self, files: list[Path], steps: int, epoch: int) -> Iterator[int]:
        """Yield the bytes of each of ``steps`` batches, a producer thread reading ``prefetch_size`` ahead."""
        out: queue.Queue[int | BaseException | None] = queue.Queue(maxsize=self.prefetch)
        rng = np.random.default_rng(self.seed + epoch)
        stop = threading.Event()

        def produce() -> None:
            try:
                buf: list[int] = []
                batch: list[int] = []
                made = 0
                for n in self._records(files):
                    if self.shuffle_size > 1:
                        buf.append(n)
                        if len(buf) < self.shuffle_size:
                            continue
                        n = buf.pop(int(rng.integers(len(buf))))
                    batch.append(n)
                    if len(batch) == self.batch_size:
                        out.put(sum(batch))
                        batch = []
                        made += 1
                        if made == steps or stop.is_set():
                            return
                while buf and made < steps:
                    batch.append(buf.pop(int(rng.integers(len(buf)))))
                    if len(batch) == self.batch_size:
                        out.put(sum(batch))
                        batch = []
                        made += 1
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
                out.put(exc)
            finally:
                out.put(None)

        t = threading.Thread(target=produce, daemon=True)
        t.start()
        got = 0
        try:
            while got < steps:
                item = out.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                got += 1
                yield item
        finally:
            stop.set()
            while t.is_alive():
                with contextlib.suppress(queue.Empty):  # drain so that a blocked producer sees the stop flag
                    out.get(timeout=0.05)
            t.join()

    def close(self) -> None:
        pass
