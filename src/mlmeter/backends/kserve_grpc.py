"""The KServe v2 gRPC inference protocol (``--backend kserve --backend-option url=grpc://host:8001``), through
NVIDIA's ``tritonclient`` (the ``kserve-grpc`` extra), which speaks it to Triton, MLServer, KServe and any other
v2 server: readiness, model metadata and ``ModelInfer`` with raw tensor contents over one channel, which its
calls share across threads. The bearer token from the API-key variable goes in each call's metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlmeter.backends.base import BackendError, MissingExtra
from mlmeter.serving.openai import auth_headers

try:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException
except ImportError as exc:  # pragma: no cover -- the message names the extra
    raise MissingExtra("kserve (gRPC)", "kserve-grpc", "tritonclient.grpc") from exc


def grpc_target(url: str) -> tuple[str, bool]:
    """``grpc://HOST:PORT`` -> (``HOST:PORT``, TLS or not); a ``BackendError`` for anything else."""
    scheme, _, target = url.partition("://")
    if scheme not in ("grpc", "grpcs") or not target or "/" in target.rstrip("/"):
        raise BackendError(f"url={url!r}: expected grpc://HOST:PORT (or grpcs:// for TLS)")
    return target.rstrip("/"), scheme == "grpcs"


class GrpcModel:
    """One model on a KServe v2 gRPC server (``grpc://`` or ``grpcs://`` for TLS)."""

    protocol = "KServe v2 gRPC"

    def __init__(self, url: str, model: str, version: str, timeout_s: float, api_key_env: str | None) -> None:
        target, ssl = grpc_target(url)
        self.url, self.model, self.version, self.timeout_s = url, model, version, timeout_s
        self._headers = auth_headers(api_key_env)
        try:
            self._client = grpcclient.InferenceServerClient(target, ssl=ssl)
        except InferenceServerException as exc:
            raise BackendError(f"{url}: {exc.message()}") from exc

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, headers=self._headers, **kwargs)
        except InferenceServerException as exc:
            status = str(exc.status() or "")
            if "UNAUTHENTICATED" in status or "PERMISSION_DENIED" in status:
                raise BackendError(f"{what}: {status}: the API key is missing or wrong (api_key_env)") from exc
            if "UNAVAILABLE" in status:
                raise BackendError(f"{self.url}: {exc.message()}; is a KServe v2 gRPC server listening there?") from exc
            raise BackendError(f"{what}: {exc.message()}") from exc

    def metadata(self) -> dict[str, Any]:
        """The model's metadata (as the HTTP protocol's JSON), once the server and the model are ready."""
        if not self._call("the server is not ready", self._client.is_server_ready, client_timeout=self.timeout_s):
            raise BackendError(f"the server at {self.url} is not ready (ServerReady)")
        ready = self._call(f"model {self.model!r}", self._client.is_model_ready, self.model, self.version,
                           client_timeout=self.timeout_s)
        if not ready:
            raise BackendError(f"model {self.model!r} is not ready on {self.url} (ModelReady); the server has: "
                               f"{self._served()}")
        meta: dict[str, Any] = self._call(f"cannot read model {self.model!r}'s metadata", self._client.get_model_metadata,
                                          self.model, self.version, as_json=True, client_timeout=self.timeout_s)
        return meta

    def server(self) -> dict[str, Any]:
        """The server's metadata (name, version, extensions)."""
        meta: dict[str, Any] = self._call("cannot read the server's metadata", self._client.get_server_metadata,
                                          as_json=True, client_timeout=self.timeout_s)
        return meta

    def _served(self) -> str:
        """The models the server lists (Triton may restrict its repository protocol)."""
        try:
            index = self._client.get_model_repository_index(headers=self._headers, as_json=True,
                                                            client_timeout=self.timeout_s)
        except InferenceServerException:
            return "(the server does not list its repository)"
        return ", ".join(str(m.get("name")) for m in index.get("models", [])) or "none"

    def infer(self, feeds: Sequence[tuple[str, np.ndarray, str]], outputs: Sequence[str]) -> dict[str, np.ndarray]:
        """One ``ModelInfer``: (name, array, v2 datatype) inputs -> the named outputs."""
        inputs = []
        for name, a, datatype in feeds:
            t = grpcclient.InferInput(name, list(a.shape), datatype)
            t.set_data_from_numpy(a)
            inputs.append(t)
        asked = [grpcclient.InferRequestedOutput(n) for n in outputs]
        res = self._call(f"ModelInfer of {self.model!r}", self._client.infer, self.model, inputs,
                         model_version=self.version, outputs=asked or None, client_timeout=self.timeout_s)
        names = list(outputs) or [o["name"] for o in res.get_response(as_json=True).get("outputs", [])]
        got = {n: res.as_numpy(n) for n in names}
        missing = [n for n, v in got.items() if v is None]
        if missing:
            raise BackendError(f"the server's reply has no output {missing[0]!r}")
        return got

    def close(self) -> None:
        self._client.close()
