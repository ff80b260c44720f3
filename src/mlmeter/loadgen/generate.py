"""Loadable sets and query generation, bit-exact with the official LoadGen (spec §6).

A :class:`QueryPlan` knows how many queries the official LoadGen would generate, their schedule and the
sample indices of each, but materialises samples lazily in chunks: a SingleStream run with a tiny expected
latency may "generate" hundreds of millions of queries of which only the issued ones ever exist here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlmeter.loadgen.rng import MT19937, exponential_ns, shuffle, uniform_ints
from mlmeter.loadgen.settings import EffectiveSettings, TestScenario


@dataclass(frozen=True)
class LoadableSet:
    """QSL indices loaded together (MultiStream: with padding) and the count of real entries."""

    indices: tuple[int, ...]
    real_len: int


def loadable_sets(
    count: int, total: int, chunk: int, seed: int, pad: int
) -> list[LoadableSet]:
    """Shuffle ``range(min(count, total))`` with ``mt19937(seed)`` and cut it into chunks of ``chunk``.

    ``pad`` extra entries (a copy of the chunk's first ones) are appended to each chunk (MultiStream).
    """
    n = min(count, total)
    order = list(range(n))
    shuffle(order, MT19937(seed))
    sets = []
    for start in range(0, n, max(chunk, 1)):
        part = order[start : start + chunk]
        sets.append(LoadableSet(tuple(part + part[:pad]), len(part)))
    return sets


def period_ns(target_qps: float) -> int:
    """The constant SingleStream/MultiStream/Offline schedule step: ``duration_cast<ns>(1/qps s)``."""
    return int((1.0 / target_qps) * 1e9)


def _shuffled_range(stop: int, stride: int, rng: MT19937) -> list[int]:
    values = list(range(0, stop, stride))
    shuffle(values, rng)
    return values


class QueryPlan:
    """The queries of one issuing pass: count, schedule and sample indices, generated on demand."""

    def __init__(self, es: EffectiveSettings, loaded: LoadableSet, accuracy: bool) -> None:
        self.scenario = es.scenario
        self.loaded = loaded
        self.accuracy = accuracy
        self._table = np.asarray(loaded.indices, dtype=np.int64)
        n_loaded = len(loaded.indices)
        e = loaded.real_len
        offline = es.scenario == TestScenario.Offline
        multi = es.scenario == TestScenario.MultiStream
        server = es.scenario == TestScenario.Server
        gen_ns = (1 if server else 2) * es.target_duration_ms * 1_000_000
        min_queries = es.min_query_count
        spq = e if (accuracy and offline) else es.samples_per_query
        if accuracy or es.performance_issue_unique:
            gen_ns = 0
            min_queries = n_loaded // spq
        self._rng = MT19937(es.sample_index_rng_seed)
        stride = spq if multi else 1
        self._main = None if not accuracy else _shuffled_range(e, stride, self._rng)
        self._unique = _shuffled_range(e, stride, self._rng)
        work = list(range(n_loaded))
        eq: list[int] = []
        for _ in range(0, min_queries, max(n_loaded, 1)):
            shuffle(work, self._rng)
            eq.extend(work)
        self._equal = eq
        self._mode = self._selection_mode(es, accuracy)
        equal_issue = es.sample_concatenate_permutation and not accuracy
        if equal_issue and offline and spq % n_loaded:
            spq += n_loaded - spq % n_loaded
        if equal_issue and not offline and min_queries % n_loaded:
            min_queries += n_loaded - min_queries % n_loaded
        self.samples_per_query = spq
        self._same_index = es.performance_issue_same_index
        self._equal_issue = equal_issue
        self._next_query = 0
        if server:
            self.offsets: np.ndarray | None = self._server_offsets(es, gen_ns, min_queries, n_loaded, equal_issue)
            self.query_count = len(self.offsets) - 1
            self.duration_ns = int(self.offsets[-1])
            self.period = 0
        else:
            self.offsets = None
            self.period = period_ns(es.target_qps)
            k = 0 if gen_ns <= 0 else -(-gen_ns // max(self.period, 1))
            self.query_count = _stop_count(k, gen_ns, min_queries, n_loaded, equal_issue and not offline)
            self.duration_ns = self.query_count * self.period
        self.sample_count = self.query_count * spq

    @staticmethod
    def _selection_mode(es: EffectiveSettings, accuracy: bool) -> str:
        if es.performance_issue_unique:
            return "unique"
        if es.performance_issue_same:
            return "same"
        if es.sample_concatenate_permutation and not accuracy and es.scenario != TestScenario.MultiStream:
            return "equal"
        return "accuracy" if accuracy else "random"

    def _server_offsets(
        self, es: EffectiveSettings, gen_ns: int, min_queries: int, n_loaded: int, equal_issue: bool
    ) -> np.ndarray:
        rng = MT19937(es.schedule_rng_seed)
        estimate = int(gen_ns / 1e9 * es.target_qps * 1.05) + min_queries + 1024
        deltas = exponential_ns(rng, es.target_qps, estimate)
        while True:
            offsets = np.concatenate(([0], np.cumsum(deltas)))
            # offsets[k] = scheduled offset of query k; reaching gen_ns needs offsets[k] >= gen_ns.
            k = int(np.searchsorted(offsets[:-1], gen_ns, side="left")) if gen_ns > 0 else 0
            if k < len(deltas) or gen_ns <= 0:
                count = _stop_count(k, gen_ns, min_queries, n_loaded, equal_issue)
                if count <= len(deltas):
                    return offsets[: count + 1]
            deltas = np.concatenate((deltas, exponential_ns(rng, es.target_qps, len(deltas))))

    def next_samples(self, n: int) -> np.ndarray:
        """QSL indices of the next ``n`` queries (``n * samples_per_query`` entries, query-major)."""
        q0 = self._next_query
        n = min(n, self.query_count - q0)
        self._next_query = q0 + n
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        spq = self.samples_per_query
        if self.scenario == TestScenario.Offline:
            return self._offline_query()
        pos = np.arange(q0, q0 + n, dtype=np.int64)
        mode = self._mode
        if mode == "unique":
            u = np.asarray(self._unique, dtype=np.int64)
            choice = u[pos % len(u)]
        elif mode == "same":
            choice = np.full(n, self._same_index, dtype=np.int64)
        elif mode == "equal":
            eq = np.asarray(self._equal, dtype=np.int64)
            choice = eq[pos % len(eq)]
        elif mode == "accuracy":
            a = np.asarray(self._main, dtype=np.int64)
            choice = a[pos % len(a)]
        else:
            choice = uniform_ints(self._rng, 0, self.loaded.real_len - 1, n)
        if self.scenario == TestScenario.MultiStream:
            return self._table[(choice[:, None] + np.arange(spq)[None, :]).ravel()]
        return self._table[choice]

    def _offline_query(self) -> np.ndarray:
        spq = self.samples_per_query
        table = list(self.loaded.indices)
        if self._mode == "same":
            return np.full(spq, table[self._same_index], dtype=np.int64)
        out: list[int] = []
        for _ in range(spq // len(table)):
            rep = list(self.loaded.indices)
            if self._equal_issue:
                shuffle(rep, self._rng)
            out.extend(rep)
        out.extend(table[: spq % len(table)])
        return np.asarray(out, dtype=np.int64)


def _stop_count(k: int, gen_ns: int, min_queries: int, n_loaded: int, extend: bool) -> int:
    """How many queries the generation loop produces.

    ``k`` is the index of the first query scheduled at or after ``gen_ns``; the loop runs while the last
    offset is below ``gen_ns`` or fewer than ``min_queries`` exist, and (equal issue) extends the minimum by
    whole loaded sets while the duration is not yet covered.
    """
    if gen_ns <= 0:
        return max(min_queries, 0)
    need = k + 1
    if not extend:
        return max(min_queries, need)
    if min_queries >= need:
        return min_queries
    steps = -(-(need - min_queries) // n_loaded)
    return min_queries + steps * n_loaded
