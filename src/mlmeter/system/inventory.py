"""Hardware inventory from ``/sys`` for the MLPerf system description: NUMA nodes, caches of the whole CPU,
network cards, disks, and the OS release, in the value formats MLCommons' ``mlperf-sysinfo`` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_stripped(path: str | Path) -> str | None:
    """A small text file (``/proc``, ``/sys``) without its surrounding whitespace; None when unreadable."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def numa_nodes(root: Path = Path("/sys/devices/system/node")) -> int:
    return len([d for d in root.glob("node[0-9]*") if d.is_dir()]) if root.is_dir() else 1


def _size_kib(text: str) -> int:
    units = {"K": 1, "M": 1024, "G": 1024 * 1024}
    return int(text[:-1]) * units[text[-1]] if text and text[-1] in units and text[:-1].isdigit() else 0


def _human(kib: int) -> str:
    for unit, div in (("GiB", 1024 * 1024), ("MiB", 1024)):
        if kib >= div and kib % div == 0:
            return f"{kib // div} {unit}"
    return f"{kib} KiB"


def cache_summary(root: Path = Path("/sys/devices/system/cpu")) -> str:
    """``L1d: 64 KiB (2 instances); …; L3: 32 MiB (1 instance)``: each cache level over the whole CPU, as lscpu
    reports it (one instance per distinct set of CPUs sharing it)."""
    seen: dict[str, dict[str, int]] = {}
    for idx in sorted(root.glob("cpu[0-9]*/cache/index[0-9]*")):
        level, kind, size, shared = (read_stripped(idx / f) for f in ("level", "type", "size", "shared_cpu_list"))
        if not level or not size:
            continue
        name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind or "", "")
        entry = seen.setdefault(name, {})
        entry[shared or str(idx.parent.parent)] = _size_kib(size)
    parts = []
    for name in sorted(seen):
        sizes = seen[name]
        n = len(sizes)
        parts.append(f"{name}: {_human(sum(sizes.values()))} ({n} instance{'s' if n != 1 else ''})")
    return "; ".join(parts)


def network_cards(root: Path = Path("/sys/class/net")) -> list[str]:
    """The kind of each physical network interface (``Ethernet``, ``InfiniBand``…); virtual ones are left out."""
    kinds = {"1": "Ethernet", "32": "InfiniBand"}
    out = []
    for iface in sorted(root.iterdir()) if root.is_dir() else []:
        if "/virtual/" in str(iface.resolve()):
            continue
        out.append(kinds.get(read_stripped(iface / "type") or "", "Other"))
    return out


def disks(root: Path = Path("/sys/block")) -> list[tuple[str, int]]:
    """(``SSD`` or ``HDD``, bytes) of each disk; loop, RAM and compressed-RAM devices are left out."""
    out = []
    for dev in sorted(root.iterdir()) if root.is_dir() else []:
        if dev.name.startswith(("loop", "ram", "zram", "dm-", "md", "sr")):
            continue
        sectors = read_stripped(dev / "size")
        if not sectors or not sectors.isdigit() or int(sectors) == 0:
            continue
        kind = "HDD" if read_stripped(dev / "queue" / "rotational") == "1" else "SSD"
        out.append((kind, int(sectors) * 512))
    return out


def os_release(path: Path = Path("/etc/os-release")) -> str:
    """``debian 12``: the distribution's ID and VERSION_ID."""
    fields = {}
    for line in (read_stripped(path) or "").splitlines():
        key, _, value = line.partition("=")
        fields[key] = value.strip().strip('"')
    return " ".join(v for v in (fields.get("ID"), fields.get("VERSION_ID")) if v)


def inventory() -> dict[str, Any]:
    return {"numa_nodes": numa_nodes(), "caches": cache_summary(), "network_cards": network_cards(),
            "disks": [{"kind": k, "bytes": b} for k, b in disks()], "os_release": os_release()}
