"""``mlmeter submission pack|check|table``: from run directories to a checked MLPerf Inference results tree."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlmeter.errors import MlmeterError
from mlmeter.report import submission as table_page
from mlmeter.submission import rules
from mlmeter.submission.check import Report, check_package, is_package
from mlmeter.submission.pack import collect, plan, write_package
from mlmeter.submission.sysdesc import read_system_file
from mlmeter.util.atomic import write_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="submission_command", required=True)
    pk = sub.add_parser("pack", help="lay out run directories as the official results tree")
    pk.add_argument("runs", nargs="+", type=Path, help="run directories of mlmeter infer (or their --output)")
    pk.add_argument("--system", type=Path, help="YAML/JSON with the system-description fields mlmeter cannot "
                                                "measure (status, system_type, cooling…; a mlperf-sysinfo "
                                                "system_desc.json works) and a measurements: mapping")
    pk.add_argument("--division", choices=["closed", "open"], required=True)
    pk.add_argument("--org", required=True, help="the submitting organisation (the directory under the division)")
    pk.add_argument("--system-id", help="the system's directory name (default: system_name, made path-safe)")
    pk.add_argument("--output", type=Path, required=True, help="a new directory for the package")
    pk.add_argument("--draft", action="store_true", help="pack runs whose settings break the division's rules "
                                                        "(short runs, to try the flow); check reports each")
    pk.set_defaults(func=cmd_pack)
    ck = sub.add_parser("check", help=f"apply the submission checker's rules ({rules.ROUND}), explaining each problem")
    ck.add_argument("package", type=Path, help="the directory holding closed/ or open/")
    ck.add_argument("--json", action="store_true", help="the report as JSON")
    ck.set_defaults(func=cmd_check)
    tb = sub.add_parser("table", help="the final report's results table of a package (CSV or HTML)")
    tb.add_argument("package", type=Path)
    tb.add_argument("--output", "-o", type=Path, help="results.csv or results.html (default: CSV on stdout)")
    tb.add_argument("--all", action="store_true", help="include results that do not pass the check")
    tb.set_defaults(func=cmd_table)


def _safe_id(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in name.strip())
    return out or "system"


def cmd_pack(a: argparse.Namespace) -> int:
    if not a.org or "/" in a.org or a.org.startswith("."):
        raise MlmeterError(f"--org {a.org!r}: a directory name (no '/')")
    sysfile = read_system_file(a.system) if a.system else None
    runs = collect(a.runs)
    name = (sysfile.fields.get("system_name") if sysfile else None) or (runs[0].record.system or {}).get(
        "hostname", "system")
    system_id = _safe_id(a.system_id or str(name))
    p = plan(runs, division=a.division, org=a.org, system_id=system_id, draft=a.draft)
    manifest = write_package(p, sysfile, a.output)
    print(f"packed {len(runs)} runs ({len(p.groups)} results) into {a.output}/{a.division}/{a.org}")
    for key, what in (("missing_system_fields", "system fields to fill in the --system file"),
                      ("missing_measurements", "measurements to give under measurements: in the --system file"),
                      ("failed_audits", "audits that failed their verification"),
                      ("rule_problems", "rule problems packed because of --draft")):
        if manifest[key]:
            print(f"  {what}: {', '.join(manifest[key])}")
    report = check_package(a.output)
    print(f"check: {sum(r.passed for r in report.results)} of {len(report.results)} results pass "
          f"(mlmeter submission check {a.output} explains each problem)")
    return 0 if report.passed else 1


def _load(path: Path) -> Report:
    if not is_package(path):
        raise MlmeterError(f"{path}: not a submission package (no closed/, open/ or network/ directory); "
                           "make one with mlmeter submission pack")
    return check_package(path)


def cmd_check(a: argparse.Namespace) -> int:
    report = _load(a.package)
    if a.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.passed else 1
    for r in report.results:
        value = f" {r.value:,.3f} {rules.UNITS.get(r.scenario, '')}" if r.value is not None else ""
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.division}/{r.org} {r.system} {r.benchmark} {r.scenario}{value}")
        for prob in r.problems:
            print(f"    {prob.line()}")
    if not report.results:
        print(f"{a.package}: no results under results/")
    ok = sum(r.passed for r in report.results)
    print(f"{ok} of {len(report.results)} results pass the {rules.ROUND} rules")
    return 0 if report.passed else 1


def cmd_table(a: argparse.Namespace) -> int:
    report = _load(a.package)
    if a.output is None:
        print(table_page.as_csv(report, only_passed=not a.all), end="")
        return 0
    html = a.output.suffix.lower() in (".html", ".htm")
    text = table_page.render(report) if html else table_page.as_csv(report, only_passed=not a.all)
    write_text(a.output, text)
    print(f"wrote {a.output}")
    return 0
