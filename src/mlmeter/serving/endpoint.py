"""An OpenAI-compatible endpoint (or several) as a LoadGen SUT.

The LoadGen keeps the schedule and the clock: ``issue`` hands each sample to an asyncio event loop on a thread
of its own, which sends it at once over a pooled keep-alive connection; the first chunk with content completes
``first_token``, the end of the reply completes the sample with its token count, so TTFT, TPOT and the token
checks are the LoadGen's (measured from the scheduled send time: client queueing cannot hide). Queries go to the
endpoint with the fewest outstanding requests. A failed request (refused, HTTP error, a stream that breaks or
never starts) is a failed sample: reported to the sink with the reason — the run ends INVALID — never retried.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlmeter.loadgen.protocols import CompletionSink
from mlmeter.serving.openai import Reply, RequestSpec, auth_headers, read_event, read_whole

_clock = time.perf_counter_ns


@dataclass
class Exchange:
    """One request as the client saw it (``perf_counter_ns`` times)."""

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


class EndpointSUT:
    """``EndpointSUT(["http://127.0.0.1:8000"], spec, prompts)``; ``close()`` when done."""

    def __init__(self, endpoints: Sequence[str], spec: RequestSpec, prompts: Sequence[str], *,
                 timeout_s: float = 600.0, api_key_env: str | None = "OPENAI_API_KEY", max_connections: int = 0,
                 count_tokens: Callable[[str], int] | None = None) -> None:
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.spec, self.prompts, self.timeout_s = spec, list(prompts), timeout_s
        self._headers = auth_headers(api_key_env)
        self._max_connections = max_connections
        self._count_tokens = count_tokens
        self.name = f"mlmeter-endpoint-{spec.model}"
        self.exchanges: list[Exchange] = []
        self._outstanding = [0] * len(self.endpoints)
        self._sink: CompletionSink | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, name="mlmeter-endpoint-client", daemon=True)
        self._session: Any = None
        self._thread.start()
        self._ready.wait()

    # -- the event loop's thread ------------------------------------------------------------------------
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._open())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _open(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s), headers=self._headers)

    def start(self, sink: CompletionSink) -> None:
        self._sink = sink

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        now = _clock()
        pairs = list(zip(ids.tolist(), indices.tolist(), strict=True))
        self._loop.call_soon_threadsafe(self._spawn, pairs, now)

    def flush(self) -> None:
        pass

    def _spawn(self, pairs: list[tuple[int, int]], issued_ns: int) -> None:
        for sid, idx in pairs:
            e = min(range(len(self.endpoints)), key=self._outstanding.__getitem__)
            self._outstanding[e] += 1
            ex = Exchange(e, issued_ns, idx)
            self.exchanges.append(ex)
            self._loop.create_task(self._request(sid, idx, ex))

    async def _request(self, sid: int, idx: int, ex: Exchange) -> None:
        sink = self._sink
        assert sink is not None
        reply = Reply()
        url = self.endpoints[ex.endpoint] + self.spec.path
        ex.sent_ns = _clock()
        try:
            await self._exchange(url, self.prompts[idx % len(self.prompts)], reply, sid, sink)
        except Exception as exc:  # noqa: BLE001 -- a failed request is a failed sample, named
            reply.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self._outstanding[ex.endpoint] -= 1
        ex.done_ns = _clock()
        if reply.usage_tokens is None and self._count_tokens is not None and reply.error is None:
            reply.local_tokens = self._count_tokens(reply.text)
        ex.tokens, ex.token_source = reply.tokens, reply.token_source
        ex.first_ns = reply.chunk_ns[0] if reply.chunk_ns else 0
        ex.chunk_gaps_ns = np.diff(reply.chunk_ns).tolist() if len(reply.chunk_ns) > 1 else []
        if reply.error is None and not reply.chunk_ns:
            reply.error = "the reply had no content (zero tokens)"
        if reply.error is not None:
            ex.error = reply.error
            sink.report_failure(f"request to {self.endpoints[ex.endpoint]} failed: {reply.error}")
            sink.complete(sid, [b""], [0])
            return
        sink.complete(sid, [reply.text.encode("utf-8")], [max(reply.tokens, 1)])

    async def _exchange(self, url: str, prompt: str, reply: Reply, sid: int, sink: CompletionSink) -> None:
        async with self._session.post(url, json=self.spec.body(prompt)) as resp:
            if resp.status != 200:
                reply.error = f"HTTP {resp.status}: {(await resp.text())[:200]}"
                return
            if not self.spec.stream:
                read_whole(reply, await resp.json())
                sink.first_token(sid)
                return
            async for raw in resp.content:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                had = len(reply.chunk_ns)
                going = read_event(reply, line[5:].strip())
                if had == 0 and reply.chunk_ns:
                    sink.first_token(sid)
                if not going:
                    break

    def close(self) -> None:
        async def shut() -> None:
            me = asyncio.current_task()
            for t in asyncio.all_tasks():  # requests still waiting on a server that stopped answering
                if t is not me:
                    t.cancel()
            if self._session is not None:
                await self._session.close()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
