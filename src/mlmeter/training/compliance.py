"""Compliance checking of MLLOG files with rule files in the official checker's YAML format (spec §2.3).

The rule semantics are the official ones: per rule file a fresh state ``s``; ``BEGIN`` code; per KEY the
``PRE``/``CHECK``/``POST`` on every occurrence (``submission_*`` keys on the first only), ``FIRST_CHECK``,
``ATLEAST_ONE_CHECK`` (how quality targets are enforced), occurrence rules (``EXACTLY_ONE`` — only a warning
when the repeats agree —, ``AT_LEAST_ONE``, ``AT_LEAST(n)``, ``AT_LEAST_ONE_OR(a, b)``), ``END`` checks;
``enqueue_config`` chains rule files; a later file's KEY replaces earlier messages about that key.
Differences on purpose: a record without ``time_ms`` is an error, not a crash; messages are deterministic.
Rule files are code: only check with files you trust.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmeter.training.errors import TrainingError
from mlmeter.training.logfile import LogFile, read_log


@dataclass
class LogLine:
    full_string: str
    timestamp: float
    key: str
    value: dict[str, Any]
    lineno: int


@dataclass
class CheckResult:
    path: Path
    configs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Information that never fails a check, even with --werror."""

    @property
    def passed(self) -> bool:
        return not self.errors

    def text(self) -> str:
        parts = [f"Running compliance on file: {self.path}"]
        parts += [f" Compliance checks: {c}" for c in self.configs]
        parts += [f"NOTE - {n}" for n in self.notes]
        parts += [f"WARNING - {w}" for w in self.warnings]
        parts += [f"ERROR - {e}" for e in self.errors]
        parts.append("SUCCESS" if self.passed else "FAILED")
        return "\n".join(parts)


def _is_integer(x: Any) -> bool:
    return abs(round(x) - x) < 1e-5


def _load_rules(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=yaml.BaseLoader)  # every scalar a string, as the official checker
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{path}: not a YAML rules file ({exc})") from exc
    rules = doc if isinstance(doc, list) else [] if doc is None else None
    if rules is None or not all(isinstance(r, dict) for r in rules):
        raise TrainingError(f"{path}: a rules file is a YAML list of rule blocks (BEGIN, KEY, END …), as the "
                            "official compliance checker's")
    return rules


def _as_list(x: Any) -> list[str]:
    if x is None:
        return []
    return list(x) if isinstance(x, list) else [x]


def _lines(log: LogFile) -> list[LogLine]:
    out = []
    for r in log.records:
        raw = json.dumps({"time_ms": r.time_ms, "key": r.key, "value": r.value, "metadata": r.metadata})
        out.append(LogLine(":::MLLOG " + raw, r.time_ms, r.key, {"value": r.value, "metadata": r.metadata}, r.index))
    return out


def check_file(log_path: Path, rules: Path, *, werror: bool = False) -> CheckResult:
    """Check one MLLOG file against ``rules`` (and the files it enqueues)."""
    log = read_log(log_path)
    result = CheckResult(log_path)
    lines = _lines(log)
    queue = [rules]
    keyed: dict[str, list[str]] = defaultdict(list)
    plain: list[str] = []
    checked: set[str] = set()
    while queue:
        conf = queue.pop(0)
        result.configs.append(str(conf))
        if not conf.is_file():
            plain.append(f"Could not find config file: {conf}")
            continue
        checked |= _run_config(conf, lines, keyed, plain, result.warnings, queue)
    unknown = sorted({ll.key for ll in lines} - checked)
    if unknown:  # allowed, as officially, but said: a misspelt key is otherwise silently ignored
        result.notes.append(f"keys no rule checks (allowed): {', '.join(unknown)}")
    if log.errors:
        result.warnings += log.errors
        plain.append("Log lines had parsing errors.")
    result.errors = [m for msgs in keyed.values() for m in msgs] + plain
    if werror:
        result.errors += result.warnings
    return result


def _run_config(conf: Path, lines: list[LogLine], keyed: dict[str, list[str]], plain: list[str],
                warnings: list[str], queue: list[Path]) -> set[str]:
    """Apply one rule file; returns the keys it defines."""
    items = _load_rules(conf)
    s: dict[str, Any] = {}

    def enqueue_config(name: str) -> None:
        queue.append(conf.parent / Path(name).name)

    env: dict[str, Any] = {"s": s, "enqueue_config": enqueue_config, "is_integer": _is_integer, "math": math}
    keys: dict[str, dict[str, Any]] = {}
    begin: dict[str, Any] = {}
    end: dict[str, Any] = {}
    for item in items:
        (kind, body), = item.items()
        if kind == "BEGIN":
            begin = body
        elif kind == "KEY":
            keys[body["NAME"]] = body
        elif kind == "END":
            end = body
    if begin.get("CODE"):
        exec(textwrap.dedent(begin["CODE"]).strip(), env, {"loglines": lines})  # noqa: S102 - rule files are code by design
    for name in keys:
        keyed.pop(name, None)
    reported: dict[str, list[Any]] = defaultdict(list)
    at_least_one: dict[str, int] = defaultdict(int)
    for ll in lines:
        rule = keys.get(ll.key)
        if rule is None:
            continue
        first = ll.key not in reported
        reported[ll.key].append(ll.value["value"])
        local = {"ll": ll, "v": ll.value}
        if first or "submission_" not in ll.key:
            _exec(rule.get("PRE"), env, local, "PRE", ll, plain)
            for expr in _as_list(rule.get("CHECK")):
                _eval(expr, env, local, ll, s, keyed[ll.key])
            _exec(rule.get("POST"), env, local, "POST", ll, plain)
        if first:
            for expr in _as_list(rule.get("FIRST_CHECK")):
                _eval(expr, env, local, ll, s, keyed[ll.key])
        for expr in _as_list(rule.get("ATLEAST_ONE_CHECK")):
            try:
                if eval(expr, env, local):  # noqa: S307 - rule files are code by design
                    at_least_one[ll.key] += 1
            except Exception:  # noqa: BLE001 - a failing expression simply does not count
                pass
    for name, rule in keys.items():
        for expr in _as_list(rule.get("ATLEAST_ONE_CHECK")):
            if not at_least_one[name]:
                plain.append(f"Failed checks for {name} : {expr.strip()}")
        _occurrences(name, str(rule.get("REQ", "OPTIONAL")).strip(), reported, plain, warnings)
    if end:
        _exec(end.get("PRE"), env, {}, "PRE", None, plain)
        for expr in _as_list(end.get("CHECK")):
            try:
                ok = eval(expr, env, {})  # noqa: S307
            except Exception as exc:  # noqa: BLE001
                ok, expr = False, f"{expr} ({exc})"
            if not ok:
                plain.append(f"failed test: {expr.strip()}\ncurrent context[s]={json.dumps(s, sort_keys=True, default=str)}")
    return set(keys)


def _exec(code: str | None, env: dict[str, Any], local: dict[str, Any], what: str, ll: LogLine | None,
          plain: list[str]) -> bool:
    if not code:
        return True
    try:
        exec(textwrap.dedent(code).strip(), env, local)  # noqa: S102 - rule files are code by design
        return True
    except Exception as exc:  # noqa: BLE001 - reported like the official checker
        where = f" triggered by line :\n{ll.full_string}" if ll else ""
        plain.append(f"Failed executing code {what} code{where} ({type(exc).__name__}: {exc})")
        return False


def _eval(expr: str, env: dict[str, Any], local: dict[str, Any], ll: LogLine, s: dict[str, Any],
          out: list[str]) -> None:
    context = json.dumps(s, sort_keys=True, default=str)
    try:
        ok = eval(expr, env, local)  # noqa: S307 - rule files are code by design
    except Exception as exc:  # noqa: BLE001
        out.append(f"Failed executing CHECK code:\n{expr.strip()}\ntriggered by line:\n{ll.full_string}\n({exc})")
        return
    if not ok:
        out.append(f"CHECK for '{ll.key}' failed in line {ll.lineno}:\n{ll.full_string}\nfailed test: {expr.strip()}\n"
                   f"current context[s]={context}")


def _occurrences(name: str, req: str, reported: dict[str, list[Any]], plain: list[str], warnings: list[str]) -> None:
    values = reported.get(name, [])
    n = len(values)
    if req == "EXACTLY_ONE" and n != 1:
        if values and all(json.dumps(x) == json.dumps(values[0]) for x in values):
            warnings.append(f"Required EXACTLY_ONE occurrence of '{name}' but found {n}")
        else:
            tail = f" with different values: {values}" if values else ""
            plain.append(f"Required EXACTLY_ONE occurrence of '{name}' but found {n}{tail}")
    elif req == "AT_LEAST_ONE" and n == 0:
        plain.append(f"Required AT_LEAST_ONE occurrence of '{name}' but found 0")
    elif req.startswith("AT_LEAST(") and req.endswith(")"):
        need = int(req[len("AT_LEAST("):-1])
        if n < need:
            plain.append(f"Required AT_LEAST({need}) occurrence of '{name}' but found {n}")
    elif req.startswith("AT_LEAST_ONE_OR(") and req.endswith(")"):
        alts = [a.strip() for a in req[len("AT_LEAST_ONE_OR("):-1].split(",")]
        if not any(reported.get(k) for k in (name, *alts)):
            plain.append(f"Required AT_LEAST_ONE occurrence of '{name}' or '{' or '.join(alts)}'")
