"""The end of every benchmark command: ``--repeat N`` through :func:`mlmeter.results.repeat.run_repeated`, the
summaries printed, and the run store subscribed to the runs written."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mlmeter.results.repeat import format_repeat, run_repeated
from mlmeter.results.store import Registrar, register


def repeated(n: int, run_once: Callable[[int], Sequence[tuple[str, Path]]],
             group_dir: Callable[[str, list[Path]], Path]) -> list[Path]:
    """Run the command ``n`` times, print each group's summary, register everything; the member directories."""
    registrar = Registrar()
    out = run_repeated(n, run_once, group_dir, registrar)
    for where, rec in out.summaries.items():
        print(format_repeat(rec))
        print(f"  summary: {where / 'result.json'}")
    for line in registrar.problems:
        print(f"mlmeter: {line}", file=sys.stderr)
    return out.members


def register_runs(members: list[Path]) -> None:
    """Register runs made outside ``repeated`` (the embedded default, sweeps)."""
    for line in register(members):
        print(f"mlmeter: {line}", file=sys.stderr)
