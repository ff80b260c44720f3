"""``mlmeter report RUN_DIR… [--output FILE] [--format html|json|csv|md]``, ``report --check|--refresh PAGE``
and ``mlmeter compare A B``.

A run may be named by its directory or by its id in the run store (``mlmeter runs list``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlmeter.errors import MlmeterError
from mlmeter.report import as_csv, as_json, as_markdown, compare, format_json, format_text, load_runs, render
from mlmeter.report import submission as submission_page
from mlmeter.report.sources import read_sources, stale
from mlmeter.results.store import RunStore
from mlmeter.submission.check import check_package, is_package
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import RUN_FILES

FORMATS = {"html": render, "json": as_json, "csv": as_csv, "md": as_markdown}


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", help="run directories (or run-store ids)")
    p.add_argument("--check", type=Path, metavar="PAGE",
                   help="say whether the runs of an HTML report changed since it was made (exit 1 if so)")
    p.add_argument("--refresh", type=Path, metavar="PAGE", help="make an HTML report again from its runs")
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


def _page_mode(a: argparse.Namespace) -> int | None:
    """``--check`` / ``--refresh``: None when neither was given."""
    page = a.check or a.refresh
    if page is None:
        if not a.runs:
            raise MlmeterError("report: give run directories (or run-store ids), or --check/--refresh PAGE")
        return None
    if a.runs or (a.check and a.refresh):
        raise MlmeterError("report: --check and --refresh take one report page and no run directories")
    if not page.is_file():
        raise MlmeterError(f"{page}: no such report page")
    if a.check:
        changed = stale(page)
        print("\n".join(changed) if changed else f"{page}: up to date with its {len(read_sources(page))} run(s)")
        return 1 if changed else 0
    views = load_runs([Path(s["path"]) for s in read_sources(page)])
    write_text(page, render(views))
    print(f"refreshed {page} from {len(views)} run(s)")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    mode = _page_mode(a)
    if mode is not None:
        return mode
    fmt = _format(a)
    paths = resolve(a.runs, a.store)
    if len(paths) == 1 and is_package(paths[0]) and fmt in ("html", "csv"):
        report = check_package(paths[0])  # a submission package: its results table and each result's check
        text = submission_page.render(report) if fmt == "html" else submission_page.as_csv(report)
        views = []
    else:
        views = load_runs(paths)
        text = FORMATS[fmt](views)
    if a.output is not None and str(a.output) == "-":
        sys.stdout.write(text)
        return 0
    out = a.output or Path(f"report.{fmt}")
    if out.is_dir() or out.name in RUN_FILES:
        raise MlmeterError(f"--output {out}: would replace {'a directory' if out.is_dir() else 'a run file'}; "
                           "name a new report file")
    write_text(out, text)
    what = f"{len(views)} run(s)" if views else "a submission package"
    print(f"wrote {out} ({len(text.encode()) / 1024:,.0f} kB, {what})")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    va, vb = load_runs(resolve([a.a, a.b], a.store))
    c = compare(va, vb, force=a.force)
    print(format_json(c) if a.json else format_text(c), end="" if a.json else "\n")
    return 0

