"""Built-in SUTs and QSL for learning the rules and measuring the generator itself.

``NullSUT`` completes inside ``issue``; ``LatencySUT`` completes each query after a fixed or random delay
(from a timer thread), optionally streaming tokens (first token, then the rest).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlmeter.loadgen.protocols import CompletionSink


@dataclass
class MemoryQSL:
    """A QSL whose samples are just their indices; records how it was loaded."""

    total_sample_count: int = 1024
    performance_sample_count: int = 1024
    name: str = "MemoryQSL"

    def __post_init__(self) -> None:
        self.loads: list[list[int]] = []
        self.unloads: list[list[int]] = []

    def load_samples(self, indices: Sequence[int]) -> None:
        self.loads.append(list(indices))

    def unload_samples(self, indices: Sequence[int]) -> None:
        self.unloads.append(list(indices))


class NullSUT:
    """Completes every sample inside ``issue``: what remains is the generator's own overhead."""

    name = "NullSUT"

    def start(self, completer: CompletionSink) -> None:
        self._complete = completer.complete

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        self._complete(ids)

    def flush(self) -> None:
        pass


@dataclass(frozen=True)
class LatencyModel:
    """Per-query service time: fixed ``mean_ms``, or lognormal with ``sigma`` around it."""

    mean_ms: float = 1.0
    sigma: float = 0.0
    seed: int = 0
    tokens: int = 0  # > 0: stream this many tokens per sample (first token after ttft_fraction of the time)
    ttft_fraction: float = 0.2


class LatencySUT:
    """Completes queries after a simulated service time, from a timer thread; ``workers`` serve in parallel."""

    name = "LatencySUT"

    def __init__(self, model: LatencyModel, workers: int = 1) -> None:
        self.model = model
        self.workers = workers
        self._rng = np.random.default_rng(model.seed)
        self._busy_until = [0] * workers
        self._heap: list[tuple[int, int, int, bool]] = []
        self._cv = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._stop = False

    def start(self, completer: CompletionSink) -> None:
        self._completer = completer
        if self._thread is None:
            self._thread = threading.Thread(target=self._timer, name="mlmeter-latency-sut", daemon=True)
            self._thread.start()

    def _service_ns(self) -> int:
        m = self.model
        if m.sigma <= 0:
            return int(m.mean_ms * 1e6)
        mu = np.log(m.mean_ms) - m.sigma**2 / 2
        return int(self._rng.lognormal(mu, m.sigma) * 1e6)

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        now = time.perf_counter_ns()
        with self._cv:
            for sid in ids.tolist():
                w = min(range(self.workers), key=self._busy_until.__getitem__)
                begin = max(now, self._busy_until[w])
                done = begin + self._service_ns()
                self._busy_until[w] = done
                if self.model.tokens:
                    first = begin + int((done - begin) * self.model.ttft_fraction)
                    self._push(first, sid, True)
                self._push(done, sid, False)
            self._cv.notify()

    def _push(self, at: int, sid: int, first: bool) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, sid, first))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()

    def _timer(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                at = self._heap[0][0]
                now = time.perf_counter_ns()
                if at > now:
                    self._cv.wait((at - now) / 1e9)
                    continue
                _, _, sid, first = heapq.heappop(self._heap)
            if first:
                self._completer.first_token(sid)
            elif self.model.tokens:
                self._completer.complete(sid, n_tokens=self.model.tokens)
            else:
                self._completer.complete(sid)
