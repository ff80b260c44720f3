"""The contracts between the load generator, the system under test and the sample library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

IssueFn = Callable[[int, int], None]
"""Issues ``count`` samples starting at position ``pos`` of the arrays it was bound to."""


ResponseCallback = Callable[[Any], None]
"""Called with each response of one completion call that the accuracy log records (the compat API's
``response_cb``); passed per call, never stored."""


@runtime_checkable
class CompletionSink(Protocol):
    """How a SUT reports back: the narrow, thread-safe interface it receives in ``start``.

    ``ids`` is an int or a sequence/array of ints; ``responses`` (bytes-like or NumPy arrays, one per id) are
    read only for samples the accuracy log records. Misuse (an unknown id, a second completion, tokens out of
    order, an unreadable response, a raising callback) is recorded and ends the run INVALID with the reason;
    it is never raised into the SUT. ``at_ns`` (optional) is when the event happened, a ``time.perf_counter_ns``
    reading taken by the SUT — for SUTs that measure in another process on the same machine; never later than now.
    """

    def complete(self, ids: Any, responses: Any = None, n_tokens: Any = None, *,
                 on_response: ResponseCallback | None = None, at_ns: int | None = None) -> None: ...

    def complete_one(self, sample_id: int, response: Any = None, n_tokens: int | None = None,
                     on_response: ResponseCallback | None = None, at_ns: int | None = None) -> None: ...

    def first_token(self, ids: Any, responses: Any = None, *, on_response: ResponseCallback | None = None,
                    at_ns: int | None = None) -> None: ...

    def report_failure(self, message: str) -> None:
        """The SUT could not serve (a crashed inference): the run ends INVALID with ``message``. The SUT
        should still complete the affected samples (empty responses) so the pass can end."""
        ...


@runtime_checkable
class QuerySampleLibrary(Protocol):
    """Holds the dataset; loads a set of samples into memory before they are issued."""

    name: str
    total_sample_count: int
    performance_sample_count: int

    def load_samples(self, indices: Sequence[int]) -> None: ...

    def unload_samples(self, indices: Sequence[int]) -> None: ...


@runtime_checkable
class SystemUnderTest(Protocol):
    """Receives queries as arrays of sample ids and QSL indices; completes them through the sink.

    ``start`` hands over the :class:`CompletionSink` before the first query. ``issue`` may complete inside the
    call or later from any thread. ``flush`` follows the last ``issue`` of each pass.
    """

    name: str

    def start(self, sink: CompletionSink) -> None: ...

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None: ...

    def flush(self) -> None: ...


@runtime_checkable
class Driver(Protocol):
    """A SUT whose work is an event loop may let the LoadGen run that loop on its own thread (``sut.driver()``
    returns one, or None): whenever the LoadGen would wait — for the next query's scheduled time, or for
    completions — it calls ``run_until`` instead of sleeping, so a due query is issued by the thread that sends
    it, with no hand-over between threads. The SUT completes samples from inside ``run_until`` (and from
    ``issue``), never from another thread."""

    def run_until(self, deadline_ns: int) -> None:
        """Run the SUT's work until ``perf_counter_ns()`` reaches ``deadline_ns``, or ``interrupt()`` is called
        from inside; may return a little early (the LoadGen calls again)."""
        ...

    def interrupt(self) -> None:
        """Make the running ``run_until`` return soon (a completion the LoadGen waits for has arrived)."""
        ...


def driver_of(sut: SystemUnderTest) -> Driver | None:
    """The SUT's :class:`Driver`, when it offers one (``driver()``), else None: the LoadGen sleeps and waits."""
    get = getattr(sut, "driver", None)
    return get() if get is not None else None


def bind_issue(sut: SystemUnderTest, ids: np.ndarray, indices: np.ndarray) -> IssueFn:
    """The fast call the issuing loops make. A SUT may provide ``bind_issue(ids, indices)`` to shape it."""
    custom = getattr(sut, "bind_issue", None)
    if custom is not None:
        fn: IssueFn = custom(ids, indices)
        return fn
    issue = sut.issue

    def fire(pos: int, count: int) -> None:
        end = pos + count
        issue(ids[pos:end], indices[pos:end])

    return fire
