"""A submission package's results table, laid out like MLCommons' final report (``generate_final_report.py``):
one row per system (and, in the open division, per model used), one column per benchmark, scenario and unit —
as CSV, and as a self-contained HTML page with every result's check."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from html import escape
from typing import Any

from mlmeter import __version__
from mlmeter.report.html import CSS, _table
from mlmeter.submission import rules
from mlmeter.submission.check import Report, Result, read_system

LEADING = ("Submitter", "Availability", "System", "Nodes", "Processor", "p#", "Accelerator", "a#",
           "Total Accelerators", "Software", "Notes")
"""The final report's columns before the results (its ID columns are MLCommons' own and left out)."""


def _count(x: Any) -> Any:
    return int(x) if str(x).isdigit() else x


def _leading(doc: dict[str, Any], r: Result) -> dict[str, Any]:
    notes = ". ".join(str(n) for n in (doc.get("hw_notes"), doc.get("sw_notes")) if n)
    nodes, accel = _count(doc.get("number_of_nodes", "")), _count(doc.get("accelerators_per_node", ""))
    total = nodes * accel if isinstance(nodes, int) and isinstance(accel, int) else ""
    return {"Submitter": r.org, "Availability": doc.get("status", ""), "System": doc.get("system_name", r.system),
            "Nodes": nodes, "Processor": doc.get("host_processor_model_name", ""),
            "p#": _count(doc.get("host_processors_per_node", "")),
            "Accelerator": "" if doc.get("accelerator_model_name") in ("N/A", "-") else
            doc.get("accelerator_model_name", ""), "a#": accel or "", "Total Accelerators": total,
            "Software": doc.get("framework", ""), "Notes": notes}


def final_table(report: Report, *, only_passed: bool = True) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): the leading columns, ``Category`` and ``Suite``, then ``<benchmark> <scenario> (<unit>)``
    columns with each result (only results that pass, as the official table, unless ``only_passed`` is off)."""
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    result_cols: list[str] = []
    for r in report.results:
        if (only_passed and not r.passed) or r.value is None:
            continue
        doc = read_system(report.root, r.division, r.org, r.system) or {}
        key = (r.division, r.org, r.system, r.benchmark if r.division == "open" else "")
        row = rows.setdefault(key, {"Category": r.division, "Suite": doc.get("system_type", ""),
                                    **_leading(doc, r)})
        if r.division == "open":
            row["UsedModel"] = r.benchmark
            row["Accuracy"] = " ".join(f"{k}: {v}" for k, v in r.accuracy.items())
        col = f"{r.benchmark} {r.scenario} ({rules.UNITS.get(r.scenario, '')})"
        if col not in result_cols:
            result_cols.append(col)
        row[col] = r.value
    has_open = any(k[0] == "open" for k in rows)
    columns = ["Category", "Suite", *LEADING, *(("UsedModel", "Accuracy") if has_open else ()), *sorted(result_cols)]
    return columns, list(rows.values())


def as_csv(report: Report, *, only_passed: bool = True) -> str:
    columns, rows = final_table(report, only_passed=only_passed)
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def render(report: Report) -> str:
    """The page: the results table, then every result with its verdict and problems."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    columns, rows = final_table(report)
    table = _table([tuple(row.get(c, "") for c in columns) for row in rows], tuple(columns)) if rows else \
        "<p>No result passes the check yet.</p>"
    sections = []
    for r in report.results:
        problems = [(p.severity, p.rule, p.file, p.found, p.needs, p.fix) for p in r.problems]
        body = _table(problems, ("severity", "rule", "file", "found", "needs", "fix")) if problems else \
            "<p>No problem.</p>"
        sections.append(f'<section class="run"><h2>{escape(f"{r.benchmark} {r.scenario}")}'
                        f'<span class="badge {"pass" if r.passed else "fail"}">{"PASS" if r.passed else "FAIL"}</span></h2><div class="path">{escape(str(r.path))}'
                        f"</div>{body}</section>")
    verdict = "passes" if report.passed else "does not pass"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>mlmeter submission — {escape(str(report.root))}</title><style>{CSS}</style></head><body>"
            f"<header class=\"top\"><h1>Submission {escape(str(report.root))}: {verdict} mlmeter's check "
            f"({rules.ROUND} rules)</h1><p>made by mlmeter {__version__} on {now}</p></header><main>"
            f'<section class="run"><h2>Results (as in the final report)</h2>{table}</section>'
            f"{''.join(sections)}</main></body></html>\n")
