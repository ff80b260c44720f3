"""Run directories named by time, never reused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def run_directory(base: Path) -> Path:
    """A new ``<base>/<timestamp>[_k]`` directory (never an existing one: runs are immutable)."""
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    out, k = base / stamp, 1
    while out.exists():
        out, k = base / f"{stamp}_{k}", k + 1
    out.mkdir(parents=True)
    return out
