"""The request and reply formats: OpenAI's ``/v1/completions`` and ``/v1/chat/completions``, llama.cpp's native
``/completion``, and Triton's generate extension of KServe v2 (``/v2/models/{name}/generate`` and
``generate_stream``); reading a streamed (SSE) or whole reply into one :class:`Reply` with the time of every
content chunk and, when asked for, the output token IDs.

Output tokens come from the server's ``usage`` when it reports it (``stream_options.include_usage``; llama.cpp's
``tokens_predicted``), else from the token IDs it sent, else from a local tokenizer when one is given, else from
the number of content chunks; :attr:`Reply.token_source` says which. Token IDs come from vLLM's
``return_token_ids`` (``choices[].token_ids``) and llama.cpp's ``return_tokens`` (``tokens``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:  # the serving extra's JSON parser: a streamed reply is one JSON document per token, and orjson reads one in
    from orjson import loads as _orjson_loads  # 0.8 µs here against the standard library's 4 µs

    loads: Callable[[bytes], Any] = _orjson_loads
except ImportError:
    loads = json.loads


def auth_headers(api_key_env: str | None) -> dict[str, str]:
    """The bearer-token header from the environment variable named (none when unset); the key is never logged."""
    key = os.environ.get(api_key_env) if api_key_env else None
    return {"Authorization": f"Bearer {key}"} if key else {}


def is_grpc(url: str) -> bool:
    """An endpoint of the KServe v2 / Triton gRPC protocol (``grpc://``, or ``grpcs://`` with TLS)."""
    return url.startswith(("grpc://", "grpcs://"))


@dataclass(frozen=True)
class RequestSpec:
    model: str
    api: str = "completions"
    """"completions", "chat" (OpenAI), "llamacpp" (llama.cpp's ``/completion``) or "generate" (Triton's KServe v2
    generate extension)."""
    max_tokens: int = 128
    temperature: float = 0.0
    stream: bool = True
    ignore_eos: bool = False
    """Ask for exactly ``max_tokens`` (``ignore_eos`` and ``min_tokens``, which vLLM and llama.cpp honour)."""
    stop: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    """Extra body fields, merged last (``--extra-body``)."""
    token_ids: bool = False
    """Ask for the output token IDs (not with ``generate``, which has no such field)."""

    @property
    def path(self) -> str:
        if self.api == "generate":
            return f"/v2/models/{self.model}/generate" + ("_stream" if self.stream else "")
        if self.api == "llamacpp":
            return "/completion"
        return "/v1/chat/completions" if self.api == "chat" else "/v1/completions"

    def body(self, prompt: str) -> dict[str, Any]:
        if self.api == "llamacpp":
            b: dict[str, Any] = {"prompt": prompt, "n_predict": self.max_tokens, "temperature": self.temperature,
                                 "stream": self.stream, "return_tokens": self.token_ids}
            if self.ignore_eos:
                b["ignore_eos"] = True
            if self.stop:
                b["stop"] = list(self.stop)
            return {**b, **self.extra}
        if self.api == "generate":  # sampling settings as request parameters (Triton's vLLM backend reads them)
            params: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                                      "stream": self.stream}
            if self.ignore_eos:
                params.update(ignore_eos=True, min_tokens=self.max_tokens)
            if self.stop:  # Triton's request parameters are scalars: one stop string (several are refused)
                params["stop"] = self.stop[0]
            return {"text_input": prompt, "parameters": params, **self.extra}
        b = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature,
             "stream": self.stream}
        if self.api == "chat":
            b["messages"] = [{"role": "user", "content": prompt}]
        else:
            b["prompt"] = prompt
        if self.stream:
            b["stream_options"] = {"include_usage": True}
        if self.ignore_eos:
            b.update(ignore_eos=True, min_tokens=self.max_tokens)
        if self.stop:
            b["stop"] = list(self.stop)
        if self.token_ids:
            b["return_token_ids"] = True
        b.update(self.extra)
        return b


@dataclass
class Reply:
    text: str = ""
    chunk_ns: list[int] = field(default_factory=list)
    """When each chunk with content arrived (``perf_counter_ns``)."""
    usage_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    token_ids: list[int] | None = None
    """The output token IDs the server sent (None when it sent none)."""

    @property
    def tokens(self) -> int:
        if self.usage_tokens is not None:
            return self.usage_tokens
        return len(self.token_ids) if self.token_ids is not None else len(self.chunk_ns)

    @property
    def token_source(self) -> str:
        """Where :attr:`tokens` came from (the SUT recounts with a local tokenizer when one is given)."""
        if self.usage_tokens is not None:
            return "server usage"
        return "server token ids" if self.token_ids is not None else "counted chunks"


def chunk_text(obj: dict[str, Any]) -> str:
    """The content of one completion or chat chunk (a role-only chunk has none)."""
    text = str(obj.get("text_output") or obj.get("content") or "")  # Triton's generate extension; llama.cpp's
    for c in obj.get("choices") or ():
        text += c.get("text") or ""
        delta = c.get("delta") or c.get("message")
        if delta:
            text += delta.get("content") or ""
    return text


def _object(data: bytes) -> dict[str, Any] | str:
    """``data`` as a JSON object, else what is wrong with it (to follow "malformed …")."""
    try:
        obj = loads(data)
    except ValueError:  # orjson's JSONDecodeError is a ValueError too
        return ""
    return obj if isinstance(obj, dict) else " (not a JSON object)"


def _usage_tokens(obj: dict[str, Any], reply: Reply) -> None:
    usage = obj.get("usage")
    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
        reply.usage_tokens = int(usage["completion_tokens"])
    elif obj.get("stop") is True and isinstance(obj.get("tokens_predicted"), int):  # llama.cpp's last event
        reply.usage_tokens = obj["tokens_predicted"]


def _token_ids(obj: dict[str, Any], reply: Reply) -> bool:
    """Add the output token IDs a chunk (or a whole reply) carries to ``reply.token_ids``; False (and
    ``reply.error``) when they are not a list of integers."""
    found = [c.get("token_ids") for c in obj.get("choices") or () if isinstance(c, dict)] + [obj.get("tokens")]
    for ids in found:
        if ids is None:
            continue
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            reply.error = f"malformed token IDs in the reply (expected a list of integers): {str(ids)[:80]}"
            return False
        if reply.token_ids is None:
            reply.token_ids = ids  # a list the parser made for this chunk: extended in place from here
        else:
            reply.token_ids.extend(ids)
    return True


def read_event(reply: Reply, data: bytes, at_ns: int) -> bool:
    """Fold one SSE ``data:`` payload, which arrived at ``at_ns``, into ``reply``; False at ``[DONE]``."""
    if data == b"[DONE]":
        return False
    obj = _object(data)
    if isinstance(obj, str):
        reply.error = f"malformed SSE data{obj}: {data[:80].decode('utf-8', 'replace')!r}"
        return False
    if "error" in obj:
        reply.error = f"server error in the stream: {str(obj['error'])[:200]}"
        return False
    text = chunk_text(obj)
    if b'"token' in data and not _token_ids(obj, reply):  # the bytes test spares the common chunk the lookups
        return False
    if text:
        reply.text += text
        reply.chunk_ns.append(at_ns)
    for c in obj.get("choices") or ():
        reply.finish_reason = c.get("finish_reason") or reply.finish_reason
    _usage_tokens(obj, reply)
    return obj.get("stop") is not True  # llama.cpp ends its stream with a "stop" event, not [DONE]


def read_whole(reply: Reply, data: bytes, at_ns: int) -> None:
    """A non-streamed reply, whose end arrived at ``at_ns``: all of it counts as one chunk (or ``reply.error``
    says why it cannot be read)."""
    obj = _object(data)
    if isinstance(obj, str):
        reply.error = f"malformed JSON reply{obj}: {data[:80].decode('utf-8', 'replace')!r}"
        return
    reply.text = chunk_text(obj)
    reply.chunk_ns.append(at_ns)
    if _token_ids(obj, reply):
        _usage_tokens(obj, reply)
