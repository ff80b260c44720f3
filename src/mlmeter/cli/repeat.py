"""The end of every benchmark command: repeat summaries (``--repeat N``) and registration in the run store."""

from __future__ import annotations

import sys
from pathlib import Path

from mlmeter.results import register
from mlmeter.results.repeat import format_repeat, write_repeat


def finish(members: list[Path], groups: dict[Path, list[Path]] | None = None) -> None:
    """Write and print each group's summary, then index the members and the groups in the run store (a store
    problem is one line on stderr, never a failure)."""
    groups = groups or {}
    for group, runs in groups.items():
        print(format_repeat(write_repeat(group, runs)))
        print(f"  summary: {group / 'result.json'}")
    for line in register(members + list(groups)):
        print(f"mlmeter: {line}", file=sys.stderr)


def group_of(members: list[Path], group: Path, repeat: int) -> dict[Path, list[Path]]:
    """``{group: members}`` when the command was repeated, else no group."""
    return {group: members} if repeat > 1 else {}
