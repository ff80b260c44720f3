"""Power sources behind one contract: cumulative energy counters read in the background.

- ``RaplSource``: Intel/AMD RAPL through ``/sys/class/powercap`` (package and DRAM domains; counter wrap-around
  handled with ``max_energy_range_uj``). Software-estimated, boundary "CPU packages + DRAM".
- ``NvmlSource``: NVIDIA GPUs' total energy counters through NVML (``nvidia-ml-py``). Software-estimated,
  boundary "GPU boards".
Neither measures the wall; results say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlmeter.errors import MlmeterError
from mlmeter.power.ptd import parse_address


class PowerUnavailable(RuntimeError):
    """No readable source of this kind here (no permission, a VM, no device); the message says which."""


class PowerSource(Protocol):
    name: str
    boundary: str
    metered: bool
    """True for a wall meter; False for software estimates (RAPL, NVML)."""

    def energy_j(self) -> float:
        """Energy consumed since an arbitrary origin, in joules (monotonic; wrap-around handled)."""
        ...


@dataclass
class _Counter:
    path: Path
    max_uj: int
    last: int
    total: float = 0.0


class RaplSource:
    """Sums the top-level RAPL domains (``package-N``) and their ``dram`` subdomains."""

    name = "rapl"
    boundary = "CPU packages + DRAM (RAPL)"
    metered = False

    def __init__(self, root: str | Path = "/sys/class/powercap") -> None:
        root = Path(root)
        zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1) if root.is_dir() else []
        zones += sorted(p for z in list(zones) for p in z.glob("intel-rapl:*:*") if (p / "name").is_file()
                        and (p / "name").read_text().strip() == "dram")
        self._counters: list[_Counter] = []
        for z in zones:
            try:
                value = int((z / "energy_uj").read_text())
                max_uj = int((z / "max_energy_range_uj").read_text())
            except (OSError, ValueError) as exc:
                raise PowerUnavailable(f"RAPL: cannot read {z}/energy_uj ({exc}); reading it usually needs root") from exc
            self._counters.append(_Counter(z / "energy_uj", max_uj, value))
        if not self._counters:
            raise PowerUnavailable(f"RAPL: no intel-rapl zones under {root} (not exposed on this machine or VM)")
        self.domains = [c.path.parent.name for c in self._counters]

    def energy_j(self) -> float:
        total = 0.0
        for c in self._counters:
            value = int(c.path.read_text())
            delta = value - c.last if value >= c.last else value + c.max_uj - c.last  # the counter wrapped
            c.total += delta
            c.last = value
            total += c.total
        return total / 1e6


class NvmlSource:
    """Total energy of every visible NVIDIA GPU (``nvmlDeviceGetTotalEnergyConsumption``, millijoules)."""

    name = "nvml"
    boundary = "GPU boards (NVML)"
    metered = False

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError as exc:
            raise PowerUnavailable("NVML: nvidia-ml-py is not installed (pip install 'mlmeter[nvml]')") from exc
        try:
            pynvml.nvmlInit()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception as exc:  # noqa: BLE001 - NVMLError: no driver or no GPU
            raise PowerUnavailable(f"NVML: {exc}") from exc
        if not self._handles:
            raise PowerUnavailable("NVML: no GPU visible")
        self._nvml: Any = pynvml

    def energy_j(self) -> float:
        return sum(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles) / 1e3


def open_sources(names: list[str]) -> tuple[list[PowerSource], list[str]]:
    """The sources that can be read, and one line per source that cannot (``auto``: every kind)."""
    kinds = {"rapl": RaplSource, "nvml": NvmlSource}
    wanted = list(kinds) if names == ["auto"] else names
    sources: list[PowerSource] = []
    problems: list[str] = []
    for n in wanted:
        if n not in kinds:
            problems.append(f"unknown power source {n!r} (valid: auto, {', '.join(kinds)}, ptd://HOST[:PORT])")
            continue
        try:
            sources.append(kinds[n]())
        except PowerUnavailable as exc:
            problems.append(str(exc))
    return sources, problems


def source_names(spec: str | None) -> tuple[str, ...]:
    """``--power rapl,nvml`` as a tuple of source names (empty: power was not asked for).

    :raises MlmeterError: a name that is no kind of source; ``PtdError``: a malformed ``ptd://`` address.
    """
    names = tuple(x.strip() for x in spec.split(",") if x.strip()) if spec else ()
    for n in names:
        if n.startswith("ptd://"):
            parse_address(n)
        elif n not in ("auto", "rapl", "nvml"):
            raise MlmeterError(f"--power: unknown power source {n!r}; valid: auto, rapl, nvml, ptd://HOST[:PORT]")
    return names
