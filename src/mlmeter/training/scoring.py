"""Time-to-train of a run and the olympic score of a set of runs (spec §3.2–3.4), plus a labelled 95 % CI."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlmeter.results.stats import t_quantile
from mlmeter.training.logfile import LogFile, read_log

# benchmark_meta's required result-file counts (spec §3.3); mlmeter's own workloads add theirs
RUN_COUNTS = {
    "bert": 10, "dlrm": 5, "dlrm_dcnv2": 10, "gnmt": 10, "gpt3": 3, "maskrcnn": 5, "minigo": 10, "resnet": 5,
    "ssd": 5, "retinanet": 5, "stable_diffusion": 10, "transformer": 10, "ncf": 10, "rnnt": 10, "unet3d": 40,
    "gnn": 10, "rgat": 10, "llama2_70b_lora": 10, "llama31_405b": 3, "llama31_8b": 10, "flux1": 10,
    "gpt_oss_20b": 10, "deepseekv3_671b": 3, "qwen35_397b_grpo": 3, "dlrmv4": 10,
}

@dataclass(frozen=True)
class RunScore:
    path: Path
    benchmark: str
    minutes: float | None
    converged: bool
    reason: str
    global_batch_size: float | None


Target = Callable[[float], bool]


def score_run(log: LogFile, target: Target | None = None) -> RunScore:
    """(run_stop − run_start) / 60000; converged if the log parses, ``run_stop`` says success and (when a target
    is known) an ``eval_accuracy`` meets it."""
    bench_rec = log.first("submission_benchmark")
    bench = str(bench_rec.value) if bench_rec is not None else "?"
    gbs_rec = log.all("global_batch_size")
    gbs = float(gbs_rec[-1].value) if gbs_rec else None
    start, stop = log.first("run_start"), log.first("run_stop")
    if log.errors:
        return RunScore(log.path, bench, None, False, "; ".join(log.errors[:3]), gbs)
    if start is None or stop is None:
        return RunScore(log.path, bench, None, False, f"run_{'start' if start is None else 'stop'} not recorded", gbs)
    minutes = (stop.time_ms - start.time_ms) / 60 / 1000
    status = stop.metadata.get("status")
    if status != "success":
        return RunScore(log.path, bench, minutes, False, f"run_stop status {status!r}", gbs)
    if target is not None and not any(target(float(r.value)) for r in log.all("eval_accuracy")):
        return RunScore(log.path, bench, minutes, False, "no eval_accuracy reached the quality target", gbs)
    return RunScore(log.path, bench, minutes, True, "", gbs)


@dataclass(frozen=True)
class BenchmarkScore:
    benchmark: str
    runs: tuple[RunScore, ...]
    required_runs: int | None
    olympic_minutes: float | None
    kept: tuple[float, ...]
    problems: tuple[str, ...]
    mean: float | None
    ci95: tuple[float, float] | None
    """Not part of the MLPerf score: mean ± t(0.975, n−1)·s/√n over the converged runs."""


def _scored(path: Path, target: Target | None, rules: Path | None) -> RunScore:
    if not path.is_file():
        return RunScore(path, "?", None, False, "no MLLOG file (the run failed before logging)", None)
    run = score_run(read_log(path), target)
    if rules is None or not run.converged:
        return run
    from mlmeter.training.compliance import check_file

    checked = check_file(path, rules)
    if checked.passed:
        return run
    return RunScore(path, run.benchmark, run.minutes, False, "compliance check failed: " + checked.errors[0][:200],
                    run.global_batch_size)


def olympic(minutes: Sequence[float], dropped: int, benchmark: str) -> tuple[float | None, tuple[float, ...]]:
    """The result summarizer's rule: remove ``max_dropped`` fastest runs and ``max_dropped − dropped`` slowest
    (non-converged runs count as the slowest); None when more runs failed than allowed."""
    max_dropped = 4 if benchmark == "unet3d" else 1
    if dropped > max_dropped:
        return None, ()
    s = sorted(minutes)
    kept = tuple(s[max_dropped : len(s) - (max_dropped - dropped)])
    return (statistics.fmean(kept) if kept else None), kept


def score_logs(paths: Sequence[Path], target: Target | None = None, required: int | None = None,
               rules: Path | None = None) -> BenchmarkScore:
    """Score a set of runs. With ``rules`` (a compliance rules file), a run converges only if it passes the
    compliance check, as in the official result summarizer."""
    runs = tuple(_scored(p, target, rules) for p in paths)
    problems: list[str] = []
    benches = {r.benchmark for r in runs}
    bench = sorted(benches)[0] if benches else "?"
    if len(benches) > 1:
        problems.append(f"the logs name different benchmarks: {', '.join(sorted(benches))}")
    sizes = {r.global_batch_size for r in runs if r.global_batch_size is not None}
    if len(sizes) > 1:
        problems.append(f"runs of different global batch sizes: {', '.join(f'{s:g}' for s in sorted(sizes))}")
    need = required if required is not None else RUN_COUNTS.get(bench)
    if need is not None and len(runs) != need:
        problems.append(f"{len(runs)} result files; {bench} needs exactly {need}")
    ok = [r.minutes for r in runs if r.converged and r.minutes is not None]
    dropped = len(runs) - len(ok)
    score, kept = olympic(ok, dropped, bench)
    if score is None:
        max_dropped = 4 if bench == "unet3d" else 1
        problems.append(f"too many non-converged runs ({dropped}): no score" if dropped > max_dropped else
                        f"{len(ok)} converged run(s) are too few to drop the fastest and slowest: no score")
    mean = statistics.fmean(ok) if ok else None
    ci = None
    if len(ok) >= 2:
        half = t_quantile(0.975, len(ok) - 1) * statistics.stdev(ok) / math.sqrt(len(ok))
        ci = (statistics.fmean(ok) - half, statistics.fmean(ok) + half)
    return BenchmarkScore(bench, runs, need, None if problems and len(benches) > 1 else score, kept,
                          tuple(problems), mean, ci)
