"""An OpenAI-compatible mock server with a set time to first token, inter-token delay and token count, for
self-benchmarks and tests (``mlmeter serve mock``); loopback by default.

It serves ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions`` and Triton's KServe v2 generate extension
(``/v2/health/ready``, ``/v2/models/{name}/ready``, ``generate``, ``generate_stream``), streamed (SSE, with ``usage`` in the
last chunk when ``stream_options.include_usage`` is asked) or whole. Faults for tests: ``fail_every`` answers
every n-th request with HTTP 500; ``stall_after`` stops a stream after that many tokens without ending it;
``api_key`` makes it refuse requests without that bearer token; ``eos_tail`` ends every reply with that many EOS
tokens (the exploit TEST06 catches); ``token_ids=False`` ignores ``return_token_ids`` (a server without it).
``echo`` answers copy tasks correctly (accuracy tests). Asked for ``return_token_ids`` (as vLLM is), every chunk
carries its token's ID.
``/mock/stats`` tells the delays it actually kept, from each request's arrival at the mock's socket to its first
token's write (a client's measurement error is measured against them).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
import time
import zlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from mlmeter.serving.http import new_event_loop


class _Arrivals(asyncio.Protocol):
    """A connection as the event loop sees it: notes when the latest bytes (a request) arrived, then hands them to
    aiohttp's protocol. A server's time to first token starts there; aiohttp's parsing and dispatch before the
    handler runs took 0.4–0.5 ms here, which the server's figure must include."""

    def __init__(self, inner: Any, arrivals: dict[int, float]) -> None:
        self.inner, self.arrivals = inner, arrivals

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.arrivals[id(self.inner)] = time.perf_counter()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self.arrivals.pop(id(self.inner), None)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


@dataclass(frozen=True)
class MockSettings:
    model: str = "mock-llm"
    ttft_s: float = 0.0
    itl_s: float = 0.0
    tokens: int = 16
    fail_every: int = 0
    stall_after: int = 0
    api_key: str | None = None
    """When set, requests without ``Authorization: Bearer <api_key>`` get HTTP 401."""
    serial: bool = False
    """Serve one request at a time (a server with one slot: latency grows with the load)."""
    echo: bool = False
    """Answer the embedded copy tasks: reply with the words of the prompt's last ``Sentence:`` line (else ``t0 t1…``)."""
    token_ids: bool = True
    """Honour ``return_token_ids``."""
    eos_tail: int = 0
    """End each reply with this many EOS tokens (ID ``EOS_ID``, no text), counted in ``usage``."""


EOS_ID = 2


def token_id(piece: str) -> int:
    """The mock's token ID of one piece of text (stable across runs and processes; never ``EOS_ID``)."""
    return 10 + zlib.crc32(piece.encode()) % 50_000


@functools.lru_cache(maxsize=8192)
def _token_event(piece: str, last: bool, chat: bool, generate: bool, tid: int | None, model: str) -> str:
    """One token's event as JSON: Triton's whole event, else the OpenAI chunk's ``choices`` entry (the mock's
    hottest path: a reply's events are the same but for the request's head, so each is encoded once)."""
    if generate:
        return json.dumps({"model_name": model, "text_output": piece})
    return json.dumps({"index": 0, "finish_reason": "length" if last else None,
                       **({"delta": {"content": piece}} if chat else {"text": piece}),
                       **({"token_ids": [tid]} if tid is not None else {})})


class MockServer:
    """``with MockServer(MockSettings(ttft_s=0.02)) as m: m.url`` — a server on its own thread and loop."""

    def __init__(self, settings: MockSettings | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings or MockSettings()
        self.host, self.port = host, port
        self.requests = 0
        self.sent_ttft_s: list[float] = []
        """Per streamed reply, when its first token went out after the request arrived (what the mock did)."""
        self._arrivals: dict[int, float] = {}
        self._server: asyncio.AbstractServer | None = None
        self.sent_tpot_s: list[float] = []
        self._loop, _ = new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mlmeter-mock-server", daemon=True)
        self._runner: Any = None
        self._error: BaseException | None = None
        self._slot: asyncio.Lock | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> MockServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _stop(self) -> None:
        """Cancel the replies still going (a stalled stream), then close the server."""
        me = asyncio.current_task()
        for t in asyncio.all_tasks():
            if t is not me:
                t.cancel()
        if self._server is not None:
            self._server.close()
        await self._runner.cleanup()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # noqa: BLE001 -- raised in the caller's thread by __enter__
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        from aiohttp import web

        self._slot = asyncio.Lock()
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/completions", self._complete)
        app.router.add_post("/v1/chat/completions", self._complete)
        app.router.add_get("/health", self._readiness)  # what vLLM and llama-server answer (GuideLLM asks it)
        app.router.add_get("/v2/health/ready", self._readiness)
        app.router.add_get("/v2", self._server_metadata)
        app.router.add_get("/mock/stats", self._stats)
        app.router.add_get("/v2/models/{name}/ready", self._readiness)
        app.router.add_post("/v2/models/{name}/generate", self._complete)
        app.router.add_post("/v2/models/{name}/generate_stream", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        http = self._runner.server
        assert http is not None
        self._server = await asyncio.get_running_loop().create_server(  # a backlog for an Offline burst of
            lambda: _Arrivals(http(), self._arrivals), self.host, self.port, backlog=4096)  # connections (100)
        self.port = self._server.sockets[0].getsockname()[1]

    def _refused(self, request: Any) -> Any:
        from aiohttp import web

        key = self.settings.api_key
        if key is not None and request.headers.get("Authorization") != f"Bearer {key}":
            return web.json_response({"error": {"message": "invalid API key"}}, status=401)
        return None

    async def _stats(self, request: Any) -> Any:
        """The delays the mock actually kept (medians, ms): a client's measurement error is against these."""
        from aiohttp import web

        def median_ms(v: list[float]) -> float | None:
            return sorted(v)[len(v) // 2] * 1000 if v else None

        return web.json_response({"requests": self.requests, "ttft_ms_p50": median_ms(self.sent_ttft_s),
                                  "tpot_ms_p50": median_ms(self.sent_tpot_s)})

    async def _models(self, request: Any) -> Any:
        from aiohttp import web

        refused = self._refused(request)
        if refused is not None:
            return refused
        return web.json_response({"object": "list", "data": [{"id": self.settings.model, "object": "model"}]})

    async def _server_metadata(self, request: Any) -> Any:
        """KServe v2 server metadata: what the mock is."""
        from aiohttp import web

        from mlmeter import __version__

        return web.json_response({"name": "mlmeter-mock", "version": __version__, "extensions": ["generate"]})

    async def _readiness(self, request: Any) -> Any:
        """KServe v2 readiness of the server, or of the model named in the path."""
        from aiohttp import web

        refused = self._refused(request)
        if refused is not None:
            return refused
        name = request.match_info.get("name", self.settings.model)
        if name != self.settings.model:
            return web.json_response({"error": f"model {name!r} is not found"}, status=404)
        return web.json_response({"ready": True})

    async def _complete(self, request: Any) -> Any:
        from aiohttp import web

        # the delays count from here; what was kept, from the request's arrival at the socket
        arrived = (asyncio.get_running_loop().time(), self._arrivals.get(id(request.protocol), time.perf_counter()))
        s = self.settings
        self.requests += 1
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ConnectionResetError:  # the client left while sending: the answer goes nowhere
            return web.Response(status=400)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": {"message": "the request body is not a JSON object"}}, status=400)
        if "/v2/models/" in request.path:  # Triton's generate extension: the model is in the path
            params = body.get("parameters") or {}
            lists = [k for k, v in params.items() if isinstance(v, list | dict)]
            if lists:  # as Triton answers: its request parameters are scalars
                return web.json_response({"error": f"parameter {lists[0]!r} has invalid type: it should be either "
                                                   "'int', 'bool', or 'string'"}, status=400)
            body = {"model": request.match_info["name"], "prompt": body.get("text_input", ""), "generate": True,
                    "max_tokens": params.get("max_tokens"), "stream": request.path.endswith("_stream")}
        if body.get("model") != s.model:
            return web.json_response({"error": {"message": f"model {body.get('model')!r} not found"}}, status=404)
        if s.fail_every and self.requests % s.fail_every == 0:
            return web.json_response({"error": {"message": "mock failure"}}, status=500)
        if s.serial:
            assert self._slot is not None
            async with self._slot:  # the one slot: its delays start when it takes the request
                return await self._reply(request, body, (asyncio.get_running_loop().time(), time.perf_counter()))
        return await self._reply(request, body, arrived)

    def _pieces(self, body: dict[str, Any]) -> list[str]:
        """The reply's tokens: ``t0 t1…`` (``tokens`` of them, at most ``max_tokens``), or the copied sentence;
        then ``eos_tail`` empty EOS pieces."""
        limit = min(int(body.get("max_tokens") or self.settings.tokens), self.settings.tokens)
        if self.settings.echo:
            text = body.get("prompt") or "".join(str(m.get("content", "")) for m in body.get("messages") or [])
            lines = [ln for ln in str(text).splitlines() if ln.startswith("Sentence:")]
            words = lines[-1].removeprefix("Sentence:").split() if lines else ["(nothing", "to", "copy)"]
            pieces = [f" {w}" for w in words][:limit]
        else:
            pieces = [f" t{i}" for i in range(limit)]
        return pieces + [""] * self.settings.eos_tail

    async def _reply(self, request: Any, body: dict[str, Any], arrived: tuple[float, float]) -> Any:
        from aiohttp import web

        s = self.settings
        chat = request.path.endswith("/chat/completions")
        pieces = self._pieces(body)
        n = len(pieces)
        generate = bool(body.get("generate"))
        ids = ([EOS_ID if p == "" else token_id(p) for p in pieces]
               if body.get("return_token_ids") and s.token_ids and not generate else None)
        if not body.get("stream"):
            await asyncio.sleep(max(0.0, arrived[0] + s.ttft_s + s.itl_s * max(n - 1, 0)
                                    - asyncio.get_running_loop().time()))
            text = "".join(pieces)
            if generate:
                return web.json_response({"model_name": s.model, "text_output": text})
            choice = {"index": 0, "finish_reason": "length",
                      **({"message": {"role": "assistant", "content": text}} if chat else {"text": text}),
                      **({"token_ids": ids} if ids is not None else {})}
            return web.json_response({"object": "text_completion", "model": s.model, "choices": [choice],
                                      "usage": {"prompt_tokens": 1, "completion_tokens": n}})
        head = {"id": f"cmpl-{self.requests}", "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": s.model}  # what OpenAI's own chunks carry
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        with contextlib.suppress(ConnectionResetError):  # the client went away: nobody to answer
            await resp.prepare(request)
            await self._stream(resp, pieces, ids, chat, generate, head, usage, arrived)
        return resp

    async def _stream(self, resp: Any, pieces: list[str], ids: list[int] | None, chat: bool, generate: bool,
                      head: dict[str, Any], usage: bool, arrived: tuple[float, float]) -> None:
        """One event per token at the set times from the request's arrival (``ttft_s``, then ``itl_s`` apart, so
        timer lateness never accumulates); with no delay, what is ready at once goes out in one write. ``arrived``:
        the loop's clock (for timers) and a fine one (for what was kept) when the request came in; ``ids``: each
        token's ID, when asked for."""
        s, n = self.settings, len(pieces)
        loop = asyncio.get_running_loop()
        t0, c0 = arrived
        sent: list[float] = []
        ready: list[bytes] = []
        opening = "data: " if generate else f"data: {json.dumps(head)[:-1]}, \"choices\": ["
        closing = "\n\n" if generate else "]}\n\n"
        for i, piece in enumerate(pieces):
            due = t0 + s.ttft_s + i * s.itl_s
            if due > loop.time():
                await resp.write(b"".join(ready))
                ready.clear()
                await asyncio.sleep(due - loop.time())
            if s.stall_after and i >= s.stall_after:
                await resp.write(b"".join(ready))
                await asyncio.sleep(3600)
            event = _token_event(piece, i == n - 1, chat, generate, None if ids is None else ids[i], s.model)
            ready.append(f"{opening}{event}{closing}".encode())
            sent.append(time.perf_counter())
        if not generate:  # the generate stream ends with the connection, without usage or [DONE]
            if usage:
                tail = {**head, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": n,
                                                         "total_tokens": n + 1}}
                ready.append(f"data: {json.dumps(tail)}\n\n".encode())
            ready.append(b"data: [DONE]\n\n")
        await resp.write(b"".join(ready))
        await resp.write_eof()
        if sent:
            self.sent_ttft_s.append(sent[0] - c0)
            if n > 1:
                self.sent_tpot_s.append((sent[-1] - sent[0]) / (n - 1))
