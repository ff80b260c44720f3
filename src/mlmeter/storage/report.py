"""``storage report``: group the runs of a results tree into benchmark results (a warm-up + 5 runs), re-check
each, and write the mean and standard deviation with every run's category and issues, as JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from mlmeter.results.record import RecordError, load_record
from mlmeter.storage.workloads import StorageConfigError
from mlmeter.util.atomic import write_text

RUNS_PER_RESULT = 5


def _load(results_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(run directory, storage body) of every storage and checkpointing run record under ``results_dir``."""
    runs = []
    for path in sorted(results_dir.rglob("result.json")):
        try:
            rec = load_record(path.parent)
        except RecordError:
            continue
        if rec.kind in ("storage", "checkpointing"):
            runs.append((path.parent, rec.body))
    return runs


def _training_group(runs: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    runs = sorted(runs, key=lambda r: r[1].get("started_at", ""))
    issues: list[str] = []
    warmup = None
    if len(runs) > RUNS_PER_RESULT:
        warmup, runs = runs[0], runs[1 : RUNS_PER_RESULT + 1]
    elif len(runs) < RUNS_PER_RESULT:
        issues.append(f"{len(runs)} run(s); a result is the mean of {RUNS_PER_RESULT} runs after a warm-up")
    else:
        issues.append("no warm-up run before the 5 measured runs")
    per_run: list[dict[str, Any]] = []
    for path, d in runs:
        run_issues = list(d.get("reasons", []))
        if not d.get("au_pass"):
            run_issues.append("AU below threshold")
        per_run.append({"run": str(path), "category": d.get("category"), "au": d.get("au"),
                        "samples_per_second": d.get("samples_per_second"), "mb_per_second": d.get("mb_per_second"),
                        "issues": run_issues})
    sps: list[float] = [float(r["samples_per_second"]) for r in per_run if r["samples_per_second"] is not None]
    mbs: list[float] = [float(r["mb_per_second"]) for r in per_run if r["mb_per_second"] is not None]
    aus: list[float] = [float(r["au"]) for r in per_run if r["au"] is not None]
    cats = {r["category"] for r in per_run}
    category = "INVALID" if "INVALID" in cats or any(not d.get("au_pass") for _, d in runs) else (
        "OPEN" if "OPEN" in cats else "CLOSED")
    if issues and category == "CLOSED":
        category = "OPEN" if len(runs) == RUNS_PER_RESULT else "INVALID"
    if len(sps) > 1 and statistics.fmean(sps) > 0:
        spread = (max(sps) - min(sps)) / statistics.fmean(sps)
        if spread > 0.05:
            issues.append(f"runs differ by {spread:.1%} in samples/s (the rules ask for 5 %)")
    first = runs[0][1]
    return {
        "benchmark": "training", "model": first.get("model"), "accelerator": first.get("accelerator"),
        "num_accelerators": first.get("num_accelerators"), "num_files_train": first.get("num_files_train"),
        "num_runs": len(runs), "warmup_run": str(warmup[0]) if warmup else None,
        "samples_per_second_mean": statistics.fmean(sps) if sps else None,
        "samples_per_second_stdev": statistics.pstdev(sps) if sps else None,
        "mb_per_second_mean": statistics.fmean(mbs) if mbs else None,
        "mb_per_second_stdev": statistics.pstdev(mbs) if mbs else None,
        "au_mean": statistics.fmean(aus) if aus else None,
        "category": category, "issues": issues, "runs": per_run,
    }


def _checkpoint_group(runs: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {"benchmark": "checkpointing", "model": runs[0][1].get("model"),
                           "num_processes": runs[0][1].get("num_processes"), "num_runs": len(runs),
                           "runs": [str(p) for p, _ in runs]}
    for kind in ("save", "load"):
        vals = [d[kind] for _, d in runs if d.get(kind)]
        if vals:
            out[f"{kind}_duration_mean_s"] = statistics.fmean(v["duration_mean_s"] for v in vals)
            out[f"{kind}_throughput_mean_GiB_per_s"] = statistics.fmean(v["throughput_mean_GiB_per_s"] for v in vals)
    out["category"] = "INVALID" if any(not d.get("complete") for _, d in runs) else (
        "CLOSED" if all(d.get("category") == "CLOSED" for _, d in runs) else "OPEN")
    return out


def build_report(results_dir: Path) -> list[dict[str, Any]]:
    if not results_dir.is_dir():
        raise StorageConfigError(f"{results_dir}: results directory not found")
    groups: dict[tuple[Any, ...], list[tuple[Path, dict[str, Any]]]] = defaultdict(list)
    for path, d in _load(results_dir):
        if d.get("benchmark") == "training":
            key: tuple[Any, ...] = ("training", d.get("model"), d.get("accelerator"), d.get("num_accelerators"),
                                    d.get("num_files_train"))
        else:
            key = ("checkpointing", d.get("model"), d.get("num_processes"))
        groups[key].append((path, d))
    return [(_training_group if k[0] == "training" else _checkpoint_group)(v) for k, v in sorted(
        groups.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]


def write_report(results_dir: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    """``storage_report.json`` and ``storage_report.csv`` (one row per group) in ``results_dir``."""
    report = build_report(results_dir)
    if not report:
        raise StorageConfigError(f"{results_dir}: no storage runs found; give the --results-dir of "
                                 "'storage training run' or 'storage checkpointing run'")
    js = results_dir / "storage_report.json"
    write_text(js, json.dumps(report, indent=2) + "\n")
    rows = [{k: v for k, v in g.items() if not isinstance(v, (list, dict))} | {"issues": "; ".join(g.get("issues", []))}
            for g in report]
    columns = sorted({k for r in rows for k in r})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns)
    w.writeheader()
    w.writerows(rows)
    cs = results_dir / "storage_report.csv"
    write_text(cs, buf.getvalue())
    return js, cs, report
