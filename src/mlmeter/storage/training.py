"""``training run``: check the configuration, start one process per emulated accelerator (or join an MPI
job), collect per-rank epochs, compute DLIO's metrics, write the run directory."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlmeter import events
from mlmeter.power import Meter
from mlmeter.results.record import RunRecord, new_record, write_record
from mlmeter.storage.comm import BarrierComm, MpiComm, RankFailed, run_local_ranks
from mlmeter.storage.datagen import verify_dataset
from mlmeter.storage.emulate import RankJob, list_files, run_rank, steps_per_epoch
from mlmeter.storage.metrics import EpochRecord, Summary, summarize
from mlmeter.storage.readers import ReadError
from mlmeter.storage.rules import Issue, category, check, memory_basis_gib
from mlmeter.storage.workloads import StorageConfigError, TrainingWorkload
from mlmeter.system import describe_host
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import run_directory

GIB = 1024**3


@dataclass(frozen=True)
class RunConfig:
    workload: TrainingWorkload
    params: dict[str, str]
    data_folder: Path
    results_dir: Path
    num_accelerators: int
    memory_gib_per_host: float
    num_client_hosts: int = 1
    hosts: tuple[str, ...] = ("127.0.0.1",)
    closed: bool = False
    open: bool = False
    allow_invalid: bool = False
    barrier_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.num_accelerators < 1:
            raise StorageConfigError("--num-accelerators must be at least 1")
        if self.memory_gib_per_host <= 0:
            raise StorageConfigError("--client-host-memory-in-gb must be positive")
        if self.closed and self.open:
            raise StorageConfigError("--closed and --open exclude each other")


@dataclass
class RunResult:
    outdir: Path
    category: str
    issues: list[Issue]
    summary: Summary | None
    failures: list[str] = field(default_factory=list)
    record: RunRecord | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The storage body of the run record."""
        return self.record.body if self.record is not None else {}

    @property
    def ok(self) -> bool:
        return not self.failures


class ConfigRefused(StorageConfigError):
    """``--closed``/``--open`` was asked for and the configuration does not qualify."""


def _measured_memory_gib() -> float:
    mem = describe_host().get("memory_bytes") or 0
    return float(mem) / GIB


def verify(cfg: RunConfig) -> tuple[str, list[Issue]]:
    """The category and issues; raises ``ConfigRefused`` when ``--closed``/``--open`` cannot be honoured."""
    mem = memory_basis_gib(cfg.memory_gib_per_host, _measured_memory_gib(), 1)
    issues = check(cfg.workload, cfg.params, cfg.num_accelerators, mem, cfg.num_client_hosts)
    cat = category(issues)
    if cfg.closed and cat != "CLOSED" and not (cat == "INVALID" and cfg.allow_invalid):
        raise ConfigRefused("the configuration is not CLOSED:\n" + "\n".join(i.text() for i in issues
                                                                              if i.category != "CLOSED"))
    if cfg.open and cat == "INVALID" and not cfg.allow_invalid:
        raise ConfigRefused("the configuration is INVALID:\n" + "\n".join(i.text() for i in issues
                                                                          if i.category == "INVALID"))
    return cat, issues


def _rank_main(job: RankJob, timeout: float, rank: int, barrier: Any, results: Any) -> None:
    comm = BarrierComm(rank, job.ranks, barrier, timeout)
    last = [0.0]

    def tick(epoch: int, step: int) -> None:
        now = time.monotonic()
        if rank == 0 and now - last[0] > 0.5:
            last[0] = now
            results.put(("tick", rank, (epoch, step)))

    try:
        records = run_rank(job, comm, tick)
        results.put(("ok", rank, records))
    except RankFailed as exc:
        results.put(("stopped", rank, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported by the launcher with the rank's number
        barrier.abort()
        detail = str(exc) if isinstance(exc, ReadError) else "".join(traceback.format_exception_only(exc)).strip()
        results.put(("error", rank, detail))


def run_local(job: RankJob, timeout_s: float,
              observer: events.Observer) -> tuple[list[list[EpochRecord]], list[str]]:
    """Run ``job.ranks`` processes on this host; returns per-rank records and failures (naming ranks). Rank 0's
    steps are reported as progress (steps of all epochs' steps)."""
    total = job.steps * job.workload.train.epochs

    def tick(data: Any) -> None:
        epoch, step = data
        observer.on_progress(events.Progress("training steps", (epoch - 1) * job.steps + step, total, "steps",
                                             f"epoch {epoch}/{job.workload.train.epochs}"))

    got, failures, _ = run_local_ranks(_rank_main, (job, timeout_s), job.ranks, tick)
    ordered = [got[r] for r in range(job.ranks)] if len(got) == job.ranks else []
    return ordered, failures


def prepare_job(cfg: RunConfig) -> RankJob:
    w = cfg.workload
    fmt, loader = w.dataset.format, w.reader.data_loader
    if (loader == "pytorch" and fmt not in ("npz", "hdf5")) or (loader == "tensorflow" and fmt != "tfrecord") \
            or loader not in ("pytorch", "tensorflow"):
        raise StorageConfigError(f"reader.data_loader={loader} cannot read dataset.format={fmt} "
                                 "(pytorch: npz, hdf5; tensorflow: tfrecord)")
    files = list_files(cfg.data_folder, cfg.workload)
    steps = steps_per_epoch(cfg.workload, cfg.num_accelerators)
    folder = Path(w.checkpoint.checkpoint_folder) if w.checkpoint.checkpoint_folder else None
    if folder is not None and not folder.is_absolute():  # DLIO: relative to the current directory (spec §9.3)
        folder = cfg.results_dir / folder
    if steps < 2:
        raise StorageConfigError(
            f"{steps} step(s) per epoch: DLIO's metrics need at least 2 (more files, or fewer accelerators)"
        )
    due = any(w.checkpoint.due(e) for e in range(1, w.train.epochs + 1))
    return RankJob(cfg.workload, tuple(files), cfg.num_accelerators, steps, folder if due else None)


def potential_caching(cfg: RunConfig, per_host_ranks: int) -> bool:
    """DLIO's heuristic: the data a host reads fits in its memory, so later epochs may come from the page cache."""
    w = cfg.workload
    per_rank = w.dataset.num_samples_per_file * w.dataset.num_files_train // cfg.num_accelerators
    data_per_host = per_host_ranks * per_rank * w.dataset.record_length_bytes / GIB
    return data_per_host <= _measured_memory_gib()


def training_run(cfg: RunConfig, observer: events.Observer | None = None, meter: Meter | None = None) -> RunResult:
    """Verify, run every rank on this host, and write the run directory (see ``document``); a ``meter``
    measures the energy of the whole run (every epoch of every rank)."""
    cat, issues = verify(cfg)
    job = prepare_job(cfg)
    verify_dataset(cfg.workload, cfg.data_folder)
    outdir = run_directory(cfg.results_dir / "training" / cfg.workload.model / "run")
    began = datetime.now().astimezone()
    if meter is not None:
        meter.start()
    try:
        records, failures = run_local(job, cfg.barrier_timeout_s, events.observing(observer))
    finally:
        if meter is not None:
            meter.stop()
    return finish(cfg, job, outdir, cat, issues, records, failures, began, meter)


def finish(cfg: RunConfig, job: RankJob, outdir: Path, cat: str, issues: list[Issue],
           records: list[list[EpochRecord]], failures: list[str], began: datetime,
           meter: Meter | None = None) -> RunResult:
    w = cfg.workload
    summary = summarize(records, job.steps, w.reader.batch_size, w.dataset.record_length_bytes,
                        w.metric.exclude_start_steps, w.metric.exclude_end_steps) if records else None
    for r, recs in enumerate(records):
        write_text(outdir / f"{r}_output.json", json.dumps(
            {"rank": r, "epochs": [dataclasses.asdict(e) for e in recs]}, indent=1) + "\n")
    caching = potential_caching(cfg, cfg.num_accelerators)
    doc = document(cfg, job, cat, issues, summary, failures, caching, began)
    doc["page_cache"] = cache_share(records)
    doc["checkpoints"] = checkpoint_times(records, w)
    if any(x is not None and x > 0.2 for x in doc["page_cache"]["per_epoch"]):
        doc["warnings"].append("more than 20 % of the bytes of an epoch came from the page cache, not storage "
                               "(see page_cache; drop caches or use a dataset of the datasize rule)")
    write_text(outdir / "config.json", json.dumps(
        {"workload": dataclasses.asdict(w), "params": cfg.params, "data_folder": str(cfg.data_folder),
         "num_accelerators": cfg.num_accelerators, "memory_gib_per_host": cfg.memory_gib_per_host,
         "num_client_hosts": cfg.num_client_hosts, "hosts": list(cfg.hosts)}, indent=2) + "\n")
    system = describe_host(cfg.data_folder)
    power = None
    if meter is not None:
        avg = meter.trace.average_watts if meter.trace is not None else None
        power = meter.section({"samples_per_joule": summary.throughput_mean / avg if avg and summary else None,
                               "window": "the whole run: every epoch of every rank"})
    write_text(outdir / "system.json", json.dumps(system, indent=2) + "\n")
    write_text(outdir / "summary.json", json.dumps(dlio_summary(cfg, job, summary, caching, began), indent=2) + "\n")
    rec = new_record("storage", doc, system=system, power=power)
    write_record(outdir / "result.json", rec)
    return RunResult(outdir, doc["category"], issues, summary, failures, rec)


def checkpoint_times(records: list[list[EpochRecord]], w: TrainingWorkload) -> list[dict[str, Any]]:
    """Per checkpointed epoch: the slowest rank's seconds and the GiB/s that gives (all ranks' bytes)."""
    out = []
    for e in range(len(records[0]) if records else 0):
        secs = [r[e].checkpoint_s for r in records]
        if max(secs) > 0:
            size = w.checkpoint.model_size_bytes * len(records) / GIB
            out.append({"epoch": e + 1, "duration_s": max(secs), "size_GiB": size,
                        "throughput_GiB_per_s": size / max(secs)})
    return out


def cache_share(records: list[list[EpochRecord]]) -> dict[str, Any]:
    """Per epoch, the share of the bytes read that the kernel did not fetch from storage (``/proc/self/io``)."""
    shares: list[float | None] = []
    for e in range(len(records[0]) if records else 0):
        epoch = [r[e] for r in records]
        if any(x.device_bytes < 0 for x in epoch):
            shares.append(None)
            continue
        logical = sum(x.bytes_read for x in epoch)
        device = sum(x.device_bytes for x in epoch)
        shares.append(max(0.0, 1 - device / logical) if logical else None)
    return {"per_epoch": shares,
            "note": "1 - bytes fetched from storage / bytes read, from /proc/self/io of every rank"}


def dlio_summary(cfg: RunConfig, job: RankJob, s: Summary | None, caching: bool, began: datetime) -> dict[str, Any]:
    """The headline figures under DLIO's ``summary.json`` key names, so existing tooling can read them."""
    w = cfg.workload
    metric: dict[str, Any] = {}
    if s is not None:
        metric = {
            "train_au_percentage": list(s.au_per_epoch),
            "train_au_mean_percentage": s.au_mean,
            "train_au_stdev_percentage": s.au_stdev,
            "train_throughput_samples_per_second": list(s.throughput_per_epoch),
            "train_throughput_mean_samples_per_second": s.throughput_mean,
            "train_throughput_stdev_samples_per_second": s.throughput_stdev,
            "train_io_mean_MB_per_second": s.io_mean_mib,
            "train_io_stdev_MB_per_second": s.io_stdev_mib,
            "train_au_meet_expectation": "success" if s.au_mean >= w.metric.au * 100 else "fail",
        }
    return {
        "start": began.isoformat(), "end": datetime.now().astimezone().isoformat(),
        "num_accelerators": cfg.num_accelerators, "num_hosts": len(cfg.hosts), "hostname": os.uname().nodename,
        "metric": metric, "num_files_train": w.dataset.num_files_train, "num_files_eval": 0,
        "num_samples_per_file": w.dataset.num_samples_per_file, "epochs": w.train.epochs,
        "host_memory_GB": [round(_measured_memory_gib(), 3)], "potential_caching": [int(caching)],
    }


def document(cfg: RunConfig, job: RankJob, cat: str, issues: list[Issue], s: Summary | None,
             failures: list[str], caching: bool, began: datetime) -> dict[str, Any]:
    w = cfg.workload
    threshold = w.metric.au * 100
    checks = [i.as_dict() for i in issues]
    category_final = "INVALID" if failures or s is None else cat
    reasons = list(failures) + [i.text() for i in issues if i.category == "INVALID"]
    au_pass = s is not None and s.au_mean >= threshold
    if s is not None and not au_pass:
        reasons.append(f"AU {s.au_mean:.2f} % is below the {threshold:g} % threshold")
    warnings = []
    if caching:
        warnings.append("the data each host reads fits in its memory: epochs after the first may be served from "
                        "the page cache (drop caches between runs, or use a dataset of the datasize rule)")
    return {
        "benchmark": "training", "model": w.model, "accelerator": w.accelerator,
        "num_accelerators": cfg.num_accelerators, "num_hosts": len(cfg.hosts),
        "started_at": began.isoformat(), "complete": not failures, "failures": list(failures),
        "au": s.au_mean if s else None, "au_stdev": s.au_stdev if s else None,
        "au_threshold": threshold, "au_pass": au_pass,
        "samples_per_second": s.throughput_mean if s else None,
        "samples_per_second_stdev": s.throughput_stdev if s else None,
        "mb_per_second": s.io_mean_mib if s else None,
        "per_epoch": {"au": list(s.au_per_epoch), "samples_per_second": list(s.throughput_per_epoch)} if s else None,
        "ideal": {"samples_per_second": s.ideal_throughput_mean,
                  "note": "steps after the first over the same window, without DLIO's (n-2) numerator"} if s else None,
        "category": category_final, "checks": checks, "reasons": reasons, "warnings": warnings,
        "steps_per_epoch": job.steps, "epochs": w.train.epochs, "num_files_train": w.dataset.num_files_train,
        "potential_caching": caching,
    }


def mpi_rank_main(cfg: RunConfig) -> RunResult | None:
    """Inside ``mpirun``: this process is one rank; rank 0 gathers, computes and writes."""
    comm = MpiComm()
    if comm.size != cfg.num_accelerators:
        raise StorageConfigError(f"mpirun started {comm.size} ranks for --num-accelerators {cfg.num_accelerators}")
    cat, issues = verify(cfg)
    job = prepare_job(cfg)
    began = datetime.now().astimezone()
    try:
        mine: Any = ("ok", run_rank(job, comm))
    except Exception as exc:  # noqa: BLE001 - the job is aborted naming this rank
        sys.stderr.write(f"mlmeter: rank {comm.rank} failed: {exc}\n")
        sys.stderr.flush()
        comm.abort(1)
        raise
    gathered = comm.gather(mine)
    if comm.rank != 0 or gathered is None:
        return None
    outdir = run_directory(cfg.results_dir / "training" / cfg.workload.model / "run")
    return finish(cfg, job, outdir, cat, issues, [g[1] for g in gathered], [], began)
