"""Progress of a training run from its MLLOG file, as the run writes it (in this process or under torchrun):
one :class:`~mlmeter.events.Progress` per evaluation."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from mlmeter import events
from mlmeter.training.logfile import line_record


class LogWatcher:
    """Tails ``path`` every ``period`` seconds from its current end; ``with`` starts and stops it."""

    def __init__(self, path: Path, observer: events.Observer, label: str, period: float = 0.5) -> None:
        self.path, self.observer, self.label, self.period = path, observer, label, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlmeter-mllog-watch", daemon=True)
        self._offset = path.stat().st_size if path.is_file() else 0
        self._partial = ""

    def __enter__(self) -> LogWatcher:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.poll()

    def poll(self) -> None:
        """Read what was appended since the last poll and report its evaluations."""
        try:
            with open(self.path, encoding="latin-1") as f:
                f.seek(self._offset)
                text = f.read()
                self._offset = f.tell()
        except OSError:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            try:
                rec = line_record(line)
            except ValueError:
                continue
            if rec is not None and rec.get("key") == "eval_accuracy":
                epoch = (rec.get("metadata") or {}).get("epoch_num")
                self.observer.on_progress(events.Progress(self.label, float(epoch or 0), None, "epochs",
                                                          f"eval {rec.get('value')}"))
