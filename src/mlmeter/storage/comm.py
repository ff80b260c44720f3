"""How emulated accelerators meet: a barrier per step, and the results gathered on one rank.

``BarrierComm`` serves ranks run as processes on this host (a ``multiprocessing`` barrier; a dead rank breaks
it, so the others stop instead of hanging). ``MpiComm`` is the same contract over ``mpi4py`` for multi-host runs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Callable
from typing import Any, Protocol


class RankFailed(RuntimeError):
    """Another rank died or failed; this rank stopped waiting for it."""


class Comm(Protocol):
    """What a rank needs from its peers while it runs; results travel separately (queue or MPI gather)."""

    rank: int
    size: int

    def barrier(self) -> None: ...


class BarrierComm:
    """A local rank: waits on the shared barrier (with a timeout that breaks a hang)."""

    def __init__(self, rank: int, size: int, barrier: Any, timeout_s: float) -> None:
        self.rank, self.size, self._barrier, self._timeout = rank, size, barrier, timeout_s

    def barrier(self) -> None:
        import threading

        try:
            self._barrier.wait(self._timeout)
        except threading.BrokenBarrierError as exc:
            raise RankFailed("another rank failed or stopped responding; this rank stopped") from exc


class MpiComm:
    """mpi4py's COMM_WORLD (install ``mlmeter[mpi]``; launch with ``mpirun``)."""

    def __init__(self) -> None:
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise RuntimeError(
                "multi-host runs need MPI and mpi4py: apt-get install openmpi-bin libopenmpi-dev, then "
                "pip install 'mlmeter[mpi]'"
            ) from exc
        self._mpi = MPI
        self._comm = MPI.COMM_WORLD
        self.rank, self.size = self._comm.Get_rank(), self._comm.Get_size()

    def barrier(self) -> None:
        self._comm.Barrier()

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's object on rank 0 (None elsewhere)."""
        out: list[Any] | None = self._comm.gather(obj, root=0)
        return out

    def abort(self, code: int = 1) -> None:
        self._comm.Abort(code)


def under_mpirun() -> bool:
    """True inside a process started by mpirun/mpiexec with more than one rank."""
    for key in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        if int(os.environ.get(key, "1") or 1) > 1:
            return True
    return False


def run_local_ranks(target: Callable[..., None], args: tuple[Any, ...], ranks: int,
                    on_tick: Callable[[Any], None] | None = None) -> tuple[dict[int, Any], list[str], list[int]]:
    """Start ``ranks`` forked processes ``target(*args, rank, barrier, results)`` and collect what they put
    on ``results``: ``("ok", rank, payload)``, ``("error", rank, text)``, ``("stopped", rank, text)`` or
    ``("tick", rank, data)``. A process that dies without reporting breaks the barrier and is named.
    Returns (payloads by rank, failures, ranks that stopped because of another's failure)."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(ranks)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, r, barrier, results), name=f"mlmeter-rank-{r}")
             for r in range(ranks)]
    for p in procs:
        p.start()
    got: dict[int, Any] = {}
    failures: list[str] = []
    stopped: list[int] = []
    answered: set[int] = set()
    while len(answered) < ranks:
        try:
            kind, rank, payload = results.get(timeout=0.5)
        except queue.Empty:
            for r, p in enumerate(procs):
                if r not in answered and p.exitcode is not None:
                    answered.add(r)
                    failures.append(f"rank {r} died (exit code {p.exitcode}) without reporting")
                    barrier.abort()
            continue
        if kind == "tick":
            if on_tick is not None:
                on_tick(payload)
            continue
        answered.add(rank)
        if kind == "ok":
            got[rank] = payload
        elif kind == "error":
            failures.append(f"rank {rank} failed: {payload}")
        else:
            stopped.append(rank)
    for p in procs:
        p.join()
    if failures and stopped:
        failures.append(f"ranks {', '.join(map(str, sorted(stopped)))} stopped because of that")
    return got, failures, stopped

