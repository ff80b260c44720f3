"""``train run``: N runs of a workload with different seeds, one MLLOG file each (``result_<i>.txt``, the
submission naming) and one run directory each, then the olympic score computed from the logs themselves."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmeter import events
from mlmeter.power import Meter
from mlmeter.results.record import RunRecord, new_record, write_record
from mlmeter.system import describe_host
from mlmeter.training import digits, dlrm, gpt
from mlmeter.training.checkpoint import Checkpointer
from mlmeter.training.errors import TrainingError
from mlmeter.training.mllog import MLLogger
from mlmeter.training.power_log import energy_to_train_j, node_log_path, write_node_log
from mlmeter.training.scoring import BenchmarkScore, score_logs
from mlmeter.training.timeline import rules_file
from mlmeter.training.watch import LogWatcher
from mlmeter.util.atomic import write_text


@dataclass(frozen=True)
class TrainingWorkload:
    name: str
    benchmark: str
    runs: int
    target: float
    train: Callable[..., dict[str, Any]]
    config: Any
    lower_is_better: bool = False
    checkpointing: bool = False

    def reached(self, value: float) -> bool:
        return value <= self.target if self.lower_is_better else value >= self.target

    @property
    def rules(self) -> Path:
        expr = (f"v['value'] <= {self.target!r} and v['value'] > 0" if self.lower_is_better
                else f"v['value'] >= {self.target!r} and v['value'] <= 1.0")
        return rules_file(self.name, self.benchmark, expr)


WORKLOADS = {
    "digits": TrainingWorkload("digits", digits.BENCHMARK, digits.RUNS, digits.TARGET, digits.train,
                               digits.DigitsConfig(), checkpointing=True),
    "dlrm": TrainingWorkload("dlrm", dlrm.BENCHMARK, dlrm.RUNS, dlrm.TARGET, dlrm.train, dlrm.DlrmConfig(),
                             checkpointing=True),
    "gpt": TrainingWorkload("gpt", gpt.BENCHMARK, gpt.RUNS, gpt.TARGET, gpt.train, gpt.GptConfig(),
                            lower_is_better=True, checkpointing=True),
}


def workload(name: str) -> TrainingWorkload:
    if name not in WORKLOADS:
        raise TrainingError(f"unknown training workload {name!r}; valid: {', '.join(WORKLOADS)}")
    return WORKLOADS[name]


def torchrun(w: TrainingWorkload, seed: int, log_path: Path, nproc: int, *, fixed_epochs: int = 0,
             timeout_s: float = 3600) -> dict[str, Any]:
    """One run as ``nproc`` torchrun workers (gloo on CPU); a failed worker is reported, never a hang."""
    figures = log_path.with_suffix(".figures.json")
    figures.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "mlmeter.training.worker", w.name, "--seed", str(seed), "--mllog-file", str(log_path),
           "--figures-file", str(figures)]
    if fixed_epochs:
        cmd += ["--fixed-epochs", str(fixed_epochs)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"seed": seed, "status": "failed", "error": f"torchrun did not finish within {timeout_s:g} s"}
    tail = " | ".join([ln for ln in done.stderr.splitlines() if ln.strip()][-3:])
    if not figures.is_file():
        return {"seed": seed, "status": "failed", "error": f"torchrun exited with {done.returncode}: {tail}"}
    out: dict[str, Any] = json.loads(figures.read_text())
    figures.unlink()
    if done.returncode != 0:  # the figures are written when training ended: a worker died in the teardown
        out["warning"] = f"torchrun exited with {done.returncode} after the run finished: {tail}"
    return out


def _finished(log_path: Path) -> bool:
    return log_path.is_file() and '"key": "run_stop"' in log_path.read_text(encoding="latin-1")


def run_workload(w: TrainingWorkload, runs: int, output: Path, *, seed: int = 1, nproc: int = 1,
                 checkpoint_every: int = 0, resume: bool = False,
                 observer: events.Observer | None = None,
                 meter: Meter | None = None) -> tuple[BenchmarkScore, RunRecord]:
    """Run ``runs`` times (seeds ``seed``, ``seed + 1``, …), in this process or as ``nproc`` torchrun workers,
    and score the logs into the run record (``result.json``). With ``checkpoint_every``, runs save checkpoints;
    with ``resume``, finished runs are kept and unfinished ones continue from their checkpoint. A ``meter``
    measures the energy of each run. Emits a stage per run, its evaluations as progress, and its outcome."""
    obs = events.observing(observer)
    if runs < 1 or nproc < 1:
        raise TrainingError("--runs and --nproc must be at least 1")
    if (checkpoint_every or resume) and (not w.checkpointing or nproc > 1):
        raise TrainingError(f"checkpoint/resume is available for single-process runs of: "
                            f"{', '.join(n for n, x in WORKLOADS.items() if x.checkpointing)}")
    output.mkdir(parents=True, exist_ok=True)
    host = describe_host()
    paths = []
    energies: dict[int, float] = {}
    for i in range(runs):
        log_path = output / f"result_{i}.txt"
        rundir = output / f"run_{i}"
        rundir.mkdir(exist_ok=True)
        ckpt = Checkpointer(rundir / "checkpoint.pt", checkpoint_every or 1) if checkpoint_every or resume else None
        if resume and _finished(log_path):
            paths.append(log_path)
            continue
        if not (resume and ckpt is not None and ckpt.path.is_file()):
            log_path.unlink(missing_ok=True)
            if ckpt is not None:
                ckpt.path.unlink(missing_ok=True)
        obs.on_stage(events.Stage(f"run {i + 1}/{runs}: {w.name}, seed {seed + i}"
                                  + (f", {nproc} torchrun workers" if nproc > 1 else "")))
        if meter is not None:
            meter.start()
        with LogWatcher(log_path, obs, f"run {i + 1}"):
            figures = _train_once(w, seed + i, log_path, nproc, ckpt)
        if meter is not None:
            trace = meter.stop()
            figures["power"] = meter.section()
            if trace is not None:
                energies[i] = trace.energy_j
                write_node_log(node_log_path(output, i), trace)
        write_text(rundir / "config.json", json.dumps(
            {"workload": w.name, "benchmark": w.benchmark, "seed": seed + i, "world_size": nproc,
             "config": dataclasses.asdict(w.config)}, indent=2) + "\n")
        write_text(rundir / "system.json", json.dumps(host, indent=2) + "\n")
        write_text(rundir / "run.json", json.dumps(  # the run's own figures; the run record is the score's
            {"schema": "mlmeter.training.run", "schema_version": 1, "log": str(log_path), **figures,
             "system": host}, indent=2) + "\n")
        paths.append(log_path)
        obs.on_stage(events.Stage(f"run {i + 1}: {run_text(figures)}"))
    score = score_logs(paths, w.reached, required=w.runs)
    power = energy_section(meter, score, output, paths, energies) if meter is not None else None
    record = new_record("training", score_document(score, w), system=host, power=power)
    write_record(output / "result.json", record)
    obs.on_run_written(events.RunWritten(output, "training", record.verdict.value))
    return score, record


def _train_once(w: TrainingWorkload, seed: int, log_path: Path, nproc: int, ckpt: Checkpointer | None) -> dict[str, Any]:
    if nproc > 1:
        return torchrun(w, seed, log_path, nproc)
    with MLLogger(log_path) as log:
        return w.train(seed, log, w.config, ckpt=ckpt) if ckpt is not None else w.train(seed, log, w.config)


def run_text(f: dict[str, Any]) -> str:
    if f.get("status") == "failed":
        return f"FAILED: {f['error']}"
    text = f"{f['status']} after {f['epochs']} epochs, eval {f['eval_accuracy']:.4f}, {f['train_seconds']:.2f} s"
    return text + (f" (warning: {f['warning']})" if f.get("warning") else "")


def energy_section(meter: Meter, score: BenchmarkScore, output: Path, paths: list[Path],
                   energies: dict[int, float]) -> dict[str, Any]:
    """Energy per run as measured (the whole run's window) and as MLPerf's summarizer computes it from the
    MLLOG power files (rescaled to the time to train); the energy score is the mean of the latter over the runs
    the olympic time score keeps."""
    out = meter.section() or {}
    out.pop("trace", None)
    to_train = [energy_to_train_j(output, i, p) for i, p in enumerate(paths)]
    minutes = {str(r.path): r.minutes for r in score.runs}
    kept, chosen = list(score.kept), []
    for i, p in enumerate(paths):
        m, e = minutes.get(str(p)), to_train[i]
        if m is not None and m in kept and e is not None:
            kept.remove(m)
            chosen.append(e)
    out.update({"energy_j_per_run": [energies.get(i) for i in range(len(paths))],
                "energy_to_train_j_per_run": to_train,
                "olympic_energy_j": sum(chosen) / len(chosen) if chosen and score.olympic_minutes else None,
                "window": "each whole run, process start to end; rescaled to run_start..run_stop for the score",
                "node_logs": [str(node_log_path(output, i)) for i in range(len(paths))]})
    return out


def scaling(w: TrainingWorkload, workers: list[int], output: Path, *, epochs: int = 3,
            seed: int = 1) -> list[dict[str, Any]]:
    """Fixed work (``epochs`` epochs, no early stop) with 1, 2, … torchrun workers: samples/s and the scaling
    efficiency samples/s(N) / (N × samples/s(first N)) × first N."""
    output.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for n in workers:
        f = torchrun(w, seed, output / f"scaling_{n}.txt", n, fixed_epochs=epochs)
        if f.get("status") == "failed":
            raise TrainingError(f"{n} workers: {f['error']}")
        sps = f["steps"] * w.config.batch_size / f["train_seconds"]
        rows.append({"workers": n, "steps": f["steps"], "seconds": f["train_seconds"], "samples_per_second": sps})
    base = rows[0]["samples_per_second"] / rows[0]["workers"]
    for r in rows:
        r["efficiency"] = r["samples_per_second"] / (r["workers"] * base)
    write_text(output / "scaling.json", json.dumps(rows, indent=2) + "\n")
    return rows


def score_document(s: BenchmarkScore, w: TrainingWorkload | None) -> dict[str, Any]:
    """The ``training`` body of the run record."""
    return {
        "benchmark": s.benchmark, "workload": w.name if w else None, "quality_target": w.target if w else None,
        "lower_is_better": w.lower_is_better if w else None,
        "required_runs": s.required_runs, "olympic_minutes": s.olympic_minutes, "kept_minutes": list(s.kept),
        "problems": list(s.problems),
        "not_mlperf": {"mean_minutes": s.mean, "ci95_minutes": list(s.ci95) if s.ci95 else None,
                       "note": "mean and t-based 95 % interval of the converged runs; not part of the MLPerf score"},
        "runs": [{"log": str(r.path), "minutes": r.minutes, "converged": r.converged, "reason": r.reason}
                 for r in s.runs],
    }
