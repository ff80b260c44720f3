"""The one event stream of every kind of run: what the library tells the outside while it works.

The library never prints. Every long-running entry point (the LoadGen's ``run_test``, the inference harness,
training, storage datagen and runs) takes an ``observer`` and calls its handlers; the CLI's progress display,
the power meter and the run store are observers. Subclass :class:`Observer` (every handler is a no-op) and
override what you need; :class:`Fanout` sends each event to several observers.

Events, in the order a run emits them:

``on_stage(Stage)``
    A step of the run began: loading a model, warming up, an accuracy evaluation, a ranging pass. Steps that
    may take long follow with ``on_progress``.
``on_pass_start(PassInfo)`` / ``on_pass_end(PassInfo)``
    A LoadGen pass (``kind``: "performance", "accuracy" or "find-peak") began / ended. ``PassInfo.counts()``
    returns (samples issued, samples done) at any time, from any thread, so a display can poll it.
``on_progress(Progress)``
    A long step advanced: ``done`` of ``total`` ``unit`` (files written, epochs, training runs, samples scored).
``on_warning(Warning)``
    Something the user should know that does not stop the run (a power source that vanished, the page cache).
``on_run_written(RunWritten)``
    A run directory is complete on disk (its ``result.json`` written); the run store registers it.

Wiring that is not an observation (the LoadGen's completion sink, a power meter's sources) is passed as an
explicit parameter, never through an observer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Stage:
    message: str


@dataclass(frozen=True)
class PassInfo:
    """A LoadGen pass: what it is and where to read its live counts."""

    kind: str
    """"performance", "accuracy" or "find-peak"."""
    scenario: str
    """SingleStream, MultiStream, Server or Offline."""
    target_qps: float
    query_count: int
    sample_count: int
    counts: Callable[[], tuple[int, int]]
    """(samples issued, samples done) so far; cheap and safe to call from any thread."""
    min_duration_ms: int = 0

    @property
    def measured(self) -> bool:
        """A pass whose time is measured (power is sampled during it), not an accuracy pass."""
        return self.kind != "accuracy"


@dataclass(frozen=True)
class Progress:
    what: str
    done: float
    total: float | None = None
    unit: str = ""
    detail: str = ""
    """Anything else worth a glance (throughput so far, the last figure)."""


@dataclass(frozen=True)
class Warning:  # noqa: A001 -- the event's name in the stream; not the builtin category
    message: str


@dataclass(frozen=True)
class RunWritten:
    path: Path
    kind: str
    verdict: str


class Observer:
    """Receives a run's events; every handler does nothing unless overridden."""

    def on_stage(self, event: Stage) -> None:
        pass

    def on_pass_start(self, event: PassInfo) -> None:
        pass

    def on_pass_end(self, event: PassInfo) -> None:
        pass

    def on_progress(self, event: Progress) -> None:
        pass

    def on_warning(self, event: Warning) -> None:
        pass

    def on_run_written(self, event: RunWritten) -> None:
        pass


SILENT = Observer()


class Fanout(Observer):
    """Sends every event to each observer in turn (in the order given; pass ends in the reverse order, so a
    meter started last by ``on_pass_start`` is stopped first)."""

    def __init__(self, observers: Sequence[Observer | None]) -> None:
        self.observers = [o for o in observers if o is not None]

    def _send(self, handler: str, event: object, reverse: bool = False) -> None:
        for o in reversed(self.observers) if reverse else self.observers:
            getattr(o, handler)(event)

    def on_stage(self, event: Stage) -> None:
        self._send("on_stage", event)

    def on_pass_start(self, event: PassInfo) -> None:
        self._send("on_pass_start", event)

    def on_pass_end(self, event: PassInfo) -> None:
        self._send("on_pass_end", event, reverse=True)

    def on_progress(self, event: Progress) -> None:
        self._send("on_progress", event)

    def on_warning(self, event: Warning) -> None:
        self._send("on_warning", event)

    def on_run_written(self, event: RunWritten) -> None:
        self._send("on_run_written", event)


def observing(observer: Observer | None) -> Observer:
    return observer if observer is not None else SILENT
