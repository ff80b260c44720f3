"""The serving client's HTTP layer against raw servers that misbehave the way real ones do: replies cut short,
malformed HTTP, SSE or JSON, silence, rate limits, a connection closed after every reply (llama-server), a
refused port, and the per-endpoint connection limit. Every failure is a failed sample naming the reason."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time

import numpy as np
import pytest

pytest.importorskip("httptools")

from mlmeter.serving.endpoint import EndpointSUT  # noqa: E402
from mlmeter.serving.openai import RequestSpec  # noqa: E402


def _event(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "text": text}]}).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


GOOD = _event(" a") + _event(" b") + b"data: [DONE]\n\n"
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"


class RawServer:
    """A loopback server answering each request with what ``mode`` says; counts connections and their peak."""

    def __init__(self, mode: str, tls: ssl.SSLContext | None = None) -> None:
        self.mode, self.tls = mode, tls
        self.connections = self.open = self.peak = self.answered = 0
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._conn, "127.0.0.1", 0, ssl=self.tls))
        self.url = f"http{'s' if self.tls else ''}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        started.set()
        self.loop.run_forever()
        for task in asyncio.all_tasks(self.loop):  # a silent reply still sleeping
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0.05))
        self.loop.close()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            first = True
            while await self._one(reader, writer, first):
                first = False
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bool) -> bool:
        """Read one request and answer it; False: close the connection."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        mode = self.mode
        # what llama-server does: it keeps a connection after a streamed reply, then drops it unanswered
        if (mode == "drop-reused" and not first) or (mode == "answer-once" and self.answered):
            return False
        self.answered += 1
        if mode in ("drop-reused", "answer-once"):
            mode = "ok"
        if mode == "silent":
            await asyncio.sleep(30)
            return False
        if mode == "garbage":
            writer.write(b"this is not HTTP\r\n\r\n")
        elif mode == "429":
            body = b'{"error": "slow down"}'
            writer.write(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        elif mode == "cut":
            writer.write(SSE_HEAD + b"\r\n" + _chunk(_event(" a")))
            await writer.drain()
            return False
        elif mode == "bad-sse":
            writer.write(SSE_HEAD + b"\r\n" + _chunk(b"data: {not json\n\n") + b"0\r\n\r\n")
        elif mode == "sse-array":
            writer.write(SSE_HEAD + b"\r\n" + _chunk(b"data: [1, 2]\n\n") + b"0\r\n\r\n")
        elif mode == "bad-json":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{broken")
        elif mode == "json-array":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n[1]")
        elif mode == "close-each":  # what llama-server does after a streamed reply
            writer.write(SSE_HEAD + b"Connection: close\r\n\r\n" + _chunk(GOOD) + b"0\r\n\r\n")
            await writer.drain()
            return False
        else:  # "ok", slowly enough for requests to overlap
            await asyncio.sleep(0.05)
            writer.write(SSE_HEAD + b"\r\n" + _chunk(_event(" a")) + _chunk(_event(" b") + b"data: [DONE]\n\n")
                         + b"0\r\n\r\n")
        await writer.drain()
        return True

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Sink:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.done: dict[int, bytes] = {}
        self.tokens: dict[int, int] = {}

    def first_token(self, ids, responses=None, *, on_response=None, at_ns=None) -> None:
        pass

    def complete_one(self, sample_id, response=None, n_tokens=None, on_response=None, at_ns=None) -> None:
        self.done[sample_id] = response
        self.tokens[sample_id] = n_tokens

    def report_failure(self, message: str) -> None:
        self.failures.append(message)


def _run(url: str, n: int, *, stream: bool = True, timeout_s: float = 20.0, limit: int = 0,
         scheduled_ns: int = 0) -> Sink:
    sut = EndpointSUT([url], RequestSpec("m", stream=stream), ["p"], timeout_s=timeout_s, max_connections=limit)
    sink = Sink()
    sink.scheduled_ns = scheduled_ns  # what the LoadGen's completer tells in the Server scenario
    sink.exchanges = sut.exchanges
    sut.start(sink)  # type: ignore[arg-type]
    try:
        sut.issue(np.arange(n), np.zeros(n, dtype=np.int64))
        deadline = time.time() + 20
        driver = sut.driver()  # the client's loop runs on the caller's thread, as the LoadGen runs it
        assert driver is not None
        while len(sink.done) < n and time.time() < deadline:
            driver.run_until(time.perf_counter_ns() + 20_000_000)
    finally:
        sut.close()
    assert sorted(sink.done) == list(range(n)), "every request ends, one way or the other"
    return sink


@pytest.mark.parametrize(("mode", "stream", "reason"), [
    ("cut", True, "closed the connection before the reply ended"),
    ("garbage", True, "malformed HTTP reply"),
    ("bad-sse", True, "malformed SSE data"),
    ("sse-array", True, "malformed SSE data (not a JSON object)"),
    ("bad-json", False, "malformed JSON reply"),
    ("json-array", False, "malformed JSON reply (not a JSON object)"),
    ("429", True, 'HTTP 429: {"error": "slow down"}'),
])
def test_a_reply_that_goes_wrong_is_a_failed_sample_naming_why(mode, stream, reason):
    server = RawServer(mode)
    try:
        sink = _run(server.url, 3, stream=stream)
    finally:
        server.close()
    assert len(sink.failures) == 3 and all(reason in f for f in sink.failures), sink.failures


def test_a_server_that_never_answers_fails_at_the_request_timeout():
    server = RawServer("silent")
    try:
        began = time.time()
        sink = _run(server.url, 2, timeout_s=0.5)
        took = time.time() - began
    finally:
        server.close()
    assert all("no complete reply within the 0.5 s request timeout" in f for f in sink.failures), sink.failures
    assert len(sink.failures) == 2 and took < 5


def test_a_refused_port_fails_every_request_with_the_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    sink = _run(f"http://127.0.0.1:{port}", 2)
    assert len(sink.failures) == 2 and all(f"cannot connect to http://127.0.0.1:{port}" in f for f in sink.failures)


def test_a_server_closing_after_every_reply_gets_a_new_connection_each_time():
    server = RawServer("close-each")
    try:
        sink = _run(server.url, 8)
    finally:
        server.close()
    assert not sink.failures and set(sink.done.values()) == {b" a b"} and server.connections == 8


@pytest.mark.parametrize("mode", ["drop-reused", "answer-once"])
def test_a_request_the_server_drops_on_a_kept_alive_connection_goes_out_once_more(mode):
    """Once, on a new connection, counted: a server that drops every reused connection loses nothing; one that
    drops every request after its first fails them, each resent once only (a new connection is not retried)."""
    server = RawServer(mode)
    try:
        sink = _run(server.url, 6, limit=1)
    finally:
        server.close()
    resent = [e.resent for e in sink.exchanges]
    if mode == "drop-reused":
        assert not sink.failures and set(sink.done.values()) == {b" a b"} and server.answered == 6
        assert resent == [0] + [1] * 5 and server.connections == 6  # each new one serves one reply
    else:
        assert server.answered == 1 and len(sink.failures) == 5 and resent == [0, 1, 0, 0, 0, 0]  # then new ones
        assert all("closed the connection before the reply ended" in f for f in sink.failures)


def test_the_connection_limit_queues_requests_and_keep_alive_reuses_connections():
    server = RawServer("ok")
    try:
        sink = _run(server.url, 12, limit=2)
    finally:
        server.close()
    assert not sink.failures and set(sink.done.values()) == {b" a b"}
    assert server.peak <= 2 and server.connections == 2  # 12 replies over the same two connections
    queued = [e for e in sink.exchanges if e.queued]
    assert len(queued) == 10 and all(e.sent_ns > e.issued_ns for e in queued)  # sent when a connection freed
    assert set(sink.tokens.values()) == {2}  # counted chunks: the server reported no usage


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server with a self-signed certificate for 127.0.0.1 (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = RawServer("ok", tls=ctx)
    yield server, cert
    server.close()


def test_an_untrusted_certificate_fails_every_request_naming_the_tls_error(tls_server):
    server, _ = tls_server
    sink = _run(server.url, 2)
    assert len(sink.failures) == 2 and all("CERTIFICATE_VERIFY_FAILED" in f for f in sink.failures), sink.failures


def test_https_endpoints_are_served_when_their_certificate_is_trusted(tls_server, monkeypatch):
    server, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what the default context trusts
    sink = _run(server.url, 3)
    assert not sink.failures and set(sink.done.values()) == {b" a b"}


def test_the_send_lag_counts_from_the_loadgen_schedule_not_from_the_issue_call():
    server = RawServer("ok")
    try:
        late = time.perf_counter_ns() - 50_000_000  # a query the LoadGen scheduled 50 ms ago
        sink = _run(server.url, 1, scheduled_ns=late)
    finally:
        server.close()
    (ex,) = sink.exchanges
    assert ex.scheduled_ns == late and ex.issued_ns - late >= 50_000_000 and ex.sent_ns >= ex.issued_ns


@pytest.mark.parametrize("parser", ["orjson", "json"])
def test_stream_events_read_the_same_with_either_json_parser(monkeypatch, parser):
    """orjson (the serving extra) when installed, else the standard library: the same reply either way."""
    import json as std

    from mlmeter.serving import openai

    if parser == "json":
        monkeypatch.setattr(openai, "loads", std.loads)
    elif openai.loads is std.loads:
        pytest.skip("orjson is not installed")
    reply = openai.Reply()
    events = [b'{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}',
              b'{"choices": [{"index": 0, "delta": {"content": "Hi"}}]}',
              b'{"choices": [{"index": 0, "text": " there", "finish_reason": "length"}]}',
              b'{"choices": [], "usage": {"completion_tokens": 2}}']
    assert all(openai.read_event(reply, e, 100 + i) for i, e in enumerate(events))
    assert not openai.read_event(reply, b"[DONE]", 200)
    assert (reply.text, reply.chunk_ns, reply.finish_reason, reply.usage_tokens) == ("Hi there", [101, 102], "length", 2)


def test_the_connection_budget_follows_the_open_file_limit(monkeypatch):
    import resource

    from mlmeter.serving.endpoint import FD_RESERVE, connection_budget

    raised = []
    monkeypatch.setattr(resource, "getrlimit", lambda _kind: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda _kind, limits: raised.append(limits))
    assert connection_budget(2, 1) == (4096 - FD_RESERVE) // 2 and raised == [(4096, 4096)]

    def refuse(_kind, _limits):
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "setrlimit", refuse)
    assert connection_budget(1, 4) == (1024 - FD_RESERVE) // 4  # the soft limit as it is
