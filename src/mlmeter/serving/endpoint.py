"""An OpenAI-compatible endpoint (or several) as a LoadGen SUT.

The LoadGen keeps the schedule and the clock: ``issue`` hands each sample to an asyncio event loop (uvloop where
installed) on a thread of its own — or, with ``workers`` > 1, to the least busy of that many client processes
(:mod:`mlmeter.serving.workers`) — which sends it at once over a pooled keep-alive connection. The first chunk
with content completes ``first_token``, the end of the reply completes the sample with its token count, both at
the times the client saw them, so TTFT, TPOT and the token checks are the LoadGen's (measured from the scheduled
send time: client queueing cannot hide). Queries go to the endpoint with the fewest outstanding requests. A
failed request (refused, HTTP error, a stream that breaks or never starts) is a failed sample: reported to the
sink with the reason — the run ends INVALID — never retried.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlmeter.loadgen.protocols import CompletionSink
from mlmeter.serving.openai import Reply, RequestSpec, auth_headers, read_event, read_whole

_clock = time.perf_counter_ns
_JSON = {"Content-Type": "application/json"}


@dataclass
class Exchange:
    """One request as the client saw it (``perf_counter_ns`` times, comparable across processes)."""

    endpoint: int
    issued_ns: int
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


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop's event loop where it is installed (a faster client), else asyncio's; and which."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), f"uvloop {uvloop.__version__}"


class Client:
    """The asyncio side (runs on one event loop): an aiohttp session and the requests; it reports each request's
    first token and its end through the two callbacks, with the times it saw them."""

    def __init__(self, endpoints: Sequence[str], spec: RequestSpec, prompts: Sequence[str], timeout_s: float,
                 headers: dict[str, str], max_connections: int, on_first: Callable[[int, int], None],
                 on_done: Callable[[int, Exchange], None]) -> None:
        self.endpoints, self.spec = list(endpoints), spec
        self.bodies = [json.dumps(spec.body(p)).encode() for p in prompts]
        """Each prompt's request body, encoded once."""
        self.timeout_s, self.headers, self.max_connections = timeout_s, headers, max_connections
        self.on_first, self.on_done = on_first, on_done
        self.outstanding = [0] * len(self.endpoints)
        self.session: Any = None

    async def open(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s), headers=self.headers)

    async def close(self) -> None:
        me = asyncio.current_task()
        for t in asyncio.all_tasks():  # requests still waiting on a server that stopped answering
            if t is not me:
                t.cancel()
        if self.session is not None:
            await self.session.close()

    def spawn(self, pairs: list[tuple[int, int]], issued_ns: int) -> None:
        loop = asyncio.get_running_loop()
        for sid, idx in pairs:
            e = min(range(len(self.endpoints)), key=self.outstanding.__getitem__)
            self.outstanding[e] += 1
            loop.create_task(self._request(sid, Exchange(e, issued_ns, idx)))

    async def _request(self, sid: int, ex: Exchange) -> None:
        reply = Reply()
        url = self.endpoints[ex.endpoint] + self.spec.path
        ex.sent_ns = _clock()
        try:
            await self._exchange(url, self.bodies[ex.sample % len(self.bodies)], reply, sid)
        except Exception as exc:  # noqa: BLE001 -- a failed request is a failed sample, named
            reply.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self.outstanding[ex.endpoint] -= 1
        ex.done_ns = _clock()
        ex.tokens, ex.token_source, ex.text = reply.tokens, reply.token_source, reply.text
        ex.usage_reported = reply.usage_tokens is not None
        ex.first_ns = reply.chunk_ns[0] if reply.chunk_ns else 0
        c = reply.chunk_ns
        ex.chunk_gaps_ns = [b - a for a, b in zip(c, c[1:], strict=False)]  # one gap fewer than chunks
        if reply.error is None and not reply.chunk_ns:
            reply.error = "the reply had no content (zero tokens)"
        ex.error = reply.error
        self.on_done(sid, ex)

    async def _exchange(self, url: str, body: bytes, reply: Reply, sid: int) -> None:
        async with self.session.post(url, data=body, headers=_JSON) as resp:
            if resp.status != 200:
                reply.error = f"HTTP {resp.status}: {(await resp.text())[:200]}"
                return
            if not self.spec.stream:
                read_whole(reply, await resp.json())
                self.on_first(sid, reply.chunk_ns[0])
                return
            rest = b""
            async for data in resp.content.iter_any():  # whatever arrived: often several events at once
                *lines, rest = (rest + data).split(b"\n")
                if not self._events(lines, reply, sid):
                    return
            self._events([rest], reply, sid)

    def _events(self, lines: list[bytes], reply: Reply, sid: int) -> bool:
        """Fold SSE lines into ``reply``; the first content completes the first token. False at the end."""
        for raw in lines:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            had = len(reply.chunk_ns)
            going = read_event(reply, line[5:].strip().decode("utf-8", "replace"))
            if had == 0 and reply.chunk_ns:
                self.on_first(sid, reply.chunk_ns[0])
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
        self.name = f"mlmeter-endpoint-{spec.model}"
        self.exchanges: list[Exchange] = []
        self.workers = workers
        self._count_tokens = count_tokens
        self._sink: CompletionSink | None = None
        self._cpu_start = time.process_time()
        args = (self.endpoints, spec, list(prompts), timeout_s, auth_headers(api_key_env), max_connections)
        if workers > 1:
            from mlmeter.serving.workers import WorkerPool

            self._pool: Any = WorkerPool(workers, args, self._first, self._done)
            self.event_loop = self._pool.event_loop
            return
        self._pool = None
        self._loop, self.event_loop = new_event_loop()
        self._client = Client(*args, self._first, self._done)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, args=(ready,), name="mlmeter-endpoint-client",
                                        daemon=True)
        self._thread.start()
        ready.wait()

    def _run_loop(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._client.open())
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    def start(self, sink: CompletionSink) -> None:
        self._sink = sink

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        now = _clock()
        pairs = list(zip(ids.tolist(), indices.tolist(), strict=True))
        if self._pool is not None:
            self._pool.issue(pairs, now)
        else:
            self._loop.call_soon_threadsafe(self._client.spawn, pairs, now)

    def flush(self) -> None:
        pass

    def _first(self, sid: int, at_ns: int) -> None:
        assert self._sink is not None
        self._sink.first_token(sid, at_ns=at_ns)

    def _done(self, sid: int, ex: Exchange) -> None:
        """A request ended (in this process or a worker): count its tokens, keep it, complete the sample."""
        sink = self._sink
        assert sink is not None
        if ex.error is None and not ex.usage_reported and self._count_tokens is not None:
            ex.tokens, ex.token_source = self._count_tokens(ex.text), "local tokenizer"
        text, ex.text = ex.text, ""  # the accuracy log keeps the replies; the exchange keeps the figures
        self.exchanges.append(ex)
        if ex.error is not None:
            sink.report_failure(f"request to {self.endpoints[ex.endpoint]} failed: {ex.error}")
            sink.complete(sid, [b""], [0], at_ns=ex.done_ns)
            return
        sink.complete(sid, [text.encode("utf-8")], [max(ex.tokens, 1)], at_ns=ex.done_ns)

    def client_cpu_s(self) -> float:
        """CPU seconds this process (LoadGen and client) and the client workers used since the SUT was made."""
        return time.process_time() - self._cpu_start + (self._pool.cpu_s() if self._pool is not None else 0.0)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            return
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
