"""Client worker processes for when one event loop cannot keep up (``mlmeter serve --client-workers N``).

The LoadGen stays in the parent, the single source of the schedule and the verdict. Each worker is a
``multiprocessing`` process (spawned) running the same :class:`~mlmeter.serving.endpoint.Client` on its own
event loop; the parent sends it ``(sample id, prompt index)`` pairs over a pipe (to the worker with the fewest
outstanding requests) and one thread per worker reads back the first-token and end events with the times the
worker saw them (``perf_counter_ns`` is the same clock in every process of the machine). A worker that dies
fails its outstanding samples with the reason, so the run ends INVALID rather than hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from mlmeter.serving import ServingError
from mlmeter.serving.endpoint import Client, Exchange
from mlmeter.serving.http import new_event_loop

READY_TIMEOUT_S = 60.0


def _worker(conn: Connection, args: tuple[Any, ...]) -> None:
    """A worker's main: requests in from the pipe, events out to it, until told to stop."""
    loop, _ = new_event_loop()
    asyncio.set_event_loop(loop)
    send_lock = threading.Lock()

    def send(msg: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(msg)

    endpoints, spec, prompts, timeout_s, headers, max_connections = args
    client = Client(loop, endpoints, spec, prompts, timeout_s, headers, max_connections,
                    on_first=lambda sid, t, ids: send(("f", sid, t, ids)),
                    on_done=lambda sid, ex: send(("d", sid, ex, time.process_time())))
    loop.run_until_complete(client.open())
    send(("ready",))
    stopped = loop.create_future()

    def readable() -> None:
        try:
            msg = conn.recv()
        except EOFError:
            msg = ("stop",)
        if msg[0] == "stop":
            loop.remove_reader(conn.fileno())
            if not stopped.done():
                stopped.set_result(None)
            return
        client.spawn(msg[1], msg[2], msg[3])

    loop.add_reader(conn.fileno(), readable)
    loop.run_until_complete(stopped)
    loop.run_until_complete(client.close())
    send(("bye", time.process_time()))
    conn.close()


class WorkerPool:
    """``workers`` client processes; ``issue`` spreads requests by outstanding count; ``close`` stops them."""

    def __init__(self, workers: int, args: tuple[Any, ...], on_first: Callable[[int, int, list[int] | None], None],
                 on_done: Callable[[int, Exchange], None]) -> None:
        ctx = mp.get_context("spawn")
        self._on_first, self._on_done = on_first, on_done
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._outstanding: list[set[int]] = [set() for _ in range(workers)]
        self._cpu = [0.0] * workers
        self._lock = threading.Lock()
        for _ in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child, args), name="mlmeter-client-worker", daemon=True)
            p.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(p)
        for k, conn in enumerate(self._conns):  # before the first request: a worker still importing would be lag
            if not conn.poll(READY_TIMEOUT_S) or conn.recv() != ("ready",):
                self.close()
                raise ServingError(f"client worker {k} did not start within {READY_TIMEOUT_S:g} s "
                                   f"(exit code {self._procs[k].exitcode})")
        probe, name = new_event_loop()  # which loop the workers run (they make their own)
        probe.close()
        self.event_loop = f"{name} in {workers} worker processes"
        self._readers = [threading.Thread(target=self._read, args=(k,), name=f"mlmeter-client-reader-{k}",
                                          daemon=True) for k in range(workers)]
        for t in self._readers:
            t.start()

    def issue(self, pairs: list[tuple[int, int]], scheduled_ns: int, issued_ns: int) -> None:
        """One sample to the worker with the fewest outstanding; a query of many (Offline) split over all."""
        with self._lock:
            n = len(self._conns)
            order = sorted(range(n), key=lambda i: len(self._outstanding[i]))
            for j, k in enumerate(order[:len(pairs)]):
                part = pairs[j::n]
                self._outstanding[k].update(sid for sid, _ in part)
                self._conns[k].send(("i", part, scheduled_ns, issued_ns))

    def _read(self, k: int) -> None:
        conn = self._conns[k]
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                self._lost(k)
                return
            if msg[0] == "f":
                self._on_first(msg[1], msg[2], msg[3])
            elif msg[0] == "d":
                with self._lock:
                    self._outstanding[k].discard(msg[1])
                self._cpu[k] = msg[3]
                self._on_done(msg[1], msg[2])
            elif msg[0] == "bye":
                self._cpu[k] = msg[1]
                return

    def _lost(self, k: int) -> None:
        """A worker that died: every request it still had fails, naming the exit."""
        with self._lock:
            lost, self._outstanding[k] = sorted(self._outstanding[k]), set()
        code = self._procs[k].exitcode
        now = time.perf_counter_ns()
        for sid in lost:
            ex = Exchange(0, now, error=f"client worker {k} died (exit code {code})")
            ex.done_ns = now
            self._on_done(sid, ex)

    def cpu_s(self) -> float:
        return sum(self._cpu)

    def close(self) -> None:
        readers = getattr(self, "_readers", [])
        for conn in self._conns:
            with contextlib.suppress(OSError):  # a worker that died already
                conn.send(("stop",))
        for t in readers:
            t.join(timeout=15)
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        for conn in self._conns:
            conn.close()
