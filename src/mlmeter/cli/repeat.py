"""``--repeat N``: after the members' runs, one summary per group of members."""

from __future__ import annotations

from pathlib import Path

from mlmeter.results import register
from mlmeter.results.repeat import format_repeat, write_repeat


def summarize(groups: dict[Path, list[Path]]) -> list[str]:
    """Write each group's summary, index members and groups in the run store; the lines to print."""
    lines: list[str] = []
    for group, members in groups.items():
        doc = write_repeat(group, members)
        lines += [format_repeat(doc), f"  summary: {group / 'result.json'}"]
    lines += [f"mlmeter: {x}" for x in register([m for ms in groups.values() for m in ms] + list(groups))]
    return lines
