"""An MLLOG writer: ``:::MLLOG {json}`` lines in the official grammar (spec §1.1), from any training script.

    log = MLLogger("result_0.txt")          # rank 0 writes; other ranks are silent unless all_ranks=True
    log.event("cache_clear", True)
    log.start("init_start")
    ...
    log.end("run_stop", metadata={"status": "success"})

Fields in the official order (namespace, time_ms, event_type, key, value, metadata); ``metadata`` always has the
caller's ``file`` and ``lineno``; NumPy/torch scalars become plain numbers; every line is flushed as written.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

PREFIX = ":::MLLOG "
INTERVAL_START, INTERVAL_END, POINT_IN_TIME = "INTERVAL_START", "INTERVAL_END", "POINT_IN_TIME"


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist"):  # numpy / torch scalars and arrays
        return v.tolist()
    if hasattr(v, "item"):
        return v.item()
    return v


def _rank() -> int:
    for key in ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


class MLLogger:
    """Writes MLLOG lines to a file (appending) and optionally to a stream; thread-safe."""

    def __init__(self, path: str | Path | None = None, *, stream: TextIO | None = None, namespace: str = "",
                 all_ranks: bool = False, root_dir: str | Path | None = None) -> None:
        self.enabled = all_ranks or _rank() == 0
        self.namespace = namespace
        self._root = str(root_dir).rstrip("/") + "/" if root_dir else None
        self._file = open(path, "a", encoding="utf-8") if path is not None and self.enabled else None  # noqa: SIM115
        self._stream = stream
        self._lock = threading.Lock()

    def start(self, key: str, value: Any = None, metadata: dict[str, Any] | None = None,
              time_ms: int | None = None) -> None:
        self._emit(INTERVAL_START, key, value, metadata, time_ms)

    def end(self, key: str, value: Any = None, metadata: dict[str, Any] | None = None,
            time_ms: int | None = None) -> None:
        self._emit(INTERVAL_END, key, value, metadata, time_ms)

    def event(self, key: str, value: Any = None, metadata: dict[str, Any] | None = None,
              time_ms: int | None = None) -> None:
        self._emit(POINT_IN_TIME, key, value, metadata, time_ms)

    def _emit(self, event_type: str, key: str, value: Any, metadata: dict[str, Any] | None,
              time_ms: int | None) -> None:
        if not self.enabled:
            return
        caller = sys._getframe(2)
        filename = caller.f_code.co_filename
        if self._root and filename.startswith(self._root):
            filename = filename[len(self._root):]
        meta: dict[str, Any] = {"file": filename, "lineno": caller.f_lineno}
        meta.update(_plain(metadata or {}))
        record = {"namespace": self.namespace, "time_ms": int(time.time() * 1e3) if time_ms is None else int(time_ms),
                  "event_type": event_type, "key": key, "value": _plain(value), "metadata": meta}
        line = PREFIX + json.dumps(record) + "\n"
        with self._lock:
            for out in (self._file, self._stream):
                if out is not None:
                    out.write(line)
                    out.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> MLLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
