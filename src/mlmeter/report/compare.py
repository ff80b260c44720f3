"""``mlmeter compare A B``: the metrics of two runs side by side, B − A with a 95 % interval where the runs have
replicates (repeats, training runs, storage epochs, batch means of a LoadGen pass's throughput), and what differs
between them.

Runs of different kinds are refused; runs that measured different things (another scenario, model, settings)
are refused unless forced; runs on different systems or software are compared with a warning naming what
differs — that is then a comparison of systems, which may be the point.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from mlmeter.errors import MlmeterError
from mlmeter.report.runs import RunView
from mlmeter.results.stats import SPREAD_WARNING, Difference, compare_samples


class NotComparable(MlmeterError, ValueError):
    """The two runs cannot be compared; the message says why."""


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    a: float
    b: float
    d: Difference
    """B − A: the runs' own figures; the interval and p-value from their replicates."""
    better: str
    """"B", "A" or "" (no significant difference, or no interval)."""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "a": self.a, "b": self.b, **asdict(self.d),
                "significant": self.d.significant, "better": self.better}


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    kind: str
    rows: list[Row]
    setting_differences: list[str]
    environment_differences: list[str]
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"schema": "mlmeter.compare", "schema_version": 1, **asdict(self),
                "rows": [r.as_dict() for r in self.rows]}


def _differences(x: dict[str, Any], y: dict[str, Any]) -> list[str]:
    return [f"{k}: {x.get(k)!r} vs {y.get(k)!r}" for k in sorted(set(x) | set(y), key=str) if x.get(k) != y.get(k)]


def compare(a: RunView, b: RunView, force: bool = False) -> Comparison:
    ka, kb = a.record.measured_kind, b.record.measured_kind
    if ka != kb:
        raise NotComparable(f"{a.path} is a {ka} run and {b.path} a {kb} run; compare runs of one kind")
    settings = _differences(a.record.identity, b.record.identity)
    if settings and not force:
        raise NotComparable("the runs measured different things (" + "; ".join(settings) +
                            "); use --force to compare them anyway")
    env = _differences(a.record.environment, b.record.environment)
    warnings = []
    if env:
        warnings.append("the runs ran on different systems or software: the difference includes that")
    if settings:
        warnings.append("forced: the runs measured different things")
    mb = {m.name: m for m in b.metrics}
    rows = []
    for ma in a.metrics:
        m2 = mb.get(ma.name)
        if m2 is None or ma.value is None or m2.value is None:
            continue
        ra, rb = ma.replicates or (ma.value,), m2.replicates or (m2.value,)
        diff = m2.value - ma.value
        d = compare_samples(ra, rb, ma.percentile)
        by = " over ".join(dict.fromkeys(x for x in (ma.replicated_by if ma.replicates else "",
                                                     m2.replicated_by if m2.replicates else "") if x))
        d = replace(d, diff=diff, relative=diff / abs(ma.value) if ma.value else None,
                    method=f"{d.method}, {by}" if d.method and by else d.method)
        better = ""
        if d.significant:
            better = "B" if (diff > 0) == ma.higher_is_better else "A"
        rows.append(Row(ma.name, ma.unit, ma.value, m2.value, d, better))
        for side, reps in (("A", ra), ("B", rb)):
            if len(reps) >= 2:
                mean = sum(reps) / len(reps)
                sd = (sum((r - mean) ** 2 for r in reps) / (len(reps) - 1)) ** 0.5
                if mean and sd / abs(mean) > SPREAD_WARNING:
                    warnings.append(f"{ma.name}: run {side}'s replicates spread by {sd / abs(mean):.0%}; "
                                    "only large differences can be told from noise")
    if rows and all(r.d.ci_low is None for r in rows):
        warnings.append("neither run has replicates: no confidence interval (run them with --repeat N)")
    return Comparison(str(a.path), str(b.path), ka, rows, settings, env, warnings)


def format_text(c: Comparison) -> str:
    lines = [f"A: {c.a}", f"B: {c.b}", ""]
    head = ("metric", "A", "B", "B − A", "95% CI of B − A", "significant")
    table = [head]
    for r in c.rows:
        d = r.d
        ci = f"[{d.ci_low:.4g}, {d.ci_high:.4g}] ({d.method})" if d.ci_low is not None and d.ci_high is not None \
            else "-"
        sig = "-" if d.significant is None else (f"yes, {r.better} better (p={d.p_value:.3g})" if d.significant
                                                 else f"no (p={d.p_value:.3g})")
        rel = f" ({d.relative:+.1%})" if d.relative is not None else ""
        table.append((f"{r.name} ({r.unit})" if r.unit else r.name, f"{r.a:.6g}", f"{r.b:.6g}",
                      f"{d.diff:+.4g}{rel}", ci, sig))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in table]
    if c.setting_differences:
        lines += ["", "settings that differ:"] + [f"  {d}" for d in c.setting_differences]
    if c.environment_differences:
        lines += ["", "system/software that differ:"] + [f"  {d}" for d in c.environment_differences]
    lines += [f"warning: {w}" for w in c.warnings]
    return "\n".join(lines)


def format_json(c: Comparison) -> str:
    return json.dumps(c.as_dict(), indent=2) + "\n"
