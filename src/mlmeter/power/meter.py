"""One object per run that owns the power sources: sample a measured window, then describe it in ``result.json``.

Every benchmark (LoadGen, inference, storage, training) records power the same way: the ``power`` section names
the sources, the measurement boundary, whether it is metered or software-estimated, what could not be read, the
energy and average power of the window, a thinned trace for plots, and the benchmark's own figures.
"""

from __future__ import annotations

import time
from typing import Any

from mlmeter import events
from mlmeter.loadgen.scenarios.policy import scenario_policy
from mlmeter.power.ptd import PtdError, PtdSource
from mlmeter.power.sampler import PowerSampler, PowerTrace, power_metrics
from mlmeter.power.sources import PowerSource, open_sources

TRACE_POINTS = 500


class Meter:
    """``Meter(["auto"])`` opens what is readable; ``start``/``stop`` bracket one window (re-usable).

    ``ptd://HOST[:PORT]`` names a wall power analyzer behind a PTDaemon power server. It is the only source then
    (wall power already contains what RAPL or NVML estimate), and a measurement takes two passes of the workload:
    the caller runs it once with ``mode = "ranging"`` and again with ``mode = "testing"`` (``two_pass``).
    """

    def __init__(self, names: list[str] | tuple[str, ...]) -> None:
        self.enabled = bool(names)
        self.problems: list[str] = []
        self.wall: PtdSource | None = None
        self.sources: list[PowerSource] = []
        walls = [n for n in names if n.startswith("ptd://")]
        others = [n for n in names if not n.startswith("ptd://")]
        if walls:
            if len(walls) > 1 or others:
                self.problems.append("a wall power server is used alone: "
                                     f"{', '.join(walls[1:] + others)} ignored")
            try:
                self.wall = PtdSource(walls[0])
            except PtdError as exc:
                self.problems.append(str(exc))
        elif names:
            self.sources, self.problems = open_sources(others)
        self.mode = "testing"
        self._closed = False
        self._sampler: PowerSampler | None = None
        self._window: tuple[float, float] | None = None
        self.trace: PowerTrace | None = None

    @property
    def two_pass(self) -> bool:
        return self.wall is not None

    @property
    def _all(self) -> list[PowerSource | PtdSource]:
        return [self.wall] if self.wall is not None else list(self.sources)

    def start(self) -> None:
        if self.wall is not None:
            try:
                self.wall.begin(self.mode)
                self._window = (time.time(), time.perf_counter())
            except PtdError as exc:
                self._lost(exc)
        elif self.sources:
            self._sampler = PowerSampler(self.sources)
            self._sampler.start()

    def stop(self) -> PowerTrace | None:
        if self._sampler is not None:
            self.trace = self._sampler.stop()
            self._sampler = None
        if self.wall is not None and self._window is not None:
            t0, p0 = self._window
            self._window = None
            duration = time.perf_counter() - p0
            try:
                samples = self.wall.end(self.mode, t0, t0 + duration)
            except PtdError as exc:
                self._lost(exc)
                return self.trace
            if self.mode == "testing":
                self.trace = _wall_trace(samples, t0, duration)
        return self.trace

    def _lost(self, exc: PtdError) -> None:
        self.problems.append(f"power server lost mid-run: {exc}; the run carries on without power")
        if self.wall is not None:
            self.wall.client.close()
        self.wall = None

    def close(self) -> None:
        """End the power server's session (the analyzer's ranges are restored by the server)."""
        if self.wall is not None and not self._closed:
            self._closed = True
            try:
                self.wall.finish()
            except PtdError as exc:
                self.problems.append(f"power server: closing the session: {exc}")

    def section(self, figures: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The ``power`` section of ``result.json`` for the last window (``None`` when power was not asked for)."""
        if not self.enabled:
            return None
        every = self._all
        out: dict[str, Any] = {
            "sources": [s.name for s in every],
            "boundary": " + ".join(s.boundary for s in every) or None,
            "measured": "metered" if any(s.metered for s in every) else "software-estimated",
            "unavailable": list(self.problems),
        }
        if self.wall is not None:
            out["power_server"] = {"session": self.wall.session, "messages": [list(m) for m in self.wall.client.messages],
                                   "note": "measured through a PTDaemon power server; not an MLPerf Power "
                                           "submission (that needs the official client and its checksums)"}
        t = self.trace
        if t is not None:
            out.update({"average_watts": t.average_watts, "energy_j": t.energy_j, "duration_s": t.duration_s})
            step = max(1, len(t.watts) // TRACE_POINTS)  # a summary for plots, never the raw stream
            out["trace"] = {"t_s": t.times[::step], "watts": t.watts[::step]}
            out["errors"] = list(t.errors)
            out.update(figures or {})
        return out


    def test_section(self, result: Any) -> dict[str, Any] | None:
        """The ``power`` section of a LoadGen test (``result``: a ``TestResult``) with MLPerf's figures for its
        scenario: Offline/Server throughput per watt, SingleStream/MultiStream energy per query."""
        perf = result.performance
        if self.trace is None or perf is None:
            return self.section()
        m = perf.metrics
        h = scenario_policy(result.scenario).headline(m, perf.settings.target_latency_percentile)
        throughput = h.value if h is not None and h.higher_is_better else None
        return self.section(power_metrics(result.scenario.name, self.trace, throughput, perf.query_count,
                                          result.settings.samples_per_query))


class MeteredPasses(events.Observer):
    """Subscribes a :class:`Meter` to a run's events: power is sampled during every measured pass."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def on_pass_start(self, event: events.PassInfo) -> None:
        if event.measured:
            self.meter.start()

    def on_pass_end(self, event: events.PassInfo) -> None:
        self.meter.stop()


def _wall_trace(samples: list[tuple[float, float]], t0: float, duration: float) -> PowerTrace:
    """MLPerf's average power: the mean of the analyzer's samples inside the window (spec §5.2)."""
    t = PowerTrace(times=[x - t0 for x, _ in samples], watts=[w for _, w in samples], duration_s=duration,
                   wall_start=t0)
    if samples:
        t.energy_j = sum(t.watts) / len(t.watts) * duration
    else:
        t.errors.append("no power samples fell inside the measured window (MLPerf: the result is invalid)")
    return t
