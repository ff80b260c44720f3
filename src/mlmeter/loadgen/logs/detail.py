"""``mlperf_log_detail.txt``: one ``:::MLLOG {json}`` line per event, in the official key order and formats.

Values follow spec §13.0 (integers plain, doubles as C ``%g``, booleans as JSON, lists without spaces).
The ``file``/``line_no`` metadata name the official source location of each key (data harvested from the
official package), so logs written through the compat API match the official ones line for line.
"""

from __future__ import annotations

import json
import os
import threading
import time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import IO

_clock = time.perf_counter_ns
_U64 = 1 << 64
MESSAGE_KEYS = frozenset(
    {"generic_message", "error_runtime", "error_invalid_config", "error_invalid_test_settings",
     "warning_generic_message"}
)


@lru_cache(maxsize=1)
def _sources() -> dict[str, tuple[str, int]]:
    text = resources.files("mlmeter.loadgen").joinpath("data/log_sources.json").read_text(encoding="utf-8")
    return {k: (v[0], int(v[1])) for k, v in json.loads(text).items()}


def source_of(key: str, value: object) -> tuple[str, int]:
    """The official (file, line) a key is logged from; message keys are told apart by their first words."""
    table = _sources()
    if key in MESSAGE_KEYS and isinstance(value, str):
        words = value.split()
        best: tuple[int, tuple[str, int]] = (0, ("mlmeter", 0))
        for k, src in table.items():
            name, _, prefix = k.partition("|")
            if name != key:
                continue
            pw = prefix.split()
            common = 0
            while common < min(len(pw), len(words)) and pw[common] == words[common]:
                common += 1
            if common > best[0]:
                best = (common, src)
        return best[1]
    return table.get(key, ("mlmeter", 0))


def format_value(v: object) -> str:
    """A detail-log value as the official logger prints it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%g" % v
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{format_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot log a {type(v).__name__}")


def format_time_ms(delta_ns: int) -> str:
    d = delta_ns % _U64
    return f"{d // 1_000_000}.{d % 1_000_000:06d}"


class DetailLog:
    """Collects detail-log events in memory; the run writes the file atomically at the end.

    While the run goes on, :meth:`stream` also appends every event to a partial file, so that a run killed
    outright (SIGKILL, power loss) leaves the events logged so far, as the official logger's file does.
    """

    def __init__(self, origin_ns: int | None = None) -> None:
        self.origin_ns = _clock() if origin_ns is None else origin_ns
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._partial: IO[str] | None = None
        self._partial_path: Path | None = None

    def stream(self, path: Path) -> None:
        """Append every event, from the first, to ``path`` (flushed per event) until :meth:`close_stream`."""
        with self._lock:
            f = open(path, "w", encoding="utf-8")  # noqa: SIM115 -- kept open for the run, closed by close_stream
            f.writelines(line + "\n" for line in self.lines)
            f.flush()
            self._partial, self._partial_path = f, path

    def close_stream(self) -> None:
        """Stop streaming and remove the partial file (the whole log has been written in its place)."""
        with self._lock:
            if self._partial is not None and self._partial_path is not None:
                self._partial.close()
                self._partial_path.unlink(missing_ok=True)
            self._partial = self._partial_path = None

    def add(
        self,
        key: str,
        value: object,
        *,
        at_ns: int | None = None,
        error: bool = False,
        warning: bool = False,
        variant: str = "",
    ) -> None:
        t = _clock() if at_ns is None else at_ns
        file, line = _sources().get(f"{key}#{variant}") if variant else source_of(key, value)  # type: ignore[misc]
        text = (
            f':::MLLOG {{"key": "{key}", "value": {format_value(value)}, "time_ms": {format_time_ms(t - self.origin_ns)}, '
            f'"namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {{"is_error": '
            f'{format_value(error)}, "is_warning": {format_value(warning)}, "file": "{file}", "line_no": {line}, '
            f'"pid": {self._pid}, "tid": {threading.get_native_id()}}}}}'
        )
        with self._lock:
            self.lines.append(text)
            if self._partial is not None:
                self._partial.write(text + "\n")
                self._partial.flush()
            if error:
                self.errors.append(str(value))
            if warning:
                self.warnings.append(str(value))

    def many(self, items: list[tuple[str, object]], *, at_ns: int | None = None) -> None:
        """Several entries created together (they share one timestamp, as officially).

        A key may carry a ``#variant`` naming another official source location of the same key.
        """
        t = _clock() if at_ns is None else at_ns
        for key, value in items:
            name, _, variant = key.partition("#")
            self.add(name, value, at_ns=t, variant=variant)

    def error(self, key: str, message: str, at_ns: int | None = None) -> None:
        self.add(key, message, at_ns=at_ns, error=True)

    def warning(self, message: str, at_ns: int | None = None) -> None:
        self.add("warning_generic_message", message, at_ns=at_ns, warning=True)

    def text(self) -> str:
        with self._lock:
            return "".join(line + "\n" for line in self.lines)
