"""Real servers the tests start on loopback: a free port, and a process started, awaited and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextlib.contextmanager
def running(cmd: list[str], ready_url: str, log: Path, what: str, cwd: Path | None = None,
            timeout_s: float = 120, env: dict[str, str] | None = None) -> Iterator[None]:
    """Start ``cmd`` (output to ``log``) in a session of its own, wait until ``ready_url`` answers 200; on the way
    out stop it (killed if it takes over 20 s), then kill whatever it left running in its session."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as r:  # noqa: S310 -- loopback
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"{what} not ready within {timeout_s:g} s: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        with contextlib.suppress(ProcessLookupError):  # a server's own children (Triton's, MLServer's workers)
            os.killpg(proc.pid, signal.SIGKILL)
