"""A lean HTTP/1.1 client for the serving load: keep-alive connections per endpoint on asyncio protocols, the
replies read by httptools (the C parser uvicorn and MLCommons Endpoints use).

Chosen by measurement: against the same mock at 1,000–1,500 req/s, aiohttp's session, connector and stream
layers cost 0.51–0.62 ms of CPU per streamed request, this path 0.30–0.35 ms; on two cores shared with the
server, the client's CPU is what caps the request rate. A request is a prebuilt byte string written to an idle connection (or a new one; never more than
``limit`` per endpoint when a limit is set, the rest queue); the reply's status, body pieces and end go to the
request's :class:`Handler`. No retries: a refused connection, a reply cut short, a malformed reply or a missed
deadline ends that request with the reason. One exception, counted in the result: a request written to a
kept-alive connection that the server closes before a byte of the reply comes back goes out once more on a new
connection (llama-server closes its connections some 30 ms after each streamed reply without saying so, and a
request sent in that window is never answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import selectors
import ssl
import time
from collections import deque
from collections.abc import Callable
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


SPIN_NS = 150_000
"""How long before a deadline the driver stops sleeping and polls the sockets without waiting: waking from a
sleep took 0.1–0.2 ms here (timer slack and the virtual machine's wake-up), which every send would add."""


if hasattr(selectors, "EpollSelector"):  # Linux; kqueue (macOS, BSD) already waits to the nanosecond

    class _PreciseEpoll(selectors.EpollSelector):
        """epoll, waiting to the microsecond: ``epoll_wait`` rounds its timeout up to a whole millisecond, which
        would make every scheduled send up to 1 ms late; waiting in ``select`` on the epoll descriptor itself
        (readable once any registered socket is) keeps the microseconds, and the events are then read without
        waiting."""

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is not None and timeout > 0:
                select.select([self.fileno()], [], [], timeout)
                timeout = 0
            return super().select(timeout)


class LoopDriver:
    """An asyncio event loop that the LoadGen runs on its issuing thread (a
    :class:`~mlmeter.loadgen.protocols.Driver`): the client's sockets are served while the LoadGen waits, and a
    due query is sent by the thread that issues it. Its waits are microsecond-precise where epoll exists, which
    uvloop's millisecond timers are not (a send due in 1.3 ms woke up to 1.25 ms early or 1.3 ms late here).

    The schedule comes first: a socket's callback only notes what arrived and when, and the replies are parsed
    (the CPU-heavy part) between the loop's turns, one connection's bytes at a time, only while no query is due.
    Parsed in the loop's own callbacks, a turn's replies held a due query back by up to a few milliseconds."""

    def __init__(self) -> None:
        selector = _PreciseEpoll() if hasattr(selectors, "EpollSelector") else None
        self.loop = asyncio.SelectorEventLoop(selector)
        self.name = "asyncio on the LoadGen's thread" + (", µs-precise epoll waits" if selector else "")
        self.backlog: deque[Callable[[], None]] = deque()
        self._interrupted = self._driving = False

    def defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` after this turn of the loop, once no query is due (the first one ends the turn); at once
        when the loop is not being driven (opening and closing)."""
        if not self._driving:
            work()
            return
        self.backlog.append(work)
        if len(self.backlog) == 1 and self.loop.is_running():
            self.loop.stop()

    def run_until(self, deadline_ns: int) -> None:
        loop, backlog, clock = self.loop, self.backlog, time.perf_counter_ns
        self._interrupted = False
        self._driving = True
        try:
            while True:
                while backlog:
                    if self._interrupted or clock() >= deadline_ns:
                        return
                    backlog.popleft()()
                now = clock()
                if self._interrupted or now >= deadline_ns:
                    return
                left = deadline_ns - now - SPIN_NS  # wake a little early, then poll the sockets until it is time
                handle = loop.call_later(left / 1e9, loop.stop) if left > 0 else loop.call_soon(loop.stop)
                try:
                    loop.run_forever()
                finally:
                    handle.cancel()
        finally:
            self._driving = False

    def finish(self) -> None:
        """Parse what is still waiting (before the loop closes)."""
        while self.backlog:
            self.backlog.popleft()()

    def interrupt(self) -> None:
        self._interrupted = True
        if self.loop.is_running():  # a stop asked outside the loop would end its next run early
            self.loop.stop()


class Handler(Protocol):
    """What one request is told, in order: ``head`` once, ``body`` per piece, ``end`` once (``None``: complete),
    each piece with the time its bytes arrived. ``finished`` once it has ended (a queued request that ended, at
    its deadline, is never sent); ``conn`` is the connection carrying it."""

    finished: bool
    conn: _Connection | None

    def head(self, status: int) -> None: ...

    def body(self, data: bytes, at_ns: int) -> None: ...

    def end(self, error: str | None, at_ns: int | None = None) -> None: ...

    def resent(self) -> None:
        """The request went out again on a new connection: the server had closed the kept-alive one before a
        byte of the reply came back (llama-server closes its connections after a streamed reply, unannounced)."""

    def dequeued(self) -> None:
        """The request, which waited behind the connection limit, goes out now."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request at a time, its reply parsed as it arrives."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = pool.parser_type(self)
        self.handler: Handler | None = None
        self.transport: asyncio.Transport | None = None
        self.keep = True
        self.inbox: list[tuple[int, bytes]] = []
        """Bytes received and not yet parsed, with the time they arrived."""
        self.at_ns = 0
        """When the bytes being parsed arrived."""
        self.lost = False
        self.replies = 0
        """Replies this connection carried to their end."""
        self.sent = b""
        self.answered = False
        """Whether any byte of the current request's reply arrived."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def send(self, handler: Handler, data: bytes) -> None:
        self.handler, handler.conn = handler, self
        self.sent, self.answered = data, False
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.handler is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.abort()
            return
        self.answered = True
        self.inbox.append((time.perf_counter_ns(), data))
        defer = self.pool.defer
        if defer is None:
            self.parse()
        elif len(self.inbox) == 1:
            defer(self.parse)

    def parse(self) -> None:
        """Feed what arrived to the parser (whose callbacks tell the handler)."""
        inbox, self.inbox = self.inbox, []
        for self.at_ns, data in inbox:
            if self.handler is None:  # bytes after the reply ended: the connection cannot be trusted any more
                self.abort()
                return
            try:
                self.parser.feed_data(data)
            except self.pool.parser_error as exc:
                self._end(f"malformed HTTP reply from {self.pool.url}: {exc}")
                self.abort()
                return

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.keep = self.parser.should_keep_alive()
        if self.handler is not None:
            self.handler.head(self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        if self.handler is not None:
            self.handler.body(body, self.at_ns)

    def on_message_complete(self) -> None:
        self.replies += 1
        self._end(None, self.at_ns)
        if self.keep and not self.lost:
            self.pool.release(self)
        else:
            self.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.parse()  # what arrived before the close (a server that closes after each reply)
        h = self.handler
        if h is not None and not h.finished and not self.answered and self.replies and not self.pool.closing:
            self.handler = None  # a kept-alive connection the server had closed: once more on a new one, counted
            h.resent()           # (a new connection that fails, fails)
            self.pool.connect(h, self.sent)
        self._end(f"the server at {self.pool.url} closed the connection before the reply ended")
        self.pool.discard(self)

    def _end(self, error: str | None, at_ns: int | None = None) -> None:
        handler, self.handler = self.handler, None
        if handler is not None:
            handler.end(error, at_ns)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """The connections to one endpoint (``http://host:port`` or ``https://…``, with an optional path prefix)."""

    def __init__(self, url: str, headers: dict[str, str], loop: asyncio.AbstractEventLoop, limit: int = 0,
                 defer: Callable[[Callable[[], None]], None] | None = None) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ServingError(f"not an http(s) endpoint URL: {url!r}")
        import httptools  # the serving extra (checked before a run)

        self.parser_type, self.parser_error = httptools.HttpResponseParser, httptools.HttpParserError
        self.url, self.limit, self.loop = url, limit, loop
        self.defer = defer
        """Where replies are parsed: later, by the :class:`LoopDriver` (``defer``), or at once (None)."""
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
        self.closing = False
        self._all: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def request_bytes(self, path: str, body: bytes) -> bytes:
        """The whole ``POST`` request, built once per prompt and reused."""
        return (b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n"
                % ((self.prefix + path).encode("latin-1"), self._fields, len(body)) + body)

    def request(self, handler: Handler, data: bytes) -> None:
        """Send ``data`` on an idle connection, else open one, or queue it behind the limit."""
        while self.idle:
            conn = self.idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                conn.send(handler, data)
                return
        if self.limit and self.open >= self.limit:
            self.waiting.append((handler, data))
        else:
            self.connect(handler, data)

    def connect(self, handler: Handler, data: bytes) -> None:
        """Send ``data`` on a new connection."""
        self.open += 1
        task = self.loop.create_task(self._open(handler, data))  # also when called between the driver's runs
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, handler: Handler, data: bytes) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl,
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
                item[0].dequeued()
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
                self.connect(*item)

    async def close(self) -> None:
        """Fail what is queued and close every connection (their requests end with the reason)."""
        self.closing = True
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
