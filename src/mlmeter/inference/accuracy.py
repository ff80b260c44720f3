"""Read ``mlperf_log_accuracy.json`` the way the official accuracy scripts do: first occurrence of a QSL
index wins; later ones are counted as duplicates (MultiStream padding, repeated samples)."""

from __future__ import annotations

import json
from pathlib import Path

from mlmeter.workloads.base import WorkloadError


def read_accuracy_log(path: Path) -> tuple[dict[int, bytes], int]:
    """``({qsl_idx: response bytes}, duplicates)``; raises ``WorkloadError`` for a missing or damaged file."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkloadError(f"{path}: cannot read the accuracy log: {exc}") from exc
    first: dict[int, bytes] = {}
    dupes = 0
    for e in entries:
        idx = int(e["qsl_idx"])
        if idx in first:
            dupes += 1
            continue
        first[idx] = bytes.fromhex(e["data"])
    return first, dupes
