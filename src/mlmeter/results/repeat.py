"""A repeated benchmark: N run directories of the same kind summarised in one run record of kind ``repeat``.

Its body (kind version 1): ``runs`` (the member directories, in order), ``kind``, ``identity``
(what every member shares), ``metrics``: [{name, unit, higher_is_better, percentile, values, summary}] where
``summary`` is ``Summary.as_dict()`` (n, mean, std, ci95, ci_method, relative_std, olympic_mean, noisy),
``warnings``, ``system`` and ``environment`` (of the first member) and ``note``. The statistics are mlmeter's, not MLPerf's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmeter import events
from mlmeter.results.record import RunRecord, new_record, write_record
from mlmeter.results.stats import SPREAD_WARNING, summarize
from mlmeter.results.store import StoreError, read_result


def repeat_record(run_dirs: list[Path]) -> RunRecord:
    """Summarise the members; they must be of one kind and measure the same thing."""
    if not run_dirs:
        raise StoreError("a repeat needs at least one run directory")
    docs = [read_result(d) for d in run_dirs]
    kinds = {d.kind for d in docs}
    if len(kinds) > 1:
        raise StoreError(f"the runs are of different kinds ({', '.join(sorted(kinds))}); nothing to summarise")
    ids = [d.identity for d in docs]
    if any(i != ids[0] for i in ids):
        raise StoreError("the runs measured different things: " + _first_difference(ids))
    by_name: dict[str, list[Any]] = {}
    for d in docs:
        for m in d.metrics:
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
    envs = [d.environment for d in docs]
    if any(e != envs[0] for e in envs):
        warnings.append("the runs did not all run on the same system or software")
    body = {
        "kind": kinds.pop(), "runs": [str(d.resolve()) for d in run_dirs], "identity": ids[0],
        "verdicts": [d.verdict.value for d in docs], "metrics": out, "warnings": warnings, "environment": envs[0],
        "note": "mean, sample standard deviation and 95 % interval over the runs (t interval for means, "
                "percentile bootstrap for latency percentiles); not MLPerf figures",
    }
    return new_record("repeat", body, complete=all(d.complete for d in docs), system=docs[0].system)


def write_repeat(group_dir: Path, run_dirs: list[Path]) -> RunRecord:
    rec = repeat_record(run_dirs)
    group_dir.mkdir(parents=True, exist_ok=True)
    write_record(group_dir / "result.json", rec)
    return rec


@dataclass
class Repeated:
    """The runs of a repeated command and the summary record of each group (none for a single run)."""

    members: list[Path] = field(default_factory=list)
    summaries: dict[Path, RunRecord] = field(default_factory=dict)


def run_repeated(n: int, run_once: Callable[[int], Sequence[tuple[str, Path]]],
                 group_dir: Callable[[str, list[Path]], Path], observer: events.Observer | None = None) -> Repeated:
    """``--repeat N`` for every command: call ``run_once(i)`` for i in 0..n-1 (it returns the (group key, run
    directory) of each run it made), then, when n > 1, write one summary per group key into
    ``group_dir(key, its runs)``.
    Every member and summary is announced with ``on_run_written`` (the run store registers them)."""
    obs = events.observing(observer)
    out = Repeated()
    groups: dict[str, list[Path]] = {}
    for i in range(n):
        for key, run_dir in run_once(i):
            out.members.append(run_dir)
            groups.setdefault(key, []).append(run_dir)
            rec = read_result(run_dir)
            obs.on_run_written(events.RunWritten(run_dir, rec.kind, rec.verdict.value))
    if n > 1:
        for key, dirs in groups.items():
            where = group_dir(key, dirs)
            rec = write_repeat(where, dirs)
            out.summaries[where] = rec
            obs.on_run_written(events.RunWritten(where, rec.kind, rec.verdict.value))
    return out


def _first_difference(ids: list[dict[str, Any]]) -> str:
    for i in ids[1:]:
        for k in sorted(set(i) | set(ids[0])):
            if i.get(k) != ids[0].get(k):
                return f"{k} is {ids[0].get(k)!r} in the first and {i.get(k)!r} in another"
    return ""


def format_repeat(rec: RunRecord) -> str:
    doc = rec.body
    lines = [f"repeat of {len(doc['runs'])} {doc['kind']} runs ({', '.join(doc['verdicts'])}): {rec.verdict}"]
    for m in doc["metrics"]:
        s = m["summary"]
        lo, hi = s["ci95"]
        ci = f"95% CI [{lo:.6g}, {hi:.6g}] ({s['ci_method']})" if lo is not None else "no interval (1 run)"
        lines.append(f"  {m['name']}: mean {s['mean']:.6g} {m['unit']}, std {s['std']:.3g} "
                     f"({s['relative_std']:.1%}), {ci}")
    lines += [f"  warning: {w}" for w in doc["warnings"]]
    return "\n".join(lines)
