"""A live progress line on stderr, fed by the run's observer events and polled counters."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from mlmeter.loadgen import TestScenario
from mlmeter.loadgen.run import PassInfo


def _bar(fraction: float, width: int = 20) -> str:
    full = int(max(0.0, min(fraction, 1.0)) * width)
    return "[" + "#" * full + "." * (width - full) + "]"


class Progress:
    """Prints a bar, the recent completion rate and an estimate of the mean latency while a pass runs.

    For SingleStream/MultiStream the latency shown is Little's law over the last interval (one query in
    flight / completion rate); Server shows the samples in flight; Offline issues everything at once. A line a second on a TTY, every 5 s
    otherwise. ``on_stage`` messages (model loading, warm-up…) are printed as they come.
    """

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tty = bool(getattr(stream, "isatty", lambda: False)())

    def on_stage(self, message: str) -> None:
        if self.enabled:
            self.stream.write(f"  {message}\n")
            self.stream.flush()

    def on_pass_start(self, info: PassInfo) -> None:
        if not self.enabled:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(info,), daemon=True)
        self._thread.start()

    def on_pass_end(self, info: PassInfo) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self._tty:
                self.stream.write("\n")

    def line(self, info: PassInfo, elapsed: float, done: int, issued: int, rate: float) -> str:
        if info.scenario == TestScenario.Offline:  # one query: its samples are the whole pass
            fraction = done / info.sample_count if info.sample_count else 0.0
        else:  # queries are generated beyond need; the minimum duration is what the run waits for
            fraction = elapsed * 1000 / info.min_duration_ms if info.min_duration_ms else 0.0
        text = (f"  {info.kind} {info.scenario.name} {_bar(fraction)} {elapsed:6.1f} s  "
                f"{done:,} samples done, {rate:,.0f}/s")
        if info.scenario == TestScenario.Server:
            text += f", {issued - done:,} in flight"
        elif rate > 0 and info.scenario != TestScenario.Offline:
            text += f", latency ~{info.sample_count // max(info.query_count, 1) / rate * 1000:.3f} ms"
        return text

    def _loop(self, info: PassInfo) -> None:
        began = last_t = time.monotonic()
        last_done = 0
        period = 1.0 if self._tty else 5.0
        while not self._stop.wait(period):
            c = info.completer
            now, done, issued = time.monotonic(), c.n_done, c.n_issued
            rate = (done - last_done) / (now - last_t) if now > last_t else 0.0
            last_t, last_done = now, done
            line = self.line(info, now - began, done, issued, rate)
            self.stream.write(("\r" + line) if self._tty else (line + "\n"))
            self.stream.flush()
