"""An LLM on Triton over gRPC (``mlmeter serve --api generate --endpoint grpc://HOST:8001``), through the asyncio
client of NVIDIA's ``tritonclient`` (the ``kserve-grpc`` extra): each request is one ``ModelStreamInfer`` stream
carrying the prompt as the ``text_input`` BYTES tensor and the sampling settings as request parameters (what
Triton's generate extension sends over HTTP). Every response's ``text_output`` is a chunk, and the stream's end,
or Triton's final-response flag, ends the reply. It reports to the same callbacks as the HTTP client, on the loop
the LoadGen runs; a failed stream is a failed sample, never retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from mlmeter.backends.base import BackendError
from mlmeter.serving import ServingError
from mlmeter.serving.endpoint import Exchange, least_outstanding, settle
from mlmeter.serving.openai import Reply, RequestSpec

try:
    import tritonclient.grpc as grpcclient
    from tritonclient.grpc import aio
    from tritonclient.utils import InferenceServerException

    from mlmeter.backends.kserve_grpc import GrpcModel, grpc_target
except ImportError as exc:  # pragma: no cover -- the message names the extra
    raise ServingError("--api generate over grpc:// needs tritonclient's gRPC client: "
                       "pip install 'mlmeter[kserve-grpc]'") from exc

_clock = time.perf_counter_ns


def describe_grpc(url: str, model: str, api_key_env: str | None, timeout_s: float = 10.0) -> dict[str, Any]:
    """The server and ``model`` ready (else a ``ServingError`` saying why, as the KServe backend's gRPC model
    does), and what the server tells about itself (the shape of :func:`mlmeter.serving.server_info.describe`)."""
    try:
        m = GrpcModel(url, model, "", timeout_s, api_key_env)
        try:
            m.metadata()
            meta = m.server()
        finally:
            m.close()
    except BackendError as exc:
        key = f" and ${api_key_env}" if api_key_env else ""
        raise ServingError(f"{exc}; check --endpoint, --model{key}") from exc
    return {"endpoint": url, "software": meta.get("name"), "version": meta.get("version"), "server_header": None,
            "model": {"id": model}, "details": {"extensions": meta.get("extensions"), "protocol": "gRPC"}}


class GrpcClient:
    """The gRPC side of :class:`~mlmeter.serving.endpoint.EndpointSUT` (on ``loop``): one channel per endpoint,
    one stream per request, the least outstanding endpoint chosen for each."""

    def __init__(self, loop: asyncio.AbstractEventLoop, endpoints: Sequence[str], spec: RequestSpec,
                 prompts: Sequence[str], timeout_s: float, headers: dict[str, str],
                 on_first: Callable[[int, int, list[int] | None], None],
                 on_done: Callable[[int, Exchange], None]) -> None:
        self.loop, self.spec, self.timeout_s, self.headers = loop, spec, timeout_s, headers
        self.endpoints = list(endpoints)
        self.targets = [grpc_target(u) for u in self.endpoints]  # checked by describe_grpc before
        self.clients: list[Any] = []
        self.inputs = []
        for p in prompts:  # each prompt's tensor built once
            t = grpcclient.InferInput("text_input", [1], "BYTES")
            t.set_data_from_numpy(np.array([p.encode()], dtype=object))
            self.inputs.append(t)
        body = spec.body("")  # the generate extension's body: over gRPC its extra fields are parameters too
        self.parameters = {**body["parameters"], **{k: v for k, v in body.items() if k not in ("text_input",
                                                                                               "parameters")}}
        self.on_first, self.on_done = on_first, on_done
        self.outstanding = [0] * len(self.endpoints)
        self.inflight: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self.clients = [aio.InferenceServerClient(t, ssl=ssl) for t, ssl in self.targets]

    async def close(self) -> None:
        for task in list(self.inflight):  # requests still waiting on a server that stopped answering end here
            task.cancel()
        await asyncio.gather(*self.inflight, return_exceptions=True)
        for c in self.clients:
            await c.close()

    def spawn(self, pairs: list[tuple[int, int]], scheduled_ns: int, issued_ns: int) -> None:
        for sid, idx in pairs:
            ex = least_outstanding(self.outstanding, scheduled_ns, issued_ns, idx)
            ex.sent_ns = _clock()
            task = self.loop.create_task(self._request(sid, ex))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)

    async def _request(self, sid: int, ex: Exchange) -> None:
        reply = Reply()
        left_s = self.timeout_s - (_clock() - ex.scheduled_ns) / 1e9  # the deadline counts from the schedule
        try:
            await asyncio.wait_for(self._stream(sid, ex, reply), max(left_s, 1e-3))
        except asyncio.TimeoutError:
            reply.error = f"no complete reply within the {self.timeout_s:g} s request timeout"
        except asyncio.CancelledError:
            reply.error = "the run ended before the reply did"
        except InferenceServerException as exc:
            reply.error = f"Triton: {exc.message()}"
        except Exception as exc:  # noqa: BLE001 -- the channel's own failures (grpc.aio.AioRpcError…)
            reply.error = f"{type(exc).__name__}: {exc}"
        self.outstanding[ex.endpoint] -= 1
        settle(ex, reply, _clock(), False)
        self.on_done(sid, ex)

    async def _stream(self, sid: int, ex: Exchange, reply: Reply) -> None:
        request = {"model_name": self.spec.model, "inputs": [self.inputs[ex.sample % len(self.inputs)]],
                   "request_id": str(sid), "parameters": self.parameters, "enable_empty_final_response": True}

        async def one() -> AsyncIterator[dict[str, Any]]:
            yield request

        async for result, error in self.clients[ex.endpoint].stream_infer(one(), headers=self.headers):
            at = _clock()
            if error is not None:
                reply.error = f"Triton: {error.message()}"
                return
            out = result.as_numpy("text_output")
            text = "".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                           for v in (out.reshape(-1) if out is not None else ()))
            if text:
                reply.text += text
                reply.chunk_ns.append(at)
                if len(reply.chunk_ns) == 1:
                    self.on_first(sid, at, None)
            final = result.get_response().parameters.get("triton_final_response")
            if final is not None and final.bool_param:
                return
