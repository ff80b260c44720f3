"""A lean HTTP/1.1 client for the serving load: keep-alive connections per endpoint on asyncio protocols, the
replies read by httptools (the C parser uvicorn and MLCommons Endpoints use).

Chosen by measurement: against the same mock at 1,000–1,500 req/s, aiohttp's session, connector and stream
layers cost 0.51–0.62 ms of CPU per streamed request, this path 0.30–0.35 ms; on two cores shared with the
server, the client's CPU is what caps the request rate. A request is a prebuilt byte string written to an idle connection (or a new one; never more than
``limit`` per endpoint when a limit is set, the rest queue); the reply's status, body pieces and end go to the
request's :class:`Handler`. No retries: a refused connection, a reply cut short, a malformed reply or a missed
deadline ends that request with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Protocol, cast
from urllib.parse import urlsplit

from mlmeter.serving import ServingError


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop's event loop where it is installed (a faster client and mock), else asyncio's; and which."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), f"uvloop {uvloop.__version__}"


class Handler(Protocol):
    """What one request is told, in order: ``head`` once, ``body`` per piece, ``end`` once (``None``: complete).
    ``finished`` once it has ended (a queued request that ended, at its deadline, is never sent); ``conn`` is the
    connection carrying it."""

    finished: bool
    conn: _Connection | None

    def head(self, status: int) -> None: ...

    def body(self, data: bytes) -> None: ...

    def end(self, error: str | None) -> None: ...


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request at a time, its reply parsed as it arrives."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = pool.parser_type(self)
        self.handler: Handler | None = None
        self.transport: asyncio.Transport | None = None
        self.keep = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def send(self, handler: Handler, data: bytes) -> None:
        self.handler, handler.conn = handler, self
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.handler is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except self.pool.parser_error as exc:
            self._end(f"malformed HTTP reply from {self.pool.url}: {exc}")
            self.abort()

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.keep = self.parser.should_keep_alive()
        if self.handler is not None:
            self.handler.head(self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        if self.handler is not None:
            self.handler.body(body)

    def on_message_complete(self) -> None:
        self._end(None)
        if self.keep:
            self.pool.release(self)
        else:
            self.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(f"the server at {self.pool.url} closed the connection before the reply ended")
        self.pool.discard(self)

    def _end(self, error: str | None) -> None:
        handler, self.handler = self.handler, None
        if handler is not None:
            handler.end(error)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """The connections to one endpoint (``http://host:port`` or ``https://…``, with an optional path prefix)."""

    def __init__(self, url: str, headers: dict[str, str], limit: int = 0) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ServingError(f"not an http(s) endpoint URL: {url!r}")
        import httptools  # the serving extra (checked before a run)

        self.parser_type, self.parser_error = httptools.HttpResponseParser, httptools.HttpParserError
        self.url, self.limit = url, limit
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if u.scheme == "https" else None
        self.prefix = u.path.rstrip("/")
        fields = {"Host": u.netloc, "Content-Type": "application/json", **headers}
        self._fields = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("latin-1")
        self.idle: list[_Connection] = []
        self.open = 0
        """Connections open or opening."""
        self.waiting: deque[tuple[Handler, bytes]] = deque()
        self._all: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def request_bytes(self, path: str, body: bytes) -> bytes:
        """The whole ``POST`` request, built once per prompt and reused."""
        return (b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n"
                % ((self.prefix + path).encode("latin-1"), self._fields, len(body)) + body)

    def request(self, handler: Handler, data: bytes) -> None:
        """Send ``data`` on an idle connection, else open one, or queue it behind the limit."""
        if self.idle:
            self.idle.pop().send(handler, data)
        elif self.limit and self.open >= self.limit:
            self.waiting.append((handler, data))
        else:
            self._connect(handler, data)

    def _connect(self, handler: Handler, data: bytes) -> None:
        self.open += 1
        task = asyncio.get_running_loop().create_task(self._open(handler, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, handler: Handler, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl,
                                                   server_hostname=self.host if self.ssl else None)
        except asyncio.CancelledError:
            self.open -= 1
            handler.end("the client stopped before the request was sent")
            raise
        except (OSError, asyncio.TimeoutError) as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
            self.open -= 1
            handler.end(f"cannot connect to {self.url}: {exc or type(exc).__name__}")
            self._next()
            return
        self._all.add(conn)
        if handler.finished:  # its deadline passed while connecting
            self.release(conn)
        else:
            conn.send(handler, data)

    def _queued(self) -> tuple[Handler, bytes] | None:
        """The first queued request that has not ended meanwhile."""
        while self.waiting:
            item = self.waiting.popleft()
            if not item[0].finished:
                return item
        return None

    def release(self, conn: _Connection) -> None:
        """A connection whose reply ended and that the server keeps open: next queued request, or idle."""
        item = self._queued()
        if item is not None:
            conn.send(*item)
        else:
            self.idle.append(conn)

    def discard(self, conn: _Connection) -> None:
        """A connection that closed (the server's choice, an error, a deadline)."""
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        if conn in self._all:
            self._all.discard(conn)
            self.open -= 1
        self._next()

    def _next(self) -> None:
        if not self.limit or self.open < self.limit:
            item = self._queued()
            if item is not None:
                self._connect(*item)

    async def close(self) -> None:
        """Fail what is queued and close every connection (their requests end with the reason)."""
        while self.waiting:
            self.waiting.popleft()[0].end("the client stopped before the request was sent")
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._all):
            conn.abort()
        for _ in range(200):  # the transports close on the loop's next turns
            if not self._all and not self._tasks:
                return
            await asyncio.sleep(0.005)
