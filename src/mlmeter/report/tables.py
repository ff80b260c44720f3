"""``mlmeter report --format json|csv|md``: the runs' verdicts and metrics as data instead of a page."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from mlmeter.report.runs import RunView


def as_records(views: list[RunView]) -> list[dict[str, Any]]:
    return [{"path": str(v.path.resolve()), "kind": v.kind, "title": v.title, "verdict": v.verdict,
             "identity": v.record.identity,
             "metrics": [{"name": m.name, "value": m.value, "unit": m.unit, "higher_is_better": m.higher_is_better,
                          "headline": i == 0} for i, m in enumerate(v.metrics)]} for v in views]


def as_json(views: list[RunView]) -> str:
    return json.dumps({"schema": "mlmeter.report", "schema_version": 1, "runs": as_records(views)}, indent=2) + "\n"


def as_csv(views: list[RunView]) -> str:
    """One row per run and metric (long format: easy to pivot in a spreadsheet or pandas)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "kind", "title", "verdict", "metric", "value", "unit", "headline"])
    for r in as_records(views):
        for m in r["metrics"]:
            w.writerow([r["path"], r["kind"], r["title"], r["verdict"], m["name"], m["value"], m["unit"],
                        m["headline"]])
    return buf.getvalue()


def _cell(x: Any) -> str:
    return str(x).replace("|", "\\|")


def as_markdown(views: list[RunView]) -> str:
    out = []
    for r in as_records(views):
        out += [f"## {_cell(r['title'])} — {r['verdict']}", "", f"`{r['path']}`", "", "| metric | value | unit |",
                "|---|---:|---|"]
        out += [f"| {_cell(m['name'])}{' (headline)' if m['headline'] else ''} | {m['value']:.6g} | {_cell(m['unit'])} |"
                for m in r["metrics"] if m["value"] is not None]
        out.append("")
    return "\n".join(out)
