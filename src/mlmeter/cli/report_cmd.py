"""``mlmeter report RUN_DIR… [--output FILE] [--format html|json|csv|md]`` and ``mlmeter compare A B``.

A run may be named by its directory or by its id in the run store (``mlmeter runs list``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlmeter.errors import MlmeterError
from mlmeter.report import as_csv, as_json, as_markdown, compare, format_json, format_text, load_runs, render
from mlmeter.results.store import RunStore
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import RUN_FILES

FORMATS = {"html": render, "json": as_json, "csv": as_csv, "md": as_markdown}


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run directories (or run-store ids)")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="file to write (default: report.<format> in the current directory; - for stdout)")
    p.add_argument("--format", choices=list(FORMATS), default=None,
                   help="default: from the output file's extension, else html")
    p.add_argument("--store", type=Path, default=None, help="run store used to resolve ids")
    p.set_defaults(func=cmd_report)


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", help="run directory or run-store id (the baseline)")
    p.add_argument("b", help="run directory or run-store id")
    p.add_argument("--force", action="store_true", help="compare runs that measured different things")
    p.add_argument("--json", action="store_true", help="the comparison as JSON")
    p.add_argument("--store", type=Path, default=None, help="run store used to resolve ids")
    p.set_defaults(func=cmd_compare)


def resolve(names: list[str], store: Path | None) -> list[Path]:
    """Directories as given; a bare number that is not a directory is a run-store id."""
    out: list[Path] = []
    rs: RunStore | None = None
    try:
        for n in names:
            if n.isdigit() and not Path(n).is_dir():
                rs = rs or RunStore(store)
                out.append(Path(rs.get(int(n)).path))
            else:
                out.append(Path(n))
    finally:
        if rs is not None:
            rs.close()
    return out


def _format(a: argparse.Namespace) -> str:
    if a.format:
        return str(a.format)
    suffix = a.output.suffix.lstrip(".").lower() if a.output and str(a.output) != "-" else ""
    return {"htm": "html", "markdown": "md"}.get(suffix, suffix) if suffix in (*FORMATS, "htm", "markdown") else "html"


def cmd_report(a: argparse.Namespace) -> int:
    views = load_runs(resolve(a.runs, a.store))
    fmt = _format(a)
    text = FORMATS[fmt](views)
    if a.output is not None and str(a.output) == "-":
        sys.stdout.write(text)
        return 0
    out = a.output or Path(f"report.{fmt}")
    if out.is_dir() or out.name in RUN_FILES:
        raise MlmeterError(f"--output {out}: would replace {'a directory' if out.is_dir() else 'a run file'}; "
                           "name a new report file")
    write_text(out, text)
    print(f"wrote {out} ({len(text.encode()) / 1024:,.0f} kB, {len(views)} run(s))")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    va, vb = load_runs(resolve([a.a, a.b], a.store))
    c = compare(va, vb, force=a.force)
    print(format_json(c) if a.json else format_text(c), end="" if a.json else "\n")
    return 0

