"""LLM checkpointing (spec §8): Megatron-DeepSpeed-style sharded checkpoints of llama3 8B…1T written and read
by every rank, timed per rank, with real fsync, reported as the rules define (max duration, min throughput)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter import events
from mlmeter.power import Meter
from mlmeter.results.record import new_record, write_record
from mlmeter.storage.comm import BarrierComm, Comm, RankFailed, run_local_ranks
from mlmeter.storage.workloads import StorageConfigError
from mlmeter.system import describe_host
from mlmeter.util.rundir import run_directory

GIB = 1024**3


@dataclass(frozen=True)
class LlmCheckpoint:
    model: str
    num_layers: int
    hidden_size: int
    ffn_hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    vocab_size: int
    tensor: int
    pipeline: int
    zero_stage: int
    data: int
    """Data-parallel degree of the CLOSED configuration (world = tensor × pipeline × data)."""
    time_between_checkpoints: float = 5.0
    num_checkpoints_write: int = 10
    num_checkpoints_read: int = 10
    fsync: bool = True

    @property
    def world(self) -> int:
        return self.tensor * self.pipeline * self.data

    def parameters(self) -> int:
        """2·V·h (embedding, LM head) + L·(2h + h(h + 2·kv·h/heads) + h² + 3·h·ffn) + h."""
        h, kv, heads = self.hidden_size, self.num_kv_heads, self.num_attention_heads
        per_layer = 2 * h + h * (h + 2 * kv * (h // heads)) + h * h + 3 * h * self.ffn_hidden_size
        return 2 * self.vocab_size * h + self.num_layers * per_layer + h

    def rank_bytes(self, rank: int) -> tuple[int, int]:
        """(model bytes, optimizer bytes) that ``rank`` of the full world writes.

        Model: fp16, split over tensor × pipeline ranks (the norms are whole on every tensor rank); under ZeRO-3
        also over data-parallel ranks, otherwise written by the data-parallel rank 0 only. Optimizer: fp32 ``[n, 5h, n, 5h, n, 5h]``, n = N // world.
        """
        n_params = self.parameters()
        norms = self.num_layers * 2 * self.hidden_size + self.hidden_size  # replicated on every tensor rank
        mp_ranks = self.tensor * self.pipeline
        per_mp_rank = (n_params - norms) // mp_ranks + norms // self.pipeline
        if self.zero_stage == 3:
            model = 2 * per_mp_rank // self.data
        else:
            model = 2 * per_mp_rank if rank // mp_ranks == 0 else 0
        n = n_params // self.world
        optim = 4 * (3 * n + 3 * 5 * self.hidden_size)
        return model, optim

    def total_bytes(self, ranks: int | None = None) -> int:
        return sum(sum(self.rank_bytes(r)) for r in range(ranks or self.world))


LLAMA3 = {
    "llama3-8b": LlmCheckpoint("llama3-8b", 32, 4096, 14336, 32, 8, 128256, 1, 1, 3, 8),
    "llama3-70b": LlmCheckpoint("llama3-70b", 80, 8192, 28672, 128, 8, 128256, 8, 1, 3, 8),
    "llama3-405b": LlmCheckpoint("llama3-405b", 126, 16384, 53248, 128, 8, 128256, 8, 32, 1, 2),
    "llama3-1t": LlmCheckpoint("llama3-1t", 128, 25872, 98304, 192, 32, 128256, 8, 64, 1, 2),
}


def llm_checkpoint(model: str, params: dict[str, str]) -> LlmCheckpoint:
    if model not in LLAMA3:
        raise StorageConfigError(f"unknown model {model!r}; valid checkpointing models: {', '.join(LLAMA3)}")
    c = LLAMA3[model]
    fields = {f.name: f for f in dataclasses.fields(LlmCheckpoint)}
    changes: dict[str, Any] = {}
    for key, raw in params.items():
        name = key.split(".")[-1]
        if name not in fields or name == "model":
            raise StorageConfigError(f"--param {key}: unknown; valid: {', '.join(n for n in fields if n != 'model')}")
        current = getattr(c, name)
        try:
            changes[name] = (raw.lower() in ("1", "true", "yes", "on")) if isinstance(current, bool) else type(current)(raw)
        except ValueError as exc:
            raise StorageConfigError(f"--param {key}={raw}: expected {type(current).__name__}") from exc
    return dataclasses.replace(c, **changes)


def _shard_paths(folder: Path, step: int, rank: int, c: LlmCheckpoint) -> list[Path]:
    mp_ranks = c.tensor * c.pipeline
    d = folder / f"global_epoch1_step{step}"
    return [d / f"zero_pp_rank_{rank // mp_ranks}_mp_rank_{rank % mp_ranks:02d}_model_states.bin",
            d / f"zero_pp_rank_{rank // mp_ranks}_mp_rank_{rank % mp_ranks:02d}_optim_states.bin"]


_CHUNK = 64 * 2**20


def write_shard(path: Path, nbytes: int, fsync: bool, seed: int) -> None:
    """Write ``nbytes`` to ``path``; on any failure (a full disk) no partial shard is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = np.random.default_rng(seed).bytes(min(nbytes, _CHUNK)) if nbytes else b""
    try:
        with open(path, "wb", buffering=0) as f:
            left = nbytes
            while left > 0:
                n = min(left, len(block))
                f.write(block[:n] if n < len(block) else block)
                left -= n
            if fsync:
                os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def check_free_space(c: LlmCheckpoint, ranks: int, folder: Path) -> None:
    """Refuse a run whose checkpoints do not fit on the file system of ``folder`` (shards it replaces count)."""
    needed = c.total_bytes(ranks) * c.num_checkpoints_write
    replaced = sum(p.stat().st_size for i in range(1, c.num_checkpoints_write + 1) for r in range(ranks)
                   for p in _shard_paths(folder, i, r, c) if p.is_file())
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed - replaced > free:
        raise StorageConfigError(
            f"{folder}: {c.num_checkpoints_write} checkpoints of {ranks} rank(s) need {needed / GIB:,.1f} GiB, "
            f"the file system has {(free + replaced) / GIB:,.1f} GiB free; free space, use fewer "
            "--num-checkpoints-write or --num-processes, or another --checkpoint-folder")


def read_shard(path: Path) -> int:
    total = 0
    buf = bytearray(_CHUNK)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                return total
            total += n


def run_rank(c: LlmCheckpoint, folder: Path, comm: Comm,
             tick: Callable[[str, int], None] | None = None) -> dict[str, list[float]]:
    """Write then read this rank's shards; per checkpoint, the seconds this rank took. ``tick(phase, i)``
    follows each checkpoint written or read."""
    model, optim = c.rank_bytes(comm.rank)
    out: dict[str, list[float]] = {"save": [], "load": []}
    for i in range(1, c.num_checkpoints_write + 1):
        time.sleep(c.time_between_checkpoints)
        comm.barrier()
        t0 = time.perf_counter()
        for path, n in zip(_shard_paths(folder, i, comm.rank, c), (model, optim), strict=True):
            write_shard(path, n, c.fsync, seed=comm.rank * 1000 + i)
        out["save"].append(time.perf_counter() - t0)
        if tick is not None:
            tick("save", i)
    comm.barrier()
    for i in range(1, c.num_checkpoints_read + 1):
        step = (i - 1) % max(c.num_checkpoints_write, 1) + 1 if c.num_checkpoints_write else i
        paths = _shard_paths(folder, step, comm.rank, c)
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"rank {comm.rank}: checkpoint shard {missing[0]} not found (write first)")
        time.sleep(c.time_between_checkpoints)
        comm.barrier()
        t0 = time.perf_counter()
        for p in paths:
            read_shard(p)
        out["load"].append(time.perf_counter() - t0)
        if tick is not None:
            tick("load", i)
    return out


def _rank_main(c: LlmCheckpoint, folder: Path, size: int, rank: int, barrier: Any, results: Any) -> None:
    def tick(phase: str, i: int) -> None:
        if rank == 0:
            results.put(("tick", rank, (phase, i)))

    try:
        results.put(("ok", rank, run_rank(c, folder, BarrierComm(rank, size, barrier, 3600.0), tick)))
    except RankFailed as exc:
        results.put(("stopped", rank, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported with the rank's number
        barrier.abort()
        results.put(("error", rank, f"{type(exc).__name__}: {exc}"))


def _stats(per_rank: list[dict[str, list[float]]], kind: str, size_gib: float) -> dict[str, Any] | None:
    if not per_rank or not per_rank[0][kind]:
        return None
    count = len(per_rank[0][kind])
    rank0 = [size_gib / d for d in per_rank[0][kind]]
    slowest = [max(r[kind][i] for r in per_rank) for i in range(count)]
    return {
        "duration_per_checkpoint_max_over_ranks_s": slowest,
        "duration_mean_s": statistics.fmean(slowest),
        "throughput_mean_GiB_per_s": statistics.fmean(size_gib / d for d in slowest),
        "rank0_duration_mean_s": statistics.fmean(per_rank[0][kind]),
        "rank0_throughput_mean_GiB_per_s": statistics.fmean(rank0),
        "rank0_throughput_stdev_GiB_per_s": statistics.pstdev(rank0),
    }


def checkpointing_run(c: LlmCheckpoint, ranks: int, folder: Path, results_dir: Path,
                      meter: Meter | None = None, observer: events.Observer | None = None) -> dict[str, Any]:
    """Run ``ranks`` local processes (a subset of the full world writes its share); write the run directory.
    A ``meter`` measures the energy of all the writes and reads; rank 0's checkpoints are reported as progress."""
    obs = events.observing(observer)
    total = {"save": c.num_checkpoints_write, "load": c.num_checkpoints_read}

    def show(data: Any) -> None:
        phase, i = data
        obs.on_progress(events.Progress(f"checkpoint {phase}", i, total[phase], "checkpoints"))

    if ranks < 1 or ranks > c.world:
        raise StorageConfigError(f"--num-processes must be between 1 and {c.world} for {c.model}")
    folder = folder / c.model
    check_free_space(c, ranks, folder)
    folder.mkdir(parents=True, exist_ok=True)
    outdir = run_directory(results_dir / "checkpointing" / c.model)
    if meter is not None:
        meter.start()
    try:
        got, failures, _ = run_local_ranks(_rank_main, (c, folder, ranks), ranks, show)
    finally:
        if meter is not None:
            meter.stop()
    per_rank = [got[r] for r in range(ranks)] if len(got) == ranks else []
    power = meter.section({"window": "every checkpoint write and read of every rank"}) if meter else None
    return _write(c, ranks, per_rank, failures, outdir, power)


def _write(c: LlmCheckpoint, ranks: int, per_rank: list[dict[str, list[float]]], failures: list[str],
           outdir: Path, power: dict[str, Any] | None = None) -> dict[str, Any]:
    size_gib = c.total_bytes(ranks) / GIB
    doc: dict[str, Any] = {
        "benchmark": "checkpointing", "model": c.model,
        "num_processes": ranks, "full_world": c.world, "subset": ranks < c.world,
        "checkpoint_size_GiB": size_gib, "full_checkpoint_size_GiB": c.total_bytes() / GIB,
        "parameters": c.parameters(), "fsync": c.fsync,
        "save": _stats(per_rank, "save", size_gib), "load": _stats(per_rank, "load", size_gib),
        "per_rank": per_rank, "complete": not failures, "failures": failures,
        "category": "INVALID" if failures else "CLOSED" if ranks == c.world else "OPEN",
        "settings": dataclasses.asdict(c),
    }
    rec = new_record("checkpointing", doc, system=describe_host(), power=power)
    write_record(outdir / "result.json", rec)
    return {**doc, "outdir": str(outdir), "verdict": rec.verdict.value}


def checkpointing_mpi(c: LlmCheckpoint, folder: Path, results_dir: Path) -> dict[str, Any] | None:
    """Inside ``mpirun``: this process is one rank; rank 0 gathers the timings and writes the result."""
    from mlmeter.storage.comm import MpiComm

    comm = MpiComm()
    folder = folder / c.model
    if comm.rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    try:
        mine = run_rank(c, folder, comm)
    except Exception:
        comm.abort(1)
        raise
    gathered = comm.gather(mine)
    if gathered is None:
        return None
    doc = _write(c, comm.size, gathered, [], run_directory(results_dir / "checkpointing" / c.model))
    return doc

