"""A repeated benchmark: N run directories of the same kind summarised in one ``result.json``.

Schema ``mlmeter.repeat.result`` version 1: ``runs`` (the member directories, in order), ``kind``, ``identity``
(what every member shares), ``metrics``: [{name, unit, higher_is_better, percentile, values, summary}] where
``summary`` is ``Summary.as_dict()`` (n, mean, std, ci95, ci_method, relative_std, olympic_mean, noisy),
``warnings``, ``system`` and ``environment`` (of the first member) and ``note``. The statistics are mlmeter's, not MLPerf's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlmeter import __version__
from mlmeter.results.headline import environment, identity, kind, metrics, verdict
from mlmeter.results.stats import SPREAD_WARNING, summarize
from mlmeter.results.store import StoreError, read_result
from mlmeter.util.atomic import write_text

SCHEMA = "mlmeter.repeat.result"
SCHEMA_VERSION = 1


def repeat_document(run_dirs: list[Path]) -> dict[str, Any]:
    """Summarise the members; they must be of one kind and measure the same thing."""
    if not run_dirs:
        raise StoreError("a repeat needs at least one run directory")
    docs = [read_result(d) for d in run_dirs]
    kinds = {kind(d) for d in docs}
    if len(kinds) > 1:
        raise StoreError(f"the runs are of different kinds ({', '.join(sorted(kinds))}); nothing to summarise")
    ids = [identity(d) for d in docs]
    if any(i != ids[0] for i in ids):
        raise StoreError("the runs measured different things: " + _first_difference(ids))
    by_name: dict[str, list[Any]] = {}
    for d in docs:
        for m in metrics(d):
            by_name.setdefault(m.name, []).append(m)
    out, warnings = [], []
    for name, ms in by_name.items():
        values = [float(m.value) for m in ms if m.value is not None]
        if len(values) != len(docs):
            continue  # a metric some members lack (an INVALID member, no power) is not summarised
        s = summarize(values, ms[0].percentile)
        out.append({"name": name, "unit": ms[0].unit, "higher_is_better": ms[0].higher_is_better,
                    "percentile": ms[0].percentile, "values": values, "summary": s.as_dict()})
        if s.noisy:
            warnings.append(f"{name}: the runs spread by {s.relative_std:.1%} (standard deviation / mean, over "
                            f"{SPREAD_WARNING:.0%}); differences smaller than that cannot be told from noise")
    envs = [environment(d) for d in docs]
    if any(e != envs[0] for e in envs):
        warnings.append("the runs did not all run on the same system or software")
    verdicts = [verdict(d) for d in docs]
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "tool": {"name": "mlmeter", "version": __version__},
        "kind": kinds.pop(), "runs": [str(d.resolve()) for d in run_dirs], "identity": ids[0],
        "verdicts": verdicts, "verdict": "VALID" if all(v in ("VALID", "CLOSED", "OPEN") for v in verdicts) else
        "INVALID", "metrics": out, "warnings": warnings, "system": docs[0].get("system"), "environment": envs[0],
        "note": "mean, sample standard deviation and 95 % interval over the runs (t interval for means, "
                "percentile bootstrap for latency percentiles); not MLPerf figures",
    }


def write_repeat(group_dir: Path, run_dirs: list[Path]) -> dict[str, Any]:
    doc = repeat_document(run_dirs)
    group_dir.mkdir(parents=True, exist_ok=True)
    write_text(group_dir / "result.json", json.dumps(doc, indent=2) + "\n")
    return doc


def _first_difference(ids: list[dict[str, Any]]) -> str:
    for i in ids[1:]:
        for k in sorted(set(i) | set(ids[0])):
            if i.get(k) != ids[0].get(k):
                return f"{k} is {ids[0].get(k)!r} in the first and {i.get(k)!r} in another"
    return ""


def format_repeat(doc: dict[str, Any]) -> str:
    lines = [f"repeat of {len(doc['runs'])} {doc['kind']} runs ({', '.join(doc['verdicts'])})"]
    for m in doc["metrics"]:
        s = m["summary"]
        lo, hi = s["ci95"]
        ci = f"95% CI [{lo:.6g}, {hi:.6g}] ({s['ci_method']})" if lo is not None else "no interval (1 run)"
        lines.append(f"  {m['name']}: mean {s['mean']:.6g} {m['unit']}, std {s['std']:.3g} "
                     f"({s['relative_std']:.1%}), {ci}")
    lines += [f"  warning: {w}" for w in doc["warnings"]]
    return "\n".join(lines)
