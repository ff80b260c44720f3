"""The CLI's progress display: an observer of the library's event stream, writing to stderr."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from mlmeter import events


def _bar(fraction: float, width: int = 20) -> str:
    full = int(max(0.0, min(fraction, 1.0)) * width)
    return "[" + "#" * full + "." * (width - full) + "]"


class Progress(events.Observer):
    """Stage lines as they come; during a LoadGen pass, a bar, the recent completion rate and an estimate of the
    mean latency; for other long steps, ``done/total`` lines at most once a second (every 5 s off a TTY).

    For SingleStream/MultiStream the latency shown is Little's law over the last interval (one query in
    flight / completion rate); Server shows the samples in flight; Offline issues everything at once.
    """

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._period = 1.0 if self._tty else 5.0
        self._last_progress: dict[str, float] = {}

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def on_stage(self, event: events.Stage) -> None:
        if self.enabled:
            self._write(f"  {event.message}\n")

    def on_warning(self, event: events.Warning) -> None:
        if self.enabled:
            self._write(f"  warning: {event.message}\n")

    def on_progress(self, event: events.Progress) -> None:
        """A line per ``period``, and always the last one (done == total)."""
        if not self.enabled:
            return
        now = time.monotonic()
        last = self._last_progress.get(event.what)
        final = event.total is not None and event.done >= event.total
        if last is not None and now - last < self._period and not final:
            return
        self._last_progress[event.what] = now
        of = f"/{event.total:,.0f}" if event.total is not None else ""
        bar = f"{_bar(event.done / event.total)} " if event.total else ""
        detail = f"  {event.detail}" if event.detail else ""
        self._write(f"  {event.what} {bar}{event.done:,.0f}{of} {event.unit}{detail}\n")

    def on_pass_start(self, event: events.PassInfo) -> None:
        if not self.enabled:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(event,), daemon=True)
        self._thread.start()

    def on_pass_end(self, event: events.PassInfo) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self._tty:
                self._write("\n")

    def line(self, info: events.PassInfo, elapsed: float, done: int, issued: int, rate: float) -> str:
        if info.scenario == "Offline":  # one query: its samples are the whole pass
            fraction = done / info.sample_count if info.sample_count else 0.0
        else:  # queries are generated beyond need; the minimum duration is what the run waits for
            fraction = elapsed * 1000 / info.min_duration_ms if info.min_duration_ms else 0.0
        text = (f"  {info.kind} {info.scenario} {_bar(fraction)} {elapsed:6.1f} s  "
                f"{done:,} samples done, {rate:,.0f}/s")
        if info.scenario == "Server":
            text += f", {issued - done:,} in flight"
        elif rate > 0 and info.scenario != "Offline":
            text += f", latency ~{info.sample_count // max(info.query_count, 1) / rate * 1000:.3f} ms"
        return text

    def _loop(self, info: events.PassInfo) -> None:
        began = last_t = time.monotonic()
        last_done = 0
        while not self._stop.wait(self._period):
            issued, done = info.counts()
            now = time.monotonic()
            rate = (done - last_done) / (now - last_t) if now > last_t else 0.0
            last_t, last_done = now, done
            line = self.line(info, now - began, done, issued, rate)
            self._write(("\r" + line) if self._tty else (line + "\n"))
