"""The request and reply formats: OpenAI's ``/v1/completions`` and ``/v1/chat/completions``, and Triton's
generate extension of KServe v2 (``/v2/models/{name}/generate`` and ``generate_stream``); reading a streamed
(SSE) or whole reply into one :class:`Reply` with the time of every content chunk.

Output tokens come from the server's ``usage`` when it reports it (``stream_options.include_usage``), else
from a local tokenizer when one is given, else from the number of content chunks; :attr:`Reply.token_source`
says which.
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


@dataclass(frozen=True)
class RequestSpec:
    model: str
    api: str = "completions"
    """"completions", "chat" (OpenAI) or "generate" (Triton's KServe v2 generate extension)."""
    max_tokens: int = 128
    temperature: float = 0.0
    stream: bool = True
    ignore_eos: bool = False
    """Ask for exactly ``max_tokens`` (``ignore_eos`` and ``min_tokens``, which vLLM and llama.cpp honour)."""
    stop: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    """Extra body fields, merged last (``--extra-body``)."""

    @property
    def path(self) -> str:
        if self.api == "generate":
            return f"/v2/models/{self.model}/generate" + ("_stream" if self.stream else "")
        return "/v1/chat/completions" if self.api == "chat" else "/v1/completions"

    def body(self, prompt: str) -> dict[str, Any]:
        if self.api == "generate":  # sampling settings as request parameters (Triton's vLLM backend reads them)
            params: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                                      "stream": self.stream}
            if self.ignore_eos:
                params.update(ignore_eos=True, min_tokens=self.max_tokens)
            if self.stop:
                params["stop"] = list(self.stop)
            return {"text_input": prompt, "parameters": params, **self.extra}
        b: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature,
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

    @property
    def tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else len(self.chunk_ns)

    @property
    def token_source(self) -> str:
        """Where :attr:`tokens` came from (the SUT recounts with a local tokenizer when one is given)."""
        return "server usage" if self.usage_tokens is not None else "counted chunks"


def chunk_text(obj: dict[str, Any]) -> str:
    """The content of one completion or chat chunk (a role-only chunk has none)."""
    text = str(obj.get("text_output") or "")  # Triton's generate extension
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
    if text:
        reply.text += text
        reply.chunk_ns.append(at_ns)
    for c in obj.get("choices") or ():
        reply.finish_reason = c.get("finish_reason") or reply.finish_reason
    _usage_tokens(obj, reply)
    return True


def read_whole(reply: Reply, data: bytes, at_ns: int) -> None:
    """A non-streamed reply, whose end arrived at ``at_ns``: all of it counts as one chunk (or ``reply.error``
    says why it cannot be read)."""
    obj = _object(data)
    if isinstance(obj, str):
        reply.error = f"malformed JSON reply{obj}: {data[:80].decode('utf-8', 'replace')!r}"
        return
    reply.text = chunk_text(obj)
    reply.chunk_ns.append(at_ns)
    _usage_tokens(obj, reply)
