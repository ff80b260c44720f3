"""Reading MLLOG files as the official tools do (spec §2.2, §7.1), without their crashes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = ":::MLLOG "


@dataclass(frozen=True)
class Record:
    index: int
    """0-based among the file's MLLOG lines (the official "line N")."""
    time_ms: float
    key: str
    value: Any
    metadata: dict[str, Any]


@dataclass
class LogFile:
    path: Path
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def first(self, key: str) -> Record | None:
        return next((r for r in self.records if r.key == key), None)

    def all(self, key: str) -> list[Record]:
        return [r for r in self.records if r.key == key]


def line_record(line: str) -> dict[str, Any] | None:
    """The JSON of one ``:::MLLOG`` line (the last token wins, as officially); None for other lines.

    :raises ValueError: a line with the prefix whose JSON does not parse.
    """
    at = line.rfind(PREFIX)
    if at < 0:
        return None
    d: dict[str, Any] = json.loads(line[at + len(PREFIX):].strip())
    return d


def read_log(path: Path) -> LogFile:
    """Every ``:::MLLOG`` record (the last token of a line wins; latin-1); bad lines become errors."""
    log = LogFile(path)
    index = 0
    with open(path, encoding="latin-1") as f:
        for n, line in enumerate(f, 1):
            try:
                d = line_record(line)
            except ValueError as exc:
                log.errors.append(f"{path}:{n}: not JSON ({exc})")
                index += 1
                continue
            if d is None:
                continue
            missing = [k for k in ("time_ms", "key") if k not in d]
            if missing:
                log.errors.append(f"{path}:{n}: record without {', '.join(missing)}")
            else:
                log.records.append(Record(index, float(d["time_ms"]), str(d["key"]), d.get("value"),
                                          d.get("metadata") or {}))
            index += 1
    return log
