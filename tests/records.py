"""Reading run records in tests: the envelope (``record``) or the kind's body (``body``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmeter.results.record import RunRecord, load_record


def record(run_dir: Path) -> RunRecord:
    return load_record(Path(run_dir))


def body(run_dir: Path) -> dict[str, Any]:
    return load_record(Path(run_dir)).body
