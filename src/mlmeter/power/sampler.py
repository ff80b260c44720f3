"""Background sampling of power sources over the measured window, and the MLPerf power metrics."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlmeter.power.sources import PowerSource


@dataclass
class PowerTrace:
    times: list[float] = field(default_factory=list)
    """Seconds since the window began."""
    watts: list[float] = field(default_factory=list)
    energy_j: float = 0.0
    duration_s: float = 0.0
    wall_start: float = 0.0
    """UTC epoch seconds at which the window began (``times`` are relative to it)."""
    errors: list[str] = field(default_factory=list)

    @property
    def average_watts(self) -> float | None:
        return self.energy_j / self.duration_s if self.duration_s > 0 and self.energy_j > 0 else None


class PowerSampler:
    """Reads every source at ``hz`` on a daemon thread between ``start`` and ``stop``; a source that fails
    mid-run is dropped with a note, the rest carry on."""

    def __init__(self, sources: list[PowerSource], hz: float = 10.0) -> None:
        self.sources, self.period = list(sources), 1.0 / hz
        self.trace = PowerTrace()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> float:
        total = 0.0
        for s in list(self.sources):
            try:
                total += s.energy_j()
            except Exception as exc:  # noqa: BLE001 - a vanished source is reported, not raised
                self.trace.errors.append(f"{s.name} stopped answering: {exc}")
                self.sources.remove(s)
        return total

    def start(self) -> None:
        self.trace.wall_start = time.time()
        self._t0 = time.perf_counter()
        self._e0 = self._last_e = self._read()
        self._last_t = self._t0
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="mlmeter-power", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def _sample(self) -> None:
        now, e = time.perf_counter(), self._read()
        if now > self._last_t:
            self.trace.times.append(now - self._t0)
            self.trace.watts.append((e - self._last_e) / (now - self._last_t))
        self._last_t, self._last_e = now, e

    def stop(self) -> PowerTrace:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.trace.duration_s = time.perf_counter() - self._t0
        self.trace.energy_j = self._last_e - self._e0
        return self.trace


def power_metrics(scenario: str, trace: PowerTrace, performance: float | None, query_count: int,
                  samples_per_query: int) -> dict[str, Any]:
    """MLPerf's figures (spec §5.2): Offline/Server average watts and samples per joule; SingleStream/
    MultiStream millijoules per query and samples per joule."""
    avg = trace.average_watts
    out: dict[str, Any] = {"average_watts": avg, "energy_j": trace.energy_j, "duration_s": trace.duration_s}
    if avg is None:
        return out
    if scenario in ("Offline", "Server"):
        out.update({"power_metric": avg, "power_unit": "Watts",
                    "samples_per_joule": performance / avg if performance else None})
    elif query_count:
        mj = avg * trace.duration_s * 1000 / query_count
        out.update({"power_metric": mj, "power_unit": "millijoules per query",
                    "samples_per_joule": samples_per_query * 1000 / mj if mj else None})
    return out
