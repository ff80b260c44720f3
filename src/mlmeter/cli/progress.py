"""A live progress line on stderr, fed by the run's observer events and polled counters."""

from __future__ import annotations

import sys
import threading
import time

from mlmeter.loadgen.run import PassInfo


class Progress:
    """Prints issued/completed counts while a pass runs (a line a second on a TTY, every 5 s otherwise)."""

    def __init__(self, stream=sys.stderr, enabled: bool = True) -> None:  # type: ignore[no-untyped-def]
        self.stream = stream
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tty = bool(getattr(stream, "isatty", lambda: False)())

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

    def _loop(self, info: PassInfo) -> None:
        began = time.monotonic()
        period = 1.0 if self._tty else 5.0
        while not self._stop.wait(period):
            c = info.completer
            elapsed = time.monotonic() - began
            line = (
                f"  {info.kind} {info.scenario.name}: {elapsed:6.1f} s, samples issued {c.n_issued}, "
                f"completed {c.n_done} ({c.n_done / elapsed:,.0f}/s)"
            )
            self.stream.write(("\r" + line) if self._tty else (line + "\n"))
            self.stream.flush()
