"""Per-sample completion state of one issuing pass, and the thread-safe completion entry points.

:class:`Completer` is the :class:`~mlmeter.loadgen.protocols.CompletionSink` a SUT receives (``complete``,
``complete_one``, ``first_token``, ``report_failure``) and, for the driver only, the pass state behind it
(``start_pass``, ``rebase``, ``wait_for``, ``drain``, and ``n_issued``, which the issue loops set as they
issue — a plain attribute, as the hot loop cannot afford a call). SUTs must use the sink methods alone, and may
read ``scheduled_ns``: in the Server scenario, the scheduled time of the query being issued (0 elsewhere), so
that a SUT can measure its own lag from the schedule, as the latencies are.

Per-sample state lives in preallocated NumPy arrays indexed by ``id - base`` (no per-query objects);
SingleStream/MultiStream reuse one window of them chunk after chunk (:meth:`Completer.rebase`). The scalar path uses memoryviews of those arrays; a call with many ids is vectorised. Misuse by the SUT
(unknown id, a second completion, tokens out of order) never raises into the SUT: it is recorded as an
error and the run ends INVALID with the reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlmeter.loadgen.protocols import Driver, ResponseCallback

_clock = time.perf_counter_ns


# One accuracy-log row: (seq_id, qsl_idx, data, first-token data or None, n_tokens or None).
LogEntry = tuple[int, int, bytes, "bytes | None", "int | None"]


def _at(at_ns: int | None) -> int:
    """When an event happened: now, or the SUT's own ``perf_counter_ns`` reading (a SUT measuring in another
    process), never later than now."""
    now = _clock()
    return now if at_ns is None else min(int(at_ns), now)


@dataclass(frozen=True)
class Drained:
    """What a pass left in the completer: detail-log errors, the failures among them, accuracy-log rows."""

    errors: list[str]
    failures: list[str]
    log: list[LogEntry]
    last_done_ns: int


class Completer:
    """Receives completions for the samples of the current pass (see the module docstring).

    :param payload_reader: turns a response into the bytes the accuracy log records (the compat API reads
        its ``QuerySampleResponse`` objects this way).
    """

    def __init__(self, payload_reader: Callable[[Any], bytes] | None = None) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.errors: list[str] = []
        self.failures: list[str] = []
        """The subset of ``errors`` that invalidates the run (unknown ids, double completions)."""
        self.payload_reader: Callable[[Any], bytes] = payload_reader or _bytes_of
        self.driver: Driver | None = None
        """The SUT's driver (set by the run): ``wait_for`` runs it, and the completion it waits for interrupts it."""
        self._wake: Callable[[], None] = self._cond.notify
        self._reset(0, 0, 1, None, False, False)

    def drive_with(self, driver: Driver | None) -> None:
        self.driver = driver
        self._wake = self._cond.notify if driver is None else driver.interrupt

    # -- pass lifecycle (called by the run, not by SUTs) ------------------------------------------------
    def _reset(
        self,
        base: int,
        capacity: int,
        spq: int,
        qsl_idx: np.ndarray | None,
        log_all: bool,
        tokens: bool,
    ) -> None:
        self.base = base
        self.window_start = 0
        self.spq = spq
        self.n_issued = 0
        self.scheduled_ns = 0
        self.n_done = 0
        self.last_done_ns = 0
        self._wake_at = -1
        self.done = np.zeros(capacity, dtype=np.int64)
        self._done_mv = self.done.data
        self.qsl_idx = qsl_idx if qsl_idx is not None else np.zeros(capacity, dtype=np.int64)
        self.log_all = log_all
        self.log_mask: np.ndarray | None = None
        self.log: list[LogEntry] = []
        self.tokens = tokens
        self.first = np.zeros(capacity if tokens else 0, dtype=np.int64)
        self.n_tokens = np.zeros(capacity if tokens else 0, dtype=np.int64)
        self._first_payload: dict[int, bytes] = {}
        self.needs_first_token = False

    def start_pass(self, base: int, capacity: int, spq: int, *, log_all: bool, tokens: bool, first: bool) -> None:
        with self._lock:
            self._reset(base, capacity, spq, None, log_all, tokens)
            self.needs_first_token = first

    def rebase(self, pos: int) -> None:
        """Reuse the arrays for the samples from pass position ``pos`` on; all earlier ones are done."""
        with self._lock:
            self.base += pos - self.window_start
            self.window_start = pos
            self.done[:] = 0
            if self.log_mask is not None:
                self.log_mask[:] = False
            if self.tokens:
                self.first[:] = 0
                self.n_tokens[:] = 0
            self._first_payload.clear()

    def counts(self) -> tuple[int, int]:
        """(samples issued, samples done) of the current pass."""
        return self.n_issued, self.n_done

    def drain(self) -> Drained:
        """Take the pass's errors, failures and accuracy-log rows (the completer keeps none of them)."""
        with self._lock:
            out = Drained(self.errors, self.failures, self.log, self.last_done_ns)
            self.errors, self.failures, self.log = [], [], []
        return out

    def wait_for(self, count: int, timeout_ns: int) -> bool:
        """Block until ``count`` samples are done; False once no completion arrived for ``timeout_ns``."""
        if self.driver is not None:
            return self._drive_for(self.driver, count, timeout_ns)
        with self._cond:
            if self.n_done >= count:
                return True
            self._wake_at = count
            began = _clock()
            try:
                while self.n_done < count:
                    if timeout_ns:
                        idle = _clock() - max(self.last_done_ns, began)
                        if idle >= timeout_ns:
                            return False
                        self._cond.wait(min(timeout_ns - idle, 200_000_000) / 1e9)
                    else:
                        self._cond.wait(0.2)
                return True
            finally:
                self._wake_at = -1

    def _drive_for(self, driver: Driver, count: int, timeout_ns: int) -> bool:
        """``wait_for`` with a driven SUT: its loop runs here until the count is reached (the completions come
        from inside it, on this thread) or the completion timeout passes."""
        began = _clock()
        self._wake_at = count
        try:
            while self.n_done < count:
                now = _clock()
                step = 200_000_000
                if timeout_ns:
                    idle = now - max(self.last_done_ns, began)
                    if idle >= timeout_ns:
                        return False
                    step = min(timeout_ns - idle, step)
                driver.run_until(now + step)
            return True
        finally:
            self._wake_at = -1

    # -- SUT-facing entry points -------------------------------------------------------------------------
    def complete(self, ids: Any, responses: Sequence[Any] | np.ndarray | None = None, n_tokens: Any = None, *,
                 on_response: ResponseCallback | None = None, at_ns: int | None = None) -> None:
        """Complete ``ids`` (one timestamp for all of them); ``n_tokens`` per id in token mode."""
        now = _at(at_ns)
        if isinstance(ids, int):
            self._complete_one(now, ids, None if responses is None else responses[0],
                               None if n_tokens is None else _first(n_tokens), on_response)
            return
        if len(ids) > 32 and not self.tokens:
            self._complete_many(now, np.asarray(ids, dtype=np.int64), responses, on_response)
            return
        idl = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        ntl = None if n_tokens is None or not self.tokens else np.asarray(n_tokens).reshape(-1).tolist()
        for k, i in enumerate(idl):
            self._complete_one(now, i, None if responses is None else responses[k], None if ntl is None else ntl[k],
                               on_response)

    def complete_one(self, sample_id: int, response: Any = None, n_tokens: int | None = None,
                     on_response: ResponseCallback | None = None, at_ns: int | None = None) -> None:
        """Complete one sample (the scalar fast path: all arguments may be positional)."""
        self._complete_one(_at(at_ns), sample_id, response, n_tokens, on_response)

    def _complete_one(self, now: int, sid: int, response: Any, n_tokens: int | None,
                      hook: ResponseCallback | None = None) -> None:
        with self._lock:
            i = sid - self.base
            if not 0 <= i < self.n_issued - self.window_start:
                self._fail(f"SUT completed an unknown sample id {sid}.")
                return
            if self._done_mv[i]:
                self._fail(f"Attempted to complete a sample twice (id {sid}).")
                return
            self._done_mv[i] = now
            self.n_done += 1
            self.last_done_ns = now
            if self.tokens:
                self._record_tokens(i, sid, n_tokens)
            if self.log_all or (self.log_mask is not None and self.log_mask[i]):
                self._log(i, response, hook)
            if self.n_done >= self._wake_at >= 0:
                self._wake()

    def _complete_many(self, now: int, ids: np.ndarray, responses: Sequence[Any] | np.ndarray | None = None,
                       hook: ResponseCallback | None = None) -> None:
        """Complete many ids at one timestamp, vectorised (not for token mode)."""
        with self._lock:
            pos = ids - self.base
            ok = (pos >= 0) & (pos < self.n_issued - self.window_start)
            if not ok.all():
                for sid in ids[~ok].tolist():
                    self._fail(f"SUT completed an unknown sample id {sid}.")
            where = np.flatnonzero(ok)
            uniq, first, counts = np.unique(pos[where], return_index=True, return_counts=True)
            fresh = self.done[uniq] == 0
            extra = np.where(fresh, counts - 1, counts)
            for p in np.repeat(uniq, extra).tolist():
                self._fail(f"Attempted to complete a sample twice (id {p + self.base}).")
            new = uniq[fresh]
            self.done[new] = now
            self.n_done += len(new)
            self.last_done_ns = now
            if self.log_all or self.log_mask is not None:
                at = where[first[fresh]]  # index of each new sample in ids / responses
                chosen = np.ones(len(new), bool) if self.log_all else self.log_mask[new]  # type: ignore[index]
                order = np.argsort(at[chosen], kind="stable")  # keep the order the SUT gave
                for p, k in zip(new[chosen][order].tolist(), at[chosen][order].tolist(), strict=True):
                    self._log(p, None if responses is None else responses[k], hook)
            if self.n_done >= self._wake_at >= 0:
                self._wake()

    def report_failure(self, message: str) -> None:
        """The SUT could not serve (a crashed inference, say): the run ends INVALID with ``message``.

        The SUT should still complete the affected samples (with empty responses) so the pass can end.
        """
        with self._lock:
            if message not in self.failures:
                self._fail(message)

    def _fail(self, message: str) -> None:
        self.errors.append(message)
        self.failures.append(message)

    def _record_tokens(self, i: int, sid: int, n_tokens: int | None) -> None:
        if self.needs_first_token and self.first[i] == 0:
            self.errors.append("Attempted to record a sample latency before it's first token latency")
        n = n_tokens or 0
        if n == 0:
            self.errors.append("n_tokens argument missing or attempted to record 0 as number of tokens")
        elif n < 0:
            self.errors.append("Attempted to record a negative number of tokens")
            n = 0
        elif n == 1:
            self.errors.append("Number of tokens need to be greater than 1")
            n = 0
        self.n_tokens[i] = n

    def first_token(self, ids: Any, responses: Sequence[Any] | None = None, *,
                    on_response: ResponseCallback | None = None, at_ns: int | None = None) -> None:
        now = _at(at_ns)
        idl = [ids] if isinstance(ids, int) else (ids.tolist() if isinstance(ids, np.ndarray) else list(ids))
        with self._lock:
            if not self.tokens:
                return
            for k, sid in enumerate(idl):
                i = sid - self.base
                if not 0 <= i < self.n_issued - self.window_start:
                    self.errors.append(f"SUT reported a first token for an unknown sample id {sid}.")
                    continue
                if self._done_mv[i]:
                    self.errors.append("Attempted to record token latency after sample was completed")
                    continue
                self.first[i] = now
                if self.log_all or (self.log_mask is not None and self.log_mask[i]):
                    resp = None if responses is None else responses[k]
                    self._first_payload[i] = self._payload(resp, on_response)

    def _payload(self, response: Any, hook: ResponseCallback | None) -> bytes:
        """The logged bytes of a response; a response that has none, or a hook that raises, is recorded as a
        failure of the SUT (never raised into it)."""
        if response is None:
            return b""
        try:
            if hook is not None:
                hook(response)
            return self.payload_reader(response)
        except Exception as exc:  # noqa: BLE001 -- the SUT's misuse is recorded, the run goes on to its end
            self._fail(f"SUT response could not be logged: {type(exc).__name__}: {exc}")
            return b""

    def _log(self, i: int, response: Any, hook: ResponseCallback | None) -> None:
        first = self._first_payload.pop(i, b"") if self.tokens else None
        n_tok = int(self.n_tokens[i]) if self.tokens else None
        self.log.append((self.base + i - 1, int(self.qsl_idx[i]), self._payload(response, hook), first, n_tok))


def _first(x: Any) -> int:
    if isinstance(x, (int, np.integer)):
        return int(x)
    return int(np.asarray(x).reshape(-1)[0])


def _bytes_of(response: Any) -> bytes:
    if isinstance(response, (bytes, bytearray, memoryview)):
        return bytes(response)
    if isinstance(response, np.ndarray):
        return response.tobytes()
    raise TypeError(f"a response must be bytes-like or a NumPy array, not {type(response).__name__}")
