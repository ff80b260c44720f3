"""What an issuing loop receives and reports: the :class:`PassContext` of one issuing pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mlmeter.loadgen.completer import Completer
from mlmeter.loadgen.generate import QueryPlan
from mlmeter.loadgen.protocols import Driver, IssueFn
from mlmeter.loadgen.settings import EffectiveSettings

clock = time.perf_counter_ns
# Sleep until this close to the deadline, then spin. Spinning holds the GIL (a yield does not hand it over to
# a waiting SUT thread), so the spin window is kept to about the OS timer slack.
_SPIN_NS = 80_000


@dataclass
class PassContext:
    """Inputs of one pass, and the outcome the loop fills in."""

    es: EffectiveSettings
    plan: QueryPlan
    completer: Completer
    accuracy: bool
    seq0: int
    bind: Callable[[np.ndarray, np.ndarray], IssueFn]
    prepare: Callable[[int, np.ndarray], None]
    """Called with (first sample position, QSL indices) before a chunk of samples is issued."""
    record: Callable[[np.ndarray, np.ndarray], None]
    """Folds the queries of the completion window, given their scheduled and issued times, into the result."""
    timeout_ns: int
    wait_until: Callable[[int], int]
    """Waits until a time and returns the time: sleeping, or running the SUT's driver (:func:`waiter`)."""
    # outcome
    start_ns: int = 0
    # the queries of the current completion window (all of them, except for SingleStream/MultiStream):
    issued_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    scheduled_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    queries: int = 0
    abandoned: int = 0
    messages: list[tuple[str, str, int]] = field(default_factory=list)
    """(key, message, time) entries for the detail log; keys starting with ``error_`` are errors."""
    failures: list[str] = field(default_factory=list)
    """SUT misbehaviour that makes the run INVALID (raised in issue, stopped completing)."""

    def ids(self, first: int, n: int) -> np.ndarray:
        return np.arange(self.seq0 + 1 + first, self.seq0 + 1 + first + n, dtype=np.int64)

    def note(self, key: str, message: str) -> None:
        self.messages.append((key, message, clock()))

    def fail(self, message: str) -> None:
        self.note("error_runtime", message)
        self.failures.append(message)

    def sut_raised(self, exc: BaseException, samples: int) -> None:
        self.abandoned = samples
        self.fail(f"SUT raised in issue: {type(exc).__name__}: {exc}")

    def timed_out(self) -> None:
        c = self.completer
        self.fail(
            f"SUT stopped completing: {c.n_issued - c.n_done} of {c.n_issued} issued samples outstanding after "
            f"{self.timeout_ns / 1e9:g} s without a completion (completion_timeout_ms).",
        )

    def limits_hit(self, queries: int, elapsed_ns: int) -> bool:
        """Max query count and max duration (spec §7.2 items 3–4); True when issuing must stop."""
        es = self.es
        if es.max_query_count and queries >= es.max_query_count:
            self.note(
                "error_runtime", f"IssueQueryThread 0 Ending early: Max query count reached. query_count {queries}"
            )
            return True
        if es.max_duration_ms and elapsed_ns > es.max_duration_ms * 1_000_000:
            self.note(
                "error_runtime", f"IssueQueryThread 0 Ending early: Max test duration reached. duration_ns {elapsed_ns}"
            )
            return True
        return False


def waiter(driver: Driver | None) -> Callable[[int], int]:
    """How the issuing loop waits for a query's time: sleep and spin, or run the SUT's driver until then."""
    if driver is None:
        return wait_until
    run = driver.run_until

    def driven(target: int) -> int:
        now = clock()
        while now < target:
            run(target)
            now = clock()
        return now

    return driven


def wait_until(target: int) -> int:
    """Sleep (releasing the GIL), then spin the last few microseconds until ``target``; returns the time."""
    now = clock()
    while now < target:
        left = target - now
        if left > _SPIN_NS:
            time.sleep((left - _SPIN_NS) / 1e9)
        now = clock()
    return now
