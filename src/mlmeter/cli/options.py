"""Options every benchmark command shares: ``--repeat N`` and ``--power SOURCES``."""

from __future__ import annotations

import argparse
import sys

from mlmeter.power import Meter, source_names


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return n


def add_repeat(p: argparse.ArgumentParser, *aliases: str) -> None:
    p.add_argument("--repeat", *aliases, dest="repeat", type=_positive, default=1, metavar="N",
                   help="run N times; report mean, standard deviation and a 95%% confidence interval")


def add_overwrite(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run in the --output directory (otherwise such a directory is refused)")


def add_power(p: argparse.ArgumentParser, window: str, server: bool = False) -> None:
    """``--power``: the sources to read during ``window``; ``server``: a PTDaemon power server is accepted."""
    extra = (", or ptd://HOST[:PORT] (a PTDaemon power server: a ranging pass, then the measured pass)"
             if server else "")
    p.add_argument("--power", default=None, metavar="SOURCES",
                   help=f"measure power during {window}: auto, rapl, nvml (comma-separated){extra}")


def open_meter(spec: str | None) -> Meter | None:
    """The meter ``--power`` asked for (each unreadable source is one line on stderr), or None."""
    meter = Meter(source_names(spec)) if spec else None
    for line in meter.problems if meter else []:
        print(f"mlmeter: power: {line}", file=sys.stderr)
    return meter
