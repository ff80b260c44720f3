"""A loopback stand-in for the MLPerf power server (the director's side of spec training_power.md §5.1).

It speaks the client protocol and "samples" a constant wattage at 20 Hz while a ranging or testing window is
open, writing ``spl.txt`` lines in the official format. Faults can be injected: a wrong handshake, a refused
command, a clock offset, or a connection dropped at a given command.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone


def spl_line(t: float, watts: float, mark: str) -> str:
    stamp = datetime.fromtimestamp(t, tz=timezone.utc).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]
    return f"Time,{stamp},Watts,{watts:.6f},Volts,229.5,Amps,{watts / 229.5:.6f},PF,0.95,Mark,{mark}"


@dataclass
class FakePowerServer:
    watts: dict[str, float] = field(default_factory=lambda: {"ranging": 90.0, "testing": 120.0})
    magic: str = "mlcommons/power server v3"
    refuse: str = ""  # a command prefix answered with "Error: ..."
    drop_at: str = ""  # a command prefix at which the connection is closed
    clock_offset_s: float = 0.0
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.windows: dict[str, tuple[float, float]] = {}
        self._open: dict[str, float] = {}
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"ptd://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _spl(self, mode: str) -> bytes:
        t0, t1 = self.windows[mode]
        n = int((t1 - t0) * 20)
        return "".join(spl_line(t0 + (i + 0.5) / 20, self.watts[mode], f"s_{mode}") + "\r\n"
                       for i in range(n)).encode()

    def _session(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                raw, _, buf = buf.partition(b"\r\n")
                cmd = raw.decode()
                self.commands.append(cmd)
                if self.drop_at and cmd.startswith(self.drop_at):
                    return
                if self.refuse and cmd.startswith(self.refuse):
                    conn.sendall(b"Error: refused by the test\r\n")
                    continue
                if cmd.startswith("download,"):
                    name = cmd.split(",", 2)[2]
                    body = self._spl("testing" if name.startswith("run_1") else "ranging")
                    for i in range(0, len(body), 1000):  # several chunks, as a real server sends
                        chunk = body[i:i + 1000]
                        conn.sendall(str(len(chunk)).encode() + b"\r\n" + chunk)
                    conn.sendall(b"0\r\n")
                    continue
                conn.sendall((self._reply(cmd) + "\r\n").encode())

    def _reply(self, cmd: str) -> str:
        f = cmd.split(",")
        if cmd.startswith("mlcommons/power client"):
            return self.magic
        if cmd == "time":
            return repr(time.time() - self.clock_offset_s)
        if f[0] == "new":
            return f"OK 2026-11-22_00-00-00_{f[1]},server-uuid"
        if f[0] == "session" and f[2] in ("start", "stop"):
            if f[2] == "start":
                self._open[f[3]] = time.time()
            else:
                self.windows[f[3]] = (self._open.pop(f[3]), time.time())
            return "OK"
        if f[0] in ("session", "cleanup"):
            return "OK"
        return f"Error: unknown command {cmd!r}"
