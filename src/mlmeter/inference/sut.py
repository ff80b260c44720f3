"""The system under test: runs batches of pre-processed samples on a backend and completes them.

Three issue paths, chosen by scenario:

- SingleStream / MultiStream: the query runs inside ``issue`` (one query is outstanding; no thread hand-off).
- Offline and Server: queries go to a pending queue served by ``workers`` threads. A worker takes up to
  ``max_batch`` samples; if fewer are waiting it holds the batch open until ``max_wait`` after the oldest
  arrival, but never past the point where the estimated service time would push that query over the latency
  budget. Offline uses a zero wait (the one query already holds every sample).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlmeter.backends.base import Backend
from mlmeter.inference.qsl import PreprocessedQSL
from mlmeter.loadgen.completer import Completer
from mlmeter.loadgen.protocols import CompletionSink
from mlmeter.workloads.base import Feeder, Workload

_clock = time.perf_counter_ns


class BatchRunner:
    """gather -> predict -> post-process for one batch of QSL indices; serialises non-thread-safe backends."""

    def __init__(self, qsl: PreprocessedQSL, backend: Backend, workload: Workload, feeder: Feeder) -> None:
        self.qsl, self.backend, self.workload, self.feeder = qsl, backend, workload, feeder
        self._lock = None if backend.thread_safe else threading.Lock()

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        feeds = self.feeder(self.qsl.gather(indices))
        if self._lock is None:
            out = self.backend.predict(feeds)
        else:
            with self._lock:
                out = self.backend.predict(feeds)
        return self.workload.postprocess(out)


class ServiceTime:
    """Estimated batch service time ``fixed + per_sample × n`` (ns), corrected by an EWMA of observed/predicted."""

    def __init__(self, fixed_ns: float, per_sample_ns: float) -> None:
        self.fixed, self.per = max(fixed_ns, 0.0), max(per_sample_ns, 0.0)
        self.ratio = 1.0

    def predict(self, n: int) -> float:
        return (self.fixed + self.per * n) * self.ratio

    def observe(self, n: int, ns: int) -> None:
        base = self.fixed + self.per * n
        if base > 0:
            self.ratio = 0.9 * self.ratio + 0.1 * (ns / base)


@dataclass(frozen=True)
class BatchingPolicy:
    max_batch: int
    max_wait_ns: int
    budget_ns: int
    """Latest completion a held batch may aim for, measured from its oldest query's arrival (0: no limit)."""


class InferenceSUT:
    """Implements the LoadGen ``SystemUnderTest`` contract over a :class:`BatchRunner`."""

    def __init__(self, run: BatchRunner, *, direct: bool, policy: BatchingPolicy, workers: int,
                 service: ServiceTime, name: str) -> None:
        self.name = name
        self._run, self._direct, self._policy, self._service = run, direct, policy, service
        self._completer: CompletionSink | None = None
        self._pending: collections.deque[tuple[int, np.ndarray, np.ndarray]] = collections.deque()
        self._n_pending = 0
        self._cond = threading.Condition()
        self._flushing = False
        self._closed = False
        self.batches = 0
        self.batch_samples = 0
        self._threads = [] if direct else [
            threading.Thread(target=self._worker, name=f"mlmeter-worker-{k}", daemon=True) for k in range(workers)
        ]
        for t in self._threads:
            t.start()

    # -- LoadGen contract ----------------------------------------------------------------------------
    def start(self, completer: CompletionSink) -> None:
        self._completer = completer

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        if self._direct:
            step = self._policy.max_batch
            for a in range(0, len(ids), step):
                self._serve(ids[a : a + step], indices[a : a + step])
            return
        with self._cond:
            self._pending.append((_clock(), ids, indices))
            self._n_pending += len(ids)
            self._flushing = False
            self._cond.notify()

    def flush(self) -> None:
        with self._cond:
            self._flushing = True
            self._cond.notify_all()

    def close(self, wait: bool = True) -> None:
        """Stop the workers once their batches are done; ``wait=False`` leaves a hung one behind (a daemon)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads if wait else ():
            t.join()

    # -- serving ---------------------------------------------------------------------------------------
    def _serve(self, ids: np.ndarray, indices: np.ndarray) -> None:
        comp = self._completer
        assert comp is not None
        t0 = _clock()
        try:
            responses = self._run(indices)
        except Exception as exc:  # noqa: BLE001 - a failed inference ends the run INVALID, never a hang
            comp.report_failure(f"inference failed: {type(exc).__name__}: {exc}")
            comp.complete(ids)
            return
        self._service.observe(len(ids), _clock() - t0)
        self.batches += 1
        self.batch_samples += len(ids)
        comp.complete(ids, responses)

    def _release_at(self) -> int:
        """When the batch now pending must be dispatched (ns, ``_clock`` time base)."""
        p = self._policy
        oldest = self._pending[0][0]
        due = oldest + p.max_wait_ns
        if p.budget_ns:
            due = min(due, oldest + p.budget_ns - int(self._service.predict(min(self._n_pending + 1, p.max_batch))))
        return due

    def _take(self) -> tuple[np.ndarray, np.ndarray]:
        room = self._policy.max_batch
        ids: list[np.ndarray] = []
        idx: list[np.ndarray] = []
        while room and self._pending:
            t, a, b = self._pending[0]
            if len(a) <= room:
                self._pending.popleft()
            else:
                self._pending[0] = (t, a[room:], b[room:])
                a, b = a[:room], b[:room]
            ids.append(a)
            idx.append(b)
            room -= len(a)
        n = self._policy.max_batch - room
        self._n_pending -= n
        if len(ids) == 1:
            return ids[0], idx[0]
        return np.concatenate(ids), np.concatenate(idx)

    def _worker(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._pending and not self._closed:
                    cond.wait()
                if self._closed:
                    return
                while self._n_pending < self._policy.max_batch and not self._flushing and not self._closed:
                    wait = self._release_at() - _clock()
                    if wait <= 0:
                        break
                    cond.wait(wait / 1e9)
                    if not self._pending:
                        break
                if not self._pending:
                    continue
                ids, idx = self._take()
                if self._pending:
                    cond.notify()
            self._serve(ids, idx)


def measure_service(run: Callable[[np.ndarray], np.ndarray], max_batch: int, available: int, repeats: int = 3) -> ServiceTime:
    """Warm the backend up and fit ``fixed + per_sample × n`` from batches of 1 and ``max_batch`` samples."""
    def timed(n: int) -> int:
        idx = np.arange(n, dtype=np.int64) % max(available, 1)
        best = None
        for _ in range(repeats):
            t0 = _clock()
            run(idx)
            dt = _clock() - t0
            best = dt if best is None else min(best, dt)
        assert best is not None
        return best

    one = timed(1)
    if max_batch <= 1:
        return ServiceTime(one, 0.0)
    many = timed(max_batch)
    per = max((many - one) / (max_batch - 1), 0.0)
    return ServiceTime(one - per, per)


def measure_offline_rate(run: BatchRunner, service: ServiceTime, *, max_batch: int, workers: int, available: int,
                         seconds: float = 0.25, repeats: int = 3, idle_timeout_s: float = 60) -> float:
    """The Offline SUT's own rate (samples/s): one query of about ``seconds``' worth of full batches (two per
    worker at least) of the ``available`` loaded samples, through an Offline SUT with ``workers`` threads and
    into the LoadGen's completer (so its cost is counted); the best of ``repeats`` (a stall on a busy machine
    slows one). Raises ``RuntimeError`` when an inference fails or nothing completes for ``idle_timeout_s``."""
    per_batch = max(service.predict(max_batch), 1_000.0)
    n = max(2 * workers, int(seconds * 1e9 * workers / per_batch)) * max_batch
    ids = np.arange(n, dtype=np.int64)
    indices = ids % max(available, 1)
    sut = InferenceSUT(run, direct=False, policy=BatchingPolicy(max_batch, 0, 0), workers=workers, service=service,
                       name="offline-probe")
    completer = Completer()
    sut.start(completer)
    best, hung = 0.0, False
    try:
        for _ in range(repeats):
            completer.start_pass(0, n, n, log_all=False, tokens=False, first=False)
            completer.n_issued = n
            t0 = _clock()
            sut.issue(ids, indices)
            if not completer.wait_for(n, int(idle_timeout_s * 1e9)):
                hung = True
                raise RuntimeError(f"the Offline probe: no sample completed for {idle_timeout_s:g} s")
            elapsed = _clock() - t0
            if completer.failures:
                raise RuntimeError(completer.failures[0])
            best = max(best, n / (elapsed / 1e9))
    finally:
        sut.close(wait=not hung)
    return best
