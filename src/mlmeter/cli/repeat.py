"""``--repeat N`` for every benchmark command: the members' directories, then one summary per group."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlmeter.results import register
from mlmeter.results.repeat import format_repeat, write_repeat


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return n


def add_argument(p: argparse.ArgumentParser, *aliases: str) -> None:
    p.add_argument("--repeat", *aliases, dest="repeat", type=_positive, default=1, metavar="N",
                   help="run N times; report mean, standard deviation and a 95%% confidence interval")


def summarize(groups: dict[Path, list[Path]]) -> list[str]:
    """Write each group's summary, index members and groups in the run store; the lines to print."""
    lines: list[str] = []
    for group, members in groups.items():
        doc = write_repeat(group, members)
        lines += [format_repeat(doc), f"  summary: {group / 'result.json'}"]
    lines += [f"mlmeter: {x}" for x in register([m for ms in groups.values() for m in ms] + list(groups))]
    return lines
