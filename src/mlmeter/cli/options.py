"""Options every benchmark command shares: ``--repeat N`` and ``--power SOURCES``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from mlmeter.power import Meter, source_names


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``lo`` to ``hi``."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"expected a whole number from {lo:,} to {hi:,}, got {text}")
        return n
    return parse


def number(lo: float = 0.0, hi: float = math.inf, *, above: bool = True) -> Callable[[str], float]:
    """An argparse type: a finite number greater than ``lo`` (at least ``lo`` with ``above=False``), at most ``hi``."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        low_ok = v > lo if above else v >= lo
        if not (math.isfinite(v) and low_ok and v <= hi):
            bound = f"greater than {lo:g}" if above else f"at least {lo:g}"
            upper = f" and at most {hi:g}" if math.isfinite(hi) else ""
            raise argparse.ArgumentTypeError(f"expected a finite number {bound}{upper}, got {text}")
        return v
    return parse


_positive = whole(1, 1_000_000)


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
