"""The contracts between the load generator, the system under test and the sample library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from mlmeter.loadgen.completer import Completer

IssueFn = Callable[[int, int], None]
"""Issues ``count`` samples starting at position ``pos`` of the arrays it was bound to."""


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
    """Receives queries as arrays of sample ids and QSL indices; completes them through the Completer.

    ``start`` hands over the :class:`Completer` before the first query. ``issue`` may complete inside the
    call or later from any thread. ``flush`` follows the last ``issue`` of each pass.
    """

    name: str

    def start(self, completer: Completer) -> None: ...

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None: ...

    def flush(self) -> None: ...


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
