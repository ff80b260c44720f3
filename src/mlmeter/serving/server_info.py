"""What an endpoint tells about itself: the server software and its version, and the served model, from the
routes the common servers answer — vLLM's ``/version``, llama.cpp's ``/props``, SGLang's ``/get_server_info``,
Text Generation Inference's ``/info``, KServe v2's server metadata (``/v2``: Triton, MLServer) — and the
``Server`` header, the ``/v1/models`` entry's ``owned_by`` and ``max_model_len``. Each probe is best effort (a
short timeout, a route the server lacks is skipped): nothing here can fail a run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

PROBE_TIMEOUT_S = 3.0


def fetch(url: str, headers: dict[str, str], timeout_s: float = PROBE_TIMEOUT_S) -> tuple[Any, dict[str, str]]:
    """The JSON at ``url`` (None when empty) and the reply's headers; raises ``OSError``/``ValueError``."""
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 -- the user's endpoint
        return json.loads(resp.read() or b"null"), {k.lower(): v for k, v in resp.headers.items()}


def _probe(url: str, headers: dict[str, str]) -> dict[str, Any] | None:
    try:
        doc, _ = fetch(url, headers)
    except (OSError, ValueError):  # the route is not there, or not JSON: another server
        return None
    return doc if isinstance(doc, dict) else None


def _llamacpp(doc: dict[str, Any]) -> dict[str, Any] | None:
    if "build_info" not in doc and "default_generation_settings" not in doc:
        return None
    settings = doc.get("default_generation_settings") or {}
    return {"software": "llama.cpp", "version": doc.get("build_info"),
            "details": {"model_path": doc.get("model_path"), "n_ctx": settings.get("n_ctx"),
                        "total_slots": doc.get("total_slots")}}


def _named(software: str, *keys: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    def read(doc: dict[str, Any]) -> dict[str, Any] | None:
        if "version" not in doc:
            return None
        return {"software": software, "version": doc.get("version"),
                "details": {k: doc[k] for k in keys if k in doc}}
    return read


def _kserve(doc: dict[str, Any]) -> dict[str, Any] | None:
    if "name" not in doc or "version" not in doc:
        return None
    return {"software": str(doc["name"]), "version": doc.get("version"),
            "details": {"extensions": doc.get("extensions")}}


PROBES: tuple[tuple[str, Callable[[dict[str, Any]], dict[str, Any] | None]], ...] = (
    ("/props", _llamacpp),
    ("/get_server_info", _named("SGLang", "model_path", "tp_size", "context_length")),
    ("/info", _named("text-generation-inference", "model_id", "model_dtype", "max_total_tokens")),
    ("/v2", _kserve),
    ("/version", _named("vLLM")),
)
"""Route and reader, most specific first: a server is named by the first that reads as its own (vLLM answers only
``/version``; SGLang and llama.cpp answer it too)."""


def describe(url: str, headers: dict[str, str], model_entry: dict[str, Any] | None,
             server_header: str | None) -> dict[str, Any]:
    """The endpoint's server and model as far as it tells (``software`` None when nothing says)."""
    entry = model_entry or {}
    out: dict[str, Any] = {"endpoint": url, "software": None, "version": None, "server_header": server_header,
                           "model": {k: entry[k] for k in ("id", "owned_by", "max_model_len", "root", "meta") if k in entry}}
    for route, read in PROBES:
        doc = _probe(url.rstrip("/") + route, headers)
        found = read(doc) if doc is not None else None
        if found is not None:
            out.update(found)
            break
    if out["software"] is None and entry.get("owned_by") not in (None, "", "openai", "system"):
        out["software"] = str(entry["owned_by"])  # vLLM and llama.cpp name themselves here too
    if out["software"] is None and server_header:
        out["software"] = server_header
    return out


def label(info: dict[str, Any]) -> str:
    """``llama.cpp b6123`` / ``vLLM 0.32.0`` / ``unknown server``."""
    sw, version = info.get("software"), info.get("version")
    return f"{sw} {version}" if sw and version else (str(sw) if sw else "unknown server")
