"""A client for a PTDaemon-compatible power server (the MLPerf Power director's protocol, spec training_power.md §5.1).

The director runs SPEC PTDaemon next to a wall power analyzer; its server speaks a line protocol over TCP (default
port 4950, ``\\r\\n`` line ends): a version handshake, ``time``, ``new,<label>,<client uuid>`` → ``OK <session>,<server
uuid>``, ``session,<id>,start|stop,ranging|testing``, ``session,<id>,done``, ``download,<id>,<file>`` (the file
follows as decimal chunk-length lines, each followed by that many bytes, ended by ``0``) and ``cleanup,<id>``.
Replies are ``OK…`` or ``Error…``.

``PtdSource`` measures one window: the ranging pass and the testing pass each bracket one run of the workload (the
server fixes the analyzer's ranges from the first), then the testing pass's ``spl.txt`` gives the samples whose
times fall strictly inside the window. The average of those samples is MLPerf's average power.
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mlmeter.errors import MlmeterError

DEFAULT_PORT = 4950
MAGIC_CLIENT = "mlcommons/power client v3"
MAGIC_SERVER = "mlcommons/power server v3"
MAX_CLOCK_SKEW_S = 0.4
"""The director's and the SUT's clocks must agree within 400 ms (the official CRITICAL_DIFFERENCE_TIME_MS)."""
EOL = b"\r\n"


class PtdError(MlmeterError, RuntimeError):
    """The power server is unreachable, speaks another protocol, or refused a command; the message says which."""


@dataclass
class PtdClient:
    host: str
    port: int = DEFAULT_PORT
    timeout_s: float = 30.0
    messages: list[tuple[str, str]] = field(default_factory=list)
    """Every command and its reply, in order (what the official client.json records)."""

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None
        self._buf = b""
        self.client_uuid = str(uuid.uuid4())
        self.server_uuid = ""

    def connect(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise PtdError(f"power server {self.host}:{self.port}: cannot connect ({exc})") from exc
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        reply = self.command(MAGIC_CLIENT)
        if reply != MAGIC_SERVER:
            self.close()
            raise PtdError(f"power server {self.host}:{self.port}: expected {MAGIC_SERVER!r}, got {reply!r} "
                           "(not an MLPerf power server, or another protocol version)")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _recv_line(self) -> str:
        while EOL not in self._buf:
            self._buf += self._recv(1 << 16)
        line, _, self._buf = self._buf.partition(EOL)
        return line.decode(errors="replace")

    def _recv(self, n: int) -> bytes:
        if self._sock is None:
            raise PtdError(f"power server {self.host}:{self.port}: not connected")
        try:
            data = self._sock.recv(n)
        except OSError as exc:
            raise PtdError(f"power server {self.host}:{self.port}: connection lost ({exc})") from exc
        if not data:
            self.close()
            raise PtdError(f"power server {self.host}:{self.port} closed the connection")
        return data

    def command(self, text: str, check: bool = False) -> str:
        if self._sock is None:
            raise PtdError(f"power server {self.host}:{self.port}: not connected")
        try:
            self._sock.sendall(text.encode() + EOL)
        except OSError as exc:
            raise PtdError(f"power server {self.host}:{self.port}: connection lost ({exc})") from exc
        reply = self._recv_line()
        self.messages.append((text, reply))
        if check and not reply.startswith("OK"):
            raise PtdError(f"power server refused {text!r}: {reply}")
        return reply

    def clock_skew_s(self) -> float:
        """Client clock minus server clock, bracketed by the round trip (the larger bound)."""
        before = time.time()
        reply = self.command("time")
        after = time.time()
        try:
            server = float(reply)
        except ValueError as exc:
            raise PtdError(f"power server: 'time' answered {reply!r}") from exc
        return max(before - server, after - server, key=abs)

    def new_session(self, label: str) -> str:
        reply = self.command(f"new,{label},{self.client_uuid}", check=True)
        session, _, self.server_uuid = reply[len("OK "):].partition(",")
        return session

    def download(self, session: str, name: str) -> bytes:
        if self._sock is None:
            raise PtdError(f"power server {self.host}:{self.port}: not connected")
        self._sock.sendall(f"download,{session},{name}".encode() + EOL)
        out = bytearray()
        while True:
            line = self._recv_line()
            try:
                n = int(line)
            except ValueError as exc:
                raise PtdError(f"power server: downloading {name}: {line}") from exc
            if n == 0:
                break
            if n < 0:
                raise PtdError(f"power server: downloading {name}: negative chunk length")
            while len(self._buf) < n:
                self._buf += self._recv(max(n - len(self._buf), 1 << 16))
            out += self._buf[:n]
            self._buf = self._buf[n:]
        self.messages.append((f"download,{session},{name}", f"{len(out)} bytes"))
        return bytes(out)


def parse_spl(text: str) -> list[tuple[float, float]]:
    """``spl.txt`` lines → (UTC epoch seconds, watts); times are ``MM-DD-YYYY HH:MM:SS.mmm`` in UTC."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        f = line.strip().split(",")
        if len(f) < 4 or f[0] != "Time" or f[2] != "Watts":
            continue
        try:
            t = datetime.strptime(f[1], "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
            out.append((t, float(f[3])))
        except ValueError as exc:
            raise PtdError(f"spl.txt line {lineno}: {exc}") from exc
    return out


def parse_address(spec: str) -> tuple[str, int]:
    """``ptd://host[:port]`` → (host, port); a missing host or a port outside 1–65535 is a :class:`PtdError`."""
    rest = spec[len("ptd://"):] if spec.startswith("ptd://") else spec
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", str(DEFAULT_PORT))
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PtdError(f"--power {spec}: expected ptd://HOST[:PORT] with a port from 1 to 65535")
    return host, int(port)


class PtdSource:
    """A wall power analyzer behind a PTDaemon power server: one session, a ranging then a testing window."""

    name = "ptd"
    metered = True

    def __init__(self, spec: str, label: str = "mlmeter") -> None:
        host, port = parse_address(spec)
        self.boundary = f"wall power (analyzer behind the power server at {host}:{port})"
        self.client = PtdClient(host, port)
        self.client.connect()
        try:
            skew = self.client.clock_skew_s()
            if abs(skew) > MAX_CLOCK_SKEW_S:
                raise PtdError(f"power server clock differs from this machine's by {skew * 1000:.0f} ms (more "
                               f"than {MAX_CLOCK_SKEW_S * 1000:.0f} ms): synchronise both with NTP")
            self.session = self.client.new_session(label)
        except PtdError:
            self.client.close()
            raise

    def begin(self, mode: str) -> None:
        self.client.command(f"session,{self.session},start,{mode}", check=True)

    def end(self, mode: str, t0: float, t1: float) -> list[tuple[float, float]]:
        """Stop the window; for testing, the samples strictly inside (t0, t1) (UTC epoch seconds)."""
        self.client.command(f"session,{self.session},stop,{mode}", check=True)
        if mode != "testing":
            return []
        spl = parse_spl(self.client.download(self.session, "run_1/spl.txt").decode(errors="replace"))
        return [(t, w) for t, w in spl if t0 < t < t1 and w > 0]

    def finish(self) -> None:
        try:
            self.client.command(f"session,{self.session},done", check=True)
            self.client.command(f"cleanup,{self.session}")
        finally:
            self.client.close()
