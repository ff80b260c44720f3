"""Multi-host launch over MPI (spec §7): slot distribution, the mpirun command, and cache dropping."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence

from mlmeter.storage.workloads import StorageConfigError

LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def split_hosts(hosts: Sequence[str]) -> list[str]:
    """``--hosts a b`` or ``--hosts a,b`` -> ["a", "b"]; a ``host:slots`` must give a whole number of slots."""
    out = [h for item in hosts for h in item.split(",") if h]
    for h in out:
        name, sep, n = h.partition(":")
        if not name or (sep and not (n.isdigit() and int(n) >= 1)):
            raise StorageConfigError(f"--hosts {h}: expected HOST or HOST:SLOTS with SLOTS a whole number >= 1")
    return out


def is_local(hosts: Sequence[str]) -> bool:
    me = {socket.gethostname(), socket.getfqdn()} | LOCAL_NAMES
    return all(h.split(":")[0] in me for h in hosts)


def slots(hosts: Sequence[str], ranks: int) -> list[tuple[str, int]]:
    """``host:slots`` as given (must add up to ``ranks``), else ``ranks // K`` each and one more for the first
    ``ranks % K`` hosts (a block distribution, as the official tool)."""
    if any(":" in h for h in hosts):
        out = [(h.split(":")[0], int(h.split(":")[1])) for h in hosts]
        if sum(n for _, n in out) < ranks:
            raise StorageConfigError(f"configured slots ({sum(n for _, n in out)}) are not sufficient for {ranks} ranks")
        return out
    k = len(hosts)
    return [(h, ranks // k + (1 if i < ranks % k else 0)) for i, h in enumerate(hosts)]


def mpirun_command(hosts: Sequence[str], ranks: int, argv: Sequence[str], *, mpi_bin: str = "mpirun",
                   bind_to: str = "none", oversubscribe: bool = False, allow_run_as_root: bool = False,
                   python: str = "python3") -> list[str]:
    binary = shutil.which(mpi_bin)
    if binary is None:
        raise StorageConfigError(
            f"{mpi_bin} not found: multi-host runs need MPI — apt-get install openmpi-bin libopenmpi-dev, "
            "then pip install 'mlmeter[mpi]' on every host"
        )
    spec = ",".join(f"{h}:{n}" for h, n in slots(hosts, ranks) if n > 0)
    cmd = [binary, "-n", str(ranks), "-host", spec, "--bind-to", bind_to]
    if oversubscribe:
        cmd.append("--oversubscribe")
    if allow_run_as_root or os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return [*cmd, python, "-m", "mlmeter.cli.main", *argv]


def run_mpirun(cmd: list[str]) -> int:
    return subprocess.call(cmd)


def drop_caches() -> None:
    """Flush dirty pages and drop the page cache on this host (needs root)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as f:
            f.write("3\n")
    except OSError as exc:
        raise StorageConfigError(f"cannot drop the page cache ({exc.strerror}); run as root or without "
                                 "--drop-caches") from exc
