"""A model server behind the KServe v2 / Triton inference protocol as a backend: the workload's own
pre-processing and accuracy run here, the inference on the server (``mlmeter infer --backend kserve``).

``--backend-option url=http://host:8000`` (required; ``grpc://host:8001`` speaks the gRPC protocol instead, see
:mod:`mlmeter.backends.kserve_grpc`) and ``model=NAME`` (default: the model file's stem), optionally
``version=N``, ``layout=NHWC``, ``timeout_s=60``, ``binary=auto|on|off``. Loading checks the server's and the
model's readiness and reads the model's metadata (inputs and outputs, v2 datatypes); over HTTP each batch is one
``POST /v2/models/{name}/infer`` over a keep-alive connection per thread, its tensors as raw bytes after the JSON
header when the server lists Triton's ``binary_tensor_data`` extension (``binary=auto``, the default), else as
JSON. An API key from
``$KSERVE_API_KEY`` (``api_key_env=NAME`` to change it) is sent as a bearer token and never recorded. A failed
request raises: the harness counts it as a failed sample and the run ends INVALID. Nothing is retried.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlmeter.backends.base import BackendError, BackendOptions, LoadedModel, TensorInfo
from mlmeter.serving.openai import auth_headers, is_grpc

V2_TYPES = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
            "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64", "FP16": "float16",
            "FP32": "float32", "FP64": "float64"}
"""KServe v2 datatypes and the NumPy dtypes they carry (BYTES and BF16 are not numeric tensors here)."""
NUMPY_TYPES = {v: k for k, v in V2_TYPES.items()}


class V2Client:
    """Blocking KServe v2 HTTP calls; one keep-alive connection per calling thread."""

    def __init__(self, url: str, timeout_s: float = 60.0, api_key_env: str | None = "KSERVE_API_KEY") -> None:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise BackendError(f"url={url!r}: expected the server's base URL, like http://127.0.0.1:8000")
        self.url, self._u, self.timeout_s = url.rstrip("/"), u, timeout_s
        self._headers = auth_headers(api_key_env)
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        c = getattr(self._local, "conn", None)
        if c is None:
            kind = http.client.HTTPSConnection if self._u.scheme == "https" else http.client.HTTPConnection
            c = self._local.conn = kind(self._u.hostname or "", self._u.port, timeout=self.timeout_s)
            with self._lock:
                self._opened.append(c)
        return c

    def send(self, method: str, path: str, data: bytes | None,
             headers: Mapping[str, str]) -> tuple[int, bytes, http.client.HTTPMessage]:
        """(HTTP status, body, headers); a dropped keep-alive connection is reopened once, before sending."""
        reopened = False
        while True:
            c = self._connection()
            try:
                c.request(method, self._u.path.rstrip("/") + path, body=data, headers={**self._headers, **headers})
                resp = c.getresponse()
                return resp.status, resp.read(), resp.headers
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                c.close()
                self._local.conn = None
                if reopened or not isinstance(exc, http.client.RemoteDisconnected):
                    raise BackendError(f"{self.url}{path}: {type(exc).__name__}: {exc}") from exc
                reopened = True
            except OSError as exc:
                c.close()
                self._local.conn = None
                raise BackendError(f"{self.url}{path}: {exc}; is a KServe v2 server listening there?") from exc

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(HTTP status, parsed JSON or None)."""
        data = json.dumps(body).encode() if body is not None else None
        status, raw, _ = self.send(method, path, data, {"Content-Type": "application/json"})
        return status, _json(raw) if raw else None

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            for c in self._opened:
                c.close()
            self._opened.clear()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": raw[:200].decode("utf-8", "replace")}


def _info(t: Mapping[str, Any]) -> TensorInfo:
    dt = V2_TYPES.get(str(t.get("datatype")))
    if dt is None:
        raise BackendError(f"tensor {t.get('name')!r} has datatype {t.get('datatype')!r}: only numeric tensors "
                           f"({', '.join(V2_TYPES)}) can be benchmarked with a local workload")
    return TensorInfo(str(t["name"]), dt, tuple(None if int(d) < 0 else int(d) for d in t.get("shape") or ()))


def _check(answer: tuple[int, Any], what: str) -> None:
    status, body = answer
    if status in (401, 403):
        raise BackendError(f"{what}: HTTP {status}: the API key is missing or wrong (api_key_env)")
    if status != 200:
        detail = (body or {}).get("error") if isinstance(body, dict) else body
        raise BackendError(f"{what}: HTTP {status}{f' ({detail})' if detail else ''}")


def check_ready(c: V2Client, path: str, model: str) -> None:
    """The server and the model at ``path`` are ready (KServe v2 readiness); else a ``BackendError`` that names
    the models the server has, when it lists its repository (Triton's ``/v2/repository/index``)."""
    _check(c.call("GET", "/v2/health/ready"), "the server is not ready (GET /v2/health/ready)")
    status, body = c.call("GET", path + "/ready")
    if status not in (200, 401, 403):
        st, index = c.call("POST", "/v2/repository/index", {})
        names = (", ".join(str(m.get("name")) for m in index if isinstance(m, dict)) or "none"
                 if st == 200 and isinstance(index, list) else "(the server does not list its repository)")
        raise BackendError(f"model {model!r} is not ready on {c.url} (HTTP {status}); the server has: {names}")
    _check((status, body), f"model {model!r} is not ready on {c.url}")


class V2Model(Protocol):
    """One model on a KServe v2 server, over one of the protocol's transports."""

    url: str

    @property
    def protocol(self) -> str:
        """What the results call the transport (``KServe v2 HTTP/JSON``…)."""
        ...

    def metadata(self) -> dict[str, Any]:
        """The model's metadata, once the server and the model are ready (else a ``BackendError`` saying why)."""
        ...

    def infer(self, feeds: Sequence[tuple[str, np.ndarray, str]], outputs: Sequence[str]) -> dict[str, np.ndarray]:
        """(name, array, v2 datatype) inputs -> the named outputs (all of them when none is named)."""
        ...

    def close(self) -> None: ...


class HttpModel:
    """One model over the HTTP protocol: tensors as JSON, or as raw little-endian bytes after the JSON header
    (Triton's binary tensor data extension: ``binary=on``, or ``auto`` when the server lists the extension)."""

    def __init__(self, url: str, model: str, version: str, timeout_s: float, api_key_env: str | None,
                 binary: str = "auto") -> None:
        if binary not in ("auto", "on", "off"):
            raise BackendError(f"binary={binary!r}: expected auto, on or off")
        self.client = V2Client(url, timeout_s, api_key_env)
        self.url, self.model, self._binary_option = self.client.url, model, binary
        self.path = f"/v2/models/{urllib.parse.quote(model)}" + (f"/versions/{version}" if version else "")
        self.binary = binary == "on"

    @property
    def protocol(self) -> str:
        return f"KServe v2 HTTP/{'binary' if self.binary else 'JSON'}"

    def metadata(self) -> dict[str, Any]:
        check_ready(self.client, self.path, self.model)
        status, meta = self.client.call("GET", self.path)
        _check((status, meta), f"cannot read model {self.model!r}'s metadata")
        if self._binary_option != "off":
            st, server = self.client.call("GET", "/v2")
            listed = st == 200 and isinstance(server, dict) and "binary_tensor_data" in (server.get("extensions") or [])
            if self._binary_option == "on" and not listed:
                raise BackendError(f"{self.url} does not list the binary_tensor_data extension (GET /v2): drop "
                                   "binary=on to send JSON tensors")
            self.binary = listed
        return dict(meta)

    def infer(self, feeds: Sequence[tuple[str, np.ndarray, str]], outputs: Sequence[str]) -> dict[str, np.ndarray]:
        if not self.binary:
            inputs = [{"name": name, "shape": list(a.shape), "datatype": dt, "data": a.ravel().tolist()}
                      for name, a, dt in feeds]
            status, out = self.client.call("POST", self.path + "/infer",
                                           {"inputs": inputs, "outputs": [{"name": n} for n in outputs]})
            return self._outputs(status, out, b"", outputs)
        blobs = [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes() for _, a, _ in feeds]
        head: dict[str, Any] = {
            "inputs": [{"name": name, "shape": list(a.shape), "datatype": dt, "parameters": {"binary_data_size": len(b)}}
                       for (name, a, dt), b in zip(feeds, blobs, strict=True)],
            "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in outputs]}
        if not outputs:
            head["parameters"] = {"binary_data_output": True}
        data = json.dumps(head).encode()
        status, raw, headers = self.client.send("POST", self.path + "/infer", b"".join([data, *blobs]), {
            "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(data))})
        size = headers.get("Inference-Header-Content-Length")
        n = int(size) if size and size.isdigit() else len(raw)
        return self._outputs(status, _json(raw[:n]), raw[n:], outputs)

    def _outputs(self, status: int, out: Any, tail: bytes, outputs: Sequence[str]) -> dict[str, np.ndarray]:
        """The named outputs (all of them when none is named) of a reply: JSON ``data``, or the binary data that
        follows the JSON header, in the order the header lists the outputs."""
        if status != 200:
            detail = out.get("error") if isinstance(out, dict) else out
            raise BackendError(f"POST {self.path}/infer: HTTP {status}: {detail}")
        got, at = {}, 0
        for t in out.get("outputs") or []:
            dtype = np.dtype(V2_TYPES.get(t.get("datatype"), "float32"))
            size = (t.get("parameters") or {}).get("binary_data_size")
            if size is None:
                got[t["name"]] = np.asarray(t["data"], dtype=dtype).reshape(t["shape"])
                continue
            if at + size > len(tail):
                raise BackendError(f"the server's reply holds {len(tail) - at} bytes for output {t['name']!r}, "
                                   f"which says it has {size}")
            got[t["name"]] = np.frombuffer(tail, dtype=dtype.newbyteorder("<"), count=size // dtype.itemsize,
                                           offset=at).astype(dtype).reshape(t["shape"])
            at += size
        missing = [n for n in outputs if n not in got]
        if missing:
            raise BackendError(f"the server's reply has no output {missing[0]!r} (it has {', '.join(got) or 'none'})")
        return {n: got[n] for n in outputs} if outputs else got

    def close(self) -> None:
        self.client.close()


def open_model(url: str, model: str, version: str, timeout_s: float, api_key_env: str | None,
               binary: str = "auto") -> V2Model:
    """The model over HTTP (``http(s)://``; ``binary``: its tensor encoding) or gRPC (``grpc(s)://``, the
    ``kserve-grpc`` extra, always binary)."""
    if is_grpc(url):
        from mlmeter.backends.kserve_grpc import GrpcModel

        return GrpcModel(url, model, version, timeout_s, api_key_env)
    return HttpModel(url, model, version, timeout_s, api_key_env, binary)


class KServeBackend:
    name = "kserve"
    version = "v2"
    preferred_layout = "NCHW"
    thread_safe = True

    def __init__(self) -> None:
        self._model: V2Model | None = None
        self._outputs: tuple[TensorInfo, ...] = ()

    def load(self, path: Path, options: BackendOptions) -> LoadedModel:
        x = options.extra
        if not x.get("url"):
            raise BackendError("backend 'kserve' needs the server: --backend-option url=http://HOST:PORT (or "
                               "grpc://HOST:PORT; and model=NAME if the served name is not the model file's stem)")
        name = str(x.get("model") or Path(path).stem)
        self.preferred_layout = str(x.get("layout", "NCHW")).upper()
        m = self._model = open_model(str(x["url"]), name, str(x.get("version") or ""), float(x.get("timeout_s", 60)),
                                     str(x.get("api_key_env", "KSERVE_API_KEY")), str(x.get("binary", "auto")).lower())
        try:
            meta = m.metadata()
            inputs = tuple(_info(t) for t in meta.get("inputs") or [])
            self._outputs = tuple(_info(t) for t in meta.get("outputs") or [])
        except BackendError:
            m.close()
            raise
        settings = {"url": m.url, "model": name, "server_model_version": meta.get("versions"),
                    "platform": meta.get("platform"), "protocol": m.protocol}
        return LoadedModel(f"{m.url}/v2/models/{name}", inputs, self._outputs, settings)

    def predict(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        assert self._model is not None, "load() first"
        inputs = []
        for name, a in feeds.items():
            a = np.ascontiguousarray(a)
            dt = NUMPY_TYPES.get(a.dtype.name)
            if dt is None:
                raise BackendError(f"input {name!r}: dtype {a.dtype} has no KServe v2 datatype")
            inputs.append((name, a, dt))
        got = self._model.infer(inputs, [o.name for o in self._outputs])
        return list(got.values())  # in the order asked (all the server sent when its metadata lists no outputs)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
