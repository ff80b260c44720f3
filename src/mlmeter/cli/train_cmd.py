"""``mlmeter train``: run reference training workloads, score MLLOG files, locate the compliance rules."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlmeter.cli import options, repeat
from mlmeter.cli.options import open_meter
from mlmeter.cli.progress import Progress
from mlmeter.results.record import new_record
from mlmeter.training.runner import WORKLOADS, TrainingError, run_workload, scaling, score_document, workload
from mlmeter.training.scoring import BenchmarkScore, score_logs
from mlmeter.util.rundir import fresh_directory
from mlmeter.verdict import Verdict, exit_code


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="train_command", required=True)
    r = sub.add_parser("run", help="N time-to-train runs of a reference workload, scored")
    r.add_argument("workload", help=f"one of: {', '.join(WORKLOADS)}")
    r.add_argument("--runs", type=options.whole(1, 1000), default=None, help="default: the workload's official run count")
    r.add_argument("--seed", type=int, default=1, help="seed of the first run (run i uses seed + i)")
    r.add_argument("--output", type=Path, default=None, help="default: mlmeter-train/<workload>")
    r.add_argument("--nproc", type=options.whole(1, max_workers()), default=1, help="data-parallel torchrun workers per run (gloo on CPU)")
    r.add_argument("--checkpoint-every", type=options.whole(0, 1_000_000), default=0, metavar="EPOCHS", help="save a checkpoint every N epochs")
    r.add_argument("--resume", action="store_true", help="keep finished runs; continue unfinished ones from checkpoints")
    options.add_overwrite(r)
    options.add_power(r, "each run")
    options.add_repeat(r)
    r.set_defaults(func=cmd_run)
    sc = sub.add_parser("scaling", help="throughput with 1, 2, … torchrun workers, and the scaling efficiency")
    sc.add_argument("workload")
    sc.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    sc.add_argument("--epochs", type=options.whole(1, 1_000_000), default=3, help="fixed epochs per measurement")
    sc.add_argument("--output", type=Path, default=None)
    sc.set_defaults(func=cmd_scaling)
    s = sub.add_parser("score", help="olympic score of the result_*.txt MLLOG files in a directory")
    s.add_argument("logdir", type=Path)
    s.add_argument("--workload", default=None, help="judge convergence against this workload's quality target")
    s.add_argument("--rcp", type=Path, default=None, help="an rcps_<benchmark>.json: run the RCP check and normalise")
    s.add_argument("--rules", type=Path, default=None,
                   help="count a run as converged only if it passes these compliance rules (as the summarizer does)")
    s.set_defaults(func=cmd_score)
    ck = sub.add_parser("check", help="compliance-check MLLOG files against rules in the official YAML format")
    ck.add_argument("logs", nargs="+", type=Path, help="MLLOG files, or directories of result_*.txt")
    g = ck.add_mutually_exclusive_group(required=True)
    g.add_argument("--workload", help="use this reference workload's rules")
    g.add_argument("--rules", type=Path, help="a rules YAML (e.g. one of mlperf_logging's)")
    ck.add_argument("--werror", action="store_true", help="warnings fail the check")
    ck.set_defaults(func=cmd_check)
    ru = sub.add_parser("rules", help="path of a workload's rules file for the official compliance checker")
    ru.add_argument("workload")
    ru.set_defaults(func=cmd_rules)


def max_workers() -> int:
    """The most data-parallel workers one machine may start: four per usable CPU (each is a process)."""
    return 4 * len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 4 * (os.cpu_count() or 1)


def table(s: BenchmarkScore) -> str:
    lines = [f"{s.benchmark}: {len(s.runs)} run(s)" + (f", {s.required_runs} required" if s.required_runs else "")]
    for r in s.runs:
        mins = f"{r.minutes:.4f} min" if r.minutes is not None else "-"
        lines.append(f"  {r.path.name:16} {mins:>14}  {'converged' if r.converged else 'NOT converged: ' + r.reason}")
    score = f"{s.olympic_minutes:.4f} min" if s.olympic_minutes is not None else "none"
    lines.append(f"  olympic score: {score} (mean of {len(s.kept)} kept runs)")
    if s.ci95 is not None and s.mean is not None:
        lines.append(f"  not MLPerf: mean {s.mean:.4f} min, 95 % CI [{s.ci95[0]:.4f}, {s.ci95[1]:.4f}]")
    for p in s.problems:
        lines.append(f"  problem: {p}")
    return "\n".join(lines)


def cmd_run(a: argparse.Namespace) -> int:
    w = workload(a.workload)
    out = a.output or Path("mlmeter-train") / w.name
    if not a.resume:
        out = fresh_directory(out, given=a.output is not None, overwrite=a.overwrite)
    meter = open_meter(a.power)
    verdicts = []

    def once(i: int) -> list[tuple[str, Path]]:
        rdir = out if a.repeat == 1 else out / f"repeat-{i + 1}"
        s, rec = run_workload(w, a.runs or w.runs, rdir, seed=a.seed, nproc=a.nproc,
                              checkpoint_every=a.checkpoint_every, resume=a.resume, observer=Progress(), meter=meter)
        print(table(s))
        print(f"files: {rdir} (result_<i>.txt are the MLLOG files; check them with python -m "
              f"mlperf_logging.compliance_checker --config {w.rules} <file>)")
        verdicts.append(rec.verdict)
        return [("", rdir)]

    repeat.repeated(a.repeat, once, lambda _k, _runs: out)
    return exit_code(verdicts)


def cmd_scaling(a: argparse.Namespace) -> int:
    w = workload(a.workload)
    try:
        counts = [int(x) for x in a.workers.split(",") if x.strip()]
    except ValueError as exc:
        raise TrainingError(f"--workers {a.workers!r}: expected numbers like 1,2,4") from exc
    if not counts or not all(1 <= c <= max_workers() for c in counts):
        raise TrainingError(f"--workers {a.workers!r}: expected worker counts from 1 to {max_workers()}, like 1,2,4")
    rows = scaling(w, counts, a.output or Path("mlmeter-train") / f"{w.name}-scaling", epochs=a.epochs)
    print(f"{w.name}: {a.epochs} epochs, global batch {w.config.batch_size}")
    for r in rows:
        print(f"  {r['workers']} worker(s): {r['samples_per_second']:,.0f} samples/s, efficiency {r['efficiency']:.2f}")
    return 0


def cmd_score(a: argparse.Namespace) -> int:
    paths = sorted(a.logdir.glob("result_*.txt"))
    if not paths:
        raise FileNotFoundError(f"{a.logdir}: no result_*.txt MLLOG files")
    w = workload(a.workload) if a.workload else None
    rules = a.rules or (w.rules if w else None)
    if rules is not None and not rules.is_file():
        raise FileNotFoundError(f"{rules}: rules file not found")
    s = score_logs(paths, w.reached if w else None, rules=rules)
    print(table(s))
    ok = new_record("training", score_document(s, w)).verdict == Verdict.VALID
    if a.rcp is not None:
        ok = _rcp(a.rcp, s, paths) and ok
    return 0 if ok else 1


def _rcp(path: Path, s: BenchmarkScore, paths: list[Path]) -> bool:
    import json

    from mlmeter.training import rcp
    from mlmeter.training.logfile import read_log

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path}: cannot read the RCP file ({exc})") from exc
    records = rcp.records_from_json(doc, s.benchmark)
    sizes = {r.global_batch_size for r in s.runs if r.global_batch_size is not None}
    if len(sizes) != 1 or any(r.global_batch_size is None for r in s.runs):
        print("  RCP: FAILED (Could not detect one global_batch_size in the logs)")
        return False
    points = [rcp.convergence_point(read_log(p), s.benchmark) for p in paths]
    verdict = rcp.check(s.benchmark, records, sizes.pop(), points)
    print(f"  RCP: {'PASSED' if verdict.passed else 'FAILED'} ({verdict.message})")
    if verdict.passed and verdict.normalization > 1 and s.olympic_minutes is not None:
        print(f"  normalised score: {s.olympic_minutes * verdict.normalization:.4f} min "
              f"(factor {verdict.normalization:.4f})")
    return verdict.passed


def cmd_check(a: argparse.Namespace) -> int:
    from mlmeter.training.compliance import check_file

    rules = workload(a.workload).rules if a.workload else a.rules
    if not rules.is_file():
        raise FileNotFoundError(f"{rules}: rules file not found")
    files = [p for x in a.logs for p in (sorted(x.glob("result_*.txt")) if x.is_dir() else [x])]
    if not files:
        raise FileNotFoundError("no MLLOG files to check")
    failed = 0
    for f in files:
        r = check_file(f, rules, werror=a.werror)
        print(r.text())
        failed += not r.passed
    return 1 if failed else 0


def cmd_rules(a: argparse.Namespace) -> int:
    print(workload(a.workload).rules)
    return 0
