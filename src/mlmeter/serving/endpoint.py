"""An OpenAI-compatible endpoint (or several) as a LoadGen SUT.

The LoadGen keeps the schedule and the clock. The client is an asyncio event loop that the LoadGen runs on its
own issuing thread (the SUT's :class:`~mlmeter.loadgen.protocols.Driver`): while the LoadGen waits for the next
scheduled query or for completions, the loop serves the sockets, and ``issue`` writes the request at once, on
that thread, over a pooled keep-alive connection. With ``workers`` > 1 the requests go instead to the least busy
of that many client processes (:mod:`mlmeter.serving.workers`). The first chunk with content completes
``first_token``, the end of the reply completes the sample with its token count, both at the times the client
saw them, so TTFT, TPOT and the token checks are the LoadGen's (measured from the scheduled send time: client
queueing cannot hide). Queries go to the endpoint with the fewest outstanding requests. A failed request
(refused, HTTP error, a stream that breaks or never starts) is a failed sample: reported to the sink with the
reason — the run ends INVALID — never retried (one exception, counted: a request the server dropped unanswered on
a kept-alive connection, see :mod:`mlmeter.serving.http`). With ``spec.token_ids`` the accuracy log holds each reply's token
IDs (int32, as MLPerf's LLM logs and the TEST06 audit read them; the first token's IDs as its ``token_data``)
and the SUT keeps the replies' text for scoring; else the log holds the text (UTF-8).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlmeter.loadgen.protocols import CompletionSink, Driver
from mlmeter.serving.http import LoopDriver, Pool
from mlmeter.serving.openai import Reply, RequestSpec, auth_headers, is_grpc, read_event, read_whole

_clock = time.perf_counter_ns
FD_RESERVE = 256
"""Open files kept back from the client's connections (logs, the LoadGen's files, the interpreter's own)."""


def connection_budget(endpoints: int, workers: int) -> int:
    """The connections per endpoint and client process that the open-file limit allows, after raising the soft
    limit to the hard one: an Offline query's thousands of requests then wait for a connection (counted in the
    result, their send lag from when they went out) instead of failing with "too many open files"."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    big = 1 << 20
    want = big if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    soft = big if soft == resource.RLIM_INFINITY else soft
    return max(16, (soft - FD_RESERVE) // max(1, endpoints * workers))
SWITCH_INTERVAL_S = 50e-6
"""The GIL switch interval during a run: the LoadGen's issuing thread shares the GIL with any other thread (the
client workers' readers, the progress display), and at Python's default (5 ms) a busy one holds a due query back
by up to that long."""
GC_THRESHOLD = (50_000, 20, 100)
"""The collector's thresholds during a run (as MLCommons Endpoints relaxes its own): the run keeps a record per
request, and the default thresholds make full collections over them frequent pauses of the issuing thread.
What exists when the run starts is frozen out of collection until it ends."""


@dataclass
class Exchange:
    """One request as the client saw it (``perf_counter_ns`` times, comparable across processes)."""

    endpoint: int
    scheduled_ns: int
    """When the LoadGen scheduled the query (Server), else when it issued it: what the send lag counts from."""
    issued_ns: int = 0
    """When the LoadGen handed it to the SUT (later than scheduled when the issuing thread woke late)."""
    sample: int = -1
    """The QSL index of the prompt."""
    sent_ns: int = 0
    first_ns: int = 0
    done_ns: int = 0
    tokens: int = 0
    token_source: str = ""
    error: str | None = None
    chunk_gaps_ns: list[int] = field(default_factory=list)
    text: str = ""
    usage_reported: bool = False
    token_ids: list[int] | None = None
    """The output token IDs the server sent (asked for with ``RequestSpec.token_ids``)."""
    resent: int = 0
    """Times the request went out again because the server had closed its kept-alive connection unanswered."""
    queued: bool = False
    """It waited behind the connection limit (``sent_ns`` is then when it went out)."""


def least_outstanding(outstanding: list[int], scheduled_ns: int, issued_ns: int, sample: int) -> Exchange:
    """A new request's exchange, on the endpoint with the fewest requests outstanding (its count raised)."""
    e = min(range(len(outstanding)), key=outstanding.__getitem__) if len(outstanding) > 1 else 0
    outstanding[e] += 1
    return Exchange(e, scheduled_ns, issued_ns, sample)


def settle(ex: Exchange, reply: Reply, at_ns: int, want_ids: bool) -> None:
    """A reply that ended at ``at_ns`` (complete, failed or timed out): its figures to its exchange, and what is
    wrong with it — no content, or no token IDs when they were asked for — as the exchange's error."""
    ex.done_ns = at_ns
    ex.tokens, ex.token_source, ex.text = reply.tokens, reply.token_source, reply.text
    ex.usage_reported = reply.usage_tokens is not None
    ex.token_ids = reply.token_ids if want_ids else None  # llama.cpp streams them unasked
    c = reply.chunk_ns
    ex.first_ns = c[0] if c else 0
    ex.chunk_gaps_ns = [b - a for a, b in zip(c, c[1:], strict=False)]  # one gap fewer than chunks
    if reply.error is None and not c:
        reply.error = "the reply had no content (zero tokens)"
    elif reply.error is None and want_ids and reply.token_ids is None:
        reply.error = ("the server sent no output token IDs: --token-ids needs vLLM's return_token_ids "
                       "(--api completions or chat) or llama.cpp's /completion (--api llamacpp)")
    ex.error = reply.error


class _Request:
    """One request's reply as it arrives (the :class:`~mlmeter.serving.http.Handler` of the HTTP client)."""

    __slots__ = ("client", "sid", "ex", "reply", "status", "rest", "finished", "conn", "deadline")

    def __init__(self, client: Client, sid: int, ex: Exchange) -> None:
        self.client, self.sid, self.ex = client, sid, ex
        self.reply = Reply()
        self.status = 0
        self.rest = b""
        """A stream's unfinished last line; a whole or error reply's body so far."""
        self.finished = False
        self.conn: Any = None
        self.deadline = ex.scheduled_ns + int(client.timeout_s * 1e9)

    def head(self, status: int) -> None:
        self.status = status

    def resent(self) -> None:
        self.ex.resent += 1

    def dequeued(self) -> None:
        self.ex.queued, self.ex.sent_ns = True, _clock()

    def body(self, data: bytes, at_ns: int) -> None:
        if self.finished:
            return
        if self.status != 200 or not self.client.spec.stream:
            self.rest += data
            return
        *lines, self.rest = (self.rest + data).split(b"\n")  # whatever arrived: often several events at once
        if not self.client.events(lines, self.reply, self.sid, at_ns):
            self.end(None, at_ns)

    def end(self, error: str | None, at_ns: int | None = None) -> None:
        if self.finished:
            return
        reply = self.reply
        at = at_ns or _clock()
        if error is None and self.status != 200:
            error = f"HTTP {self.status}: {self.rest[:200].decode('utf-8', 'replace')}"
        elif error is None and not self.client.spec.stream:
            read_whole(reply, self.rest, at)
            if reply.error is None:
                self.client.on_first(self.sid, reply.chunk_ns[0], reply.token_ids if self.client.spec.token_ids else None)
        elif error is None and self.rest:
            self.client.events([self.rest], reply, self.sid, at)
        self.finished = True
        reply.error = reply.error or error
        self.client.finish(self, at)


class Client:
    """The asyncio side (on ``loop``): the connection pools and the requests; it reports each request's first
    token (with the token IDs received by then, when asked for) and its end through the two callbacks, with the
    times it saw them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, endpoints: Sequence[str], spec: RequestSpec,
                 prompts: Sequence[str], timeout_s: float, headers: dict[str, str], max_connections: int,
                 on_first: Callable[[int, int, list[int] | None], None], on_done: Callable[[int, Exchange], None],
                 defer: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.endpoints, self.spec = list(endpoints), spec
        self.pools = [Pool(url, headers, loop, max_connections, defer) for url in self.endpoints]
        bodies = [json.dumps(spec.body(p)).encode() for p in prompts]
        self.requests = [[pool.request_bytes(spec.path, b) for b in bodies] for pool in self.pools]
        """Each endpoint's request bytes for each prompt, built once."""
        self.timeout_s = timeout_s
        self.on_first, self.on_done = on_first, on_done
        self.outstanding = [0] * len(self.endpoints)
        self.inflight: set[_Request] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """End the requests whose deadline (issue time + the request timeout) passed, closing their connection."""
        while True:
            await asyncio.sleep(min(1.0, self.timeout_s / 4))
            now = _clock()
            for req in [r for r in self.inflight if r.deadline <= now]:
                conn = req.conn
                req.end(f"no complete reply within the {self.timeout_s:g} s request timeout")
                if conn is not None:
                    conn.abort()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for pool in self.pools:  # requests still waiting on a server that stopped answering end here
            await pool.close()

    def spawn(self, pairs: list[tuple[int, int]], scheduled_ns: int, issued_ns: int) -> None:
        for sid, idx in pairs:
            ex = least_outstanding(self.outstanding, scheduled_ns, issued_ns, idx)
            e = ex.endpoint
            req = _Request(self, sid, ex)
            self.inflight.add(req)
            reqs = self.requests[e]
            ex.sent_ns = _clock()
            self.pools[e].request(req, reqs[idx % len(reqs)])

    def finish(self, req: _Request, at_ns: int) -> None:
        """A request ended (complete, failed or timed out) at ``at_ns``: its figures to the exchange, the exchange
        reported."""
        self.inflight.discard(req)
        self.outstanding[req.ex.endpoint] -= 1
        settle(req.ex, req.reply, at_ns, self.spec.token_ids)
        self.on_done(req.sid, req.ex)

    def events(self, lines: list[bytes], reply: Reply, sid: int, at_ns: int) -> bool:
        """Fold SSE lines that arrived at ``at_ns`` into ``reply``; the first content completes the first token.
        False at the end."""
        for raw in lines:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            had = len(reply.chunk_ns)
            going = read_event(reply, line[5:].strip(), at_ns)
            if had == 0 and reply.chunk_ns:
                ids = reply.token_ids if self.spec.token_ids else None
                self.on_first(sid, reply.chunk_ns[0], None if ids is None else ids[:])
            if not going:
                return False
        return True


class EndpointSUT:
    """``EndpointSUT(["http://127.0.0.1:8000"], spec, prompts)``; ``close()`` when done."""

    def __init__(self, endpoints: Sequence[str], spec: RequestSpec, prompts: Sequence[str], *,
                 timeout_s: float = 600.0, api_key_env: str | None = "OPENAI_API_KEY", max_connections: int = 0,
                 count_tokens: Callable[[str], int] | None = None, workers: int = 1) -> None:
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.spec = spec
        self.max_connections = max_connections or connection_budget(len(self.endpoints), workers)
        """Connections per endpoint and client process (given, else what the open-file limit allows)."""
        max_connections = self.max_connections
        self.name = f"mlmeter-endpoint-{spec.model}"
        self.exchanges: list[Exchange] = []
        self.texts: dict[int, str] = {}
        """With token IDs in the log: the first reply's text to each prompt (QSL index), for scoring."""
        self.servers: list[dict[str, Any]] = []
        """What each endpoint told about its server and model (``bench.check_endpoints``)."""
        self.workers = workers
        self._count_tokens = count_tokens
        self._sink: CompletionSink | None = None
        self._cpu_start = time.process_time()
        self._switch_interval, self._gc_threshold = sys.getswitchinterval(), gc.get_threshold()
        args = (self.endpoints, spec, list(prompts), timeout_s, auth_headers(api_key_env), max_connections)
        if workers > 1:
            from mlmeter.serving.workers import WorkerPool

            self._pool: Any = WorkerPool(workers, args, self._first, self._done)
            self.event_loop = self._pool.event_loop
            return
        self._pool = None
        self._driver = LoopDriver()
        self._loop, self.event_loop = self._driver.loop, self._driver.name
        if spec.api == "generate" and all(is_grpc(e) for e in self.endpoints):
            from mlmeter.serving.triton_grpc import GrpcClient

            # one channel per endpoint, streams multiplexed on it: no connection cap
            self._client: Client | GrpcClient = GrpcClient(self._loop, *args[:5], self._first, self._done)
        else:
            self._client = Client(self._loop, *args, self._first, self._done, self._driver.defer)
        self._loop.run_until_complete(self._client.open())

    def driver(self) -> Driver | None:
        """The client's loop, for the LoadGen to run on its thread (None with worker processes)."""
        return self._driver if self._pool is None else None

    def start(self, sink: CompletionSink) -> None:
        self._sink = sink
        sys.setswitchinterval(SWITCH_INTERVAL_S)  # these until close()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLD)

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        now = _clock()
        # the query's scheduled time (Server), else now: the send lag, deadline and goodput count from it
        at = getattr(self._sink, "scheduled_ns", 0) or now
        pairs = list(zip(ids.tolist(), indices.tolist(), strict=True))
        if self._pool is not None:
            self._pool.issue(pairs, at, now)
        else:
            self._client.spawn(pairs, at, now)

    def flush(self) -> None:
        pass

    def _first(self, sid: int, at_ns: int, ids: list[int] | None) -> None:
        assert self._sink is not None
        if ids is None:
            self._sink.first_token(sid, at_ns=at_ns)
        else:
            self._sink.first_token(sid, [np.asarray(ids, np.int32)], at_ns=at_ns)

    def reset(self) -> None:
        """Forget the requests of a run, and the CPU it took (before another run on the same SUT)."""
        self.exchanges, self.texts = [], {}
        self._cpu_start = time.process_time() + (self._pool.cpu_s() if self._pool is not None else 0.0)

    def _done(self, sid: int, ex: Exchange) -> None:
        """A request ended (in this process or a worker): count its tokens, keep it, complete the sample."""
        sink = self._sink
        assert sink is not None
        if ex.error is None and not ex.usage_reported and ex.token_ids is None and self._count_tokens is not None:
            ex.tokens, ex.token_source = self._count_tokens(ex.text), "local tokenizer"
        text, ex.text = ex.text, ""  # the accuracy log keeps the replies; the exchange keeps the figures
        ids, ex.token_ids = ex.token_ids, None
        self.exchanges.append(ex)
        if ex.error is not None:
            sink.report_failure(f"request to {self.endpoints[ex.endpoint]} failed: {ex.error}")
            sink.complete_one(sid, b"", 0, None, ex.done_ns)
            return
        if ids is None:
            sink.complete_one(sid, text.encode("utf-8"), max(ex.tokens, 1), None, ex.done_ns)
            return
        self.texts.setdefault(ex.sample, text)
        sink.complete_one(sid, np.asarray(ids, np.int32), max(ex.tokens, 1), None, ex.done_ns)

    def client_cpu_s(self) -> float:
        """CPU seconds this process (LoadGen and client) and the client workers used since the SUT was made or
        last reset."""
        return time.process_time() - self._cpu_start + (self._pool.cpu_s() if self._pool is not None else 0.0)

    def close(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        gc.set_threshold(*self._gc_threshold)
        gc.unfreeze()
        if self._pool is not None:
            self._pool.close()
            return
        if not self._loop.is_closed():
            self._driver.finish()
            self._loop.run_until_complete(self._client.close())
            self._loop.close()
