"""A dependency-free description of the machine a run happens on, with the MLPerf system-description fields.

Everything is read from ``/proc``, ``/sys`` and the standard library; accelerators through NVML
(``nvidia-ml-py``) or ``nvidia-smi`` when present. Anything unreadable is left out, never an error.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from mlmeter import __version__
from mlmeter.system.inventory import inventory
from mlmeter.system.inventory import read_stripped as _read

PACKAGES = ("numpy", "onnxruntime", "onnxruntime-gpu", "torch", "openvino", "ai-edge-litert", "mlcommons-loadgen",
            "mlperf-logging", "opencv-python-headless", "mpi4py", "h5py", "scikit-learn", "transformers")
_FLAGS = ("avx", "avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
          "fma", "sse4_2", "neon", "asimd", "sve", "hypervisor")



def _cpuinfo() -> list[dict[str, str]]:
    text = _read("/proc/cpuinfo") or ""
    blocks = []
    for block in text.split("\n\n"):
        d = {}
        for line in block.splitlines():
            if ":" in line:
                k, _, v = line.partition(":")
                d[k.strip().lower()] = v.strip()
        if d:
            blocks.append(d)
    return blocks


def _caches() -> list[str]:
    out = []
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")) if base.is_dir() else []:
        level, kind, size = (_read(str(idx / f)) for f in ("level", "type", "size"))
        if level and size:
            suffix = {"Data": "d", "Instruction": "i"}.get(kind or "", "")
            out.append(f"L{level}{suffix} {size}")
    return out


def describe_cpu() -> dict[str, Any]:
    info = _cpuinfo()
    first = info[0] if info else {}
    sockets = {b.get("physical id") for b in info if "physical id" in b} or {"0"}
    cores = {(b.get("physical id"), b.get("core id")) for b in info if "core id" in b}
    logical = os.cpu_count() or len(info) or 1
    flags = set(first.get("flags", first.get("features", "")).split())
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "model": first.get("model name") or first.get("hardware") or platform.processor() or platform.machine(),
        "vendor": first.get("vendor_id", ""),
        "sockets": len(sockets),
        "physical_cores": len(cores) or logical,
        "logical_cpus": logical,
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical,
        "max_mhz": round(int(max_khz) / 1000) if max_khz and max_khz.isdigit() else
        (round(float(first["cpu mhz"])) if "cpu mhz" in first else None),
        "caches": _caches(),
        "flags": sorted(f for f in _FLAGS if f in flags),
    }


def _meminfo() -> dict[str, int]:
    out = {}
    for line in (_read("/proc/meminfo") or "").splitlines():
        k, _, v = line.partition(":")
        parts = v.split()
        if parts and parts[0].isdigit():
            out[k] = int(parts[0]) * 1024
    return out


def describe_os() -> dict[str, Any]:
    pretty = None
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip('"')
    return {"system": platform.system(), "kernel": platform.release(), "distribution": pretty,
            "machine": platform.machine()}


def describe_virtualization(cpu_flags: list[str]) -> dict[str, Any]:
    hints = []
    if Path("/.dockerenv").exists():
        hints.append("docker")
    if "hypervisor" in cpu_flags:
        hints.append("virtual machine (hypervisor CPU flag)")
    cgroup = _read("/proc/1/cgroup") or ""
    if "kubepods" in cgroup:
        hints.append("kubernetes")
    return {"hints": hints}


def describe_accelerators() -> list[dict[str, Any]]:
    """NVIDIA GPUs via NVML, else via nvidia-smi; an empty list when none are visible."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return [{"vendor": "NVIDIA", "name": _s(pynvml.nvmlDeviceGetName(h)),
                     "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(h).total),
                     "driver": _s(pynvml.nvmlSystemGetDriverVersion())}
                    for h in (pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount()))]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML library or no GPU: try the command line next
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        gpus = []
        for line in out.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 3 and parts[1].isdigit():
                gpus.append({"vendor": "NVIDIA", "name": parts[0], "memory_bytes": int(parts[1]) * 2**20,
                             "driver": parts[2]})
        return gpus
    return []


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def describe_storage(path: str | Path) -> dict[str, Any]:
    """The filesystem and block device holding ``path`` (device name, rotational or not, model)."""
    p = Path(path).resolve()
    mount, fstype, source = "/", None, None
    for line in (_read("/proc/mounts") or "").splitlines():
        fields = line.split()
        if len(fields) >= 3 and (str(p) == fields[1] or str(p).startswith(fields[1].rstrip("/") + "/")) \
                and len(fields[1]) >= len(mount):
            mount, fstype, source = fields[1], fields[2], fields[0]
    out: dict[str, Any] = {"path": str(p), "mount": mount, "filesystem": fstype, "source": source}
    try:
        st = os.stat(p)
        dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
        sysdev = Path("/sys/dev/block") / dev
        if sysdev.exists():
            name = sysdev.resolve().name
            disk = sysdev.resolve().parent if (sysdev.resolve().parent / "queue").is_dir() else sysdev.resolve()
            out.update({"device": name, "rotational": _read(str(disk / "queue" / "rotational")) == "1",
                        "model": _read(str(disk / "device" / "model"))})
        free = os.statvfs(p)
        out["capacity_bytes"] = free.f_blocks * free.f_frsize
    except OSError:
        pass
    return out


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[3]
    head = _read(str(root / ".git" / "HEAD"))
    if not head:
        return None
    if head.startswith("ref: "):
        return _read(str(root / ".git" / head[5:]))
    return head


@cache
def _packages() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def describe_host(data_path: str | Path | None = None) -> dict[str, Any]:
    """The whole description; ``data_path`` adds the storage of a dataset or results directory."""
    mem = _meminfo()
    cpu = describe_cpu()
    accel = describe_accelerators()
    os_info = describe_os()
    doc: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cpu_model": cpu["model"],
        "logical_cores": cpu["logical_cpus"],
        "usable_cores": cpu["usable_cpus"],
        "memory_bytes": mem.get("MemTotal") or _sysconf_memory(),
        "os": f"{os_info['system']} {os_info['kernel']}",
        "machine": os_info["machine"],
        "python": platform.python_version(),
        "cpu": cpu,
        "memory": {"total_bytes": mem.get("MemTotal"), "available_bytes": mem.get("MemAvailable")},
        "operating_system": os_info,
        "accelerators": accel,
        "virtualization": describe_virtualization(cpu["flags"]),
        "software": {"mlmeter": __version__, "mlmeter_git_commit": _git_commit(),
                     "python": f"{platform.python_implementation()} {platform.python_version()}",
                     "packages": _packages()},
    }
    if data_path is not None:
        doc["storage"] = describe_storage(data_path)
    doc["inventory"] = inventory()
    doc["mlperf_fields"] = mlperf_fields(doc)
    return doc


def _sysconf_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _storage_fields(inv: dict[str, Any], storage: dict[str, Any]) -> tuple[str, str]:
    """(``host_storage_type``, ``host_storage_capacity``): every disk (``SSD + HDD``, ``256 GB HDD``), else the
    filesystem of the data path."""
    by_kind: dict[str, int] = {}
    for d in inv.get("disks", []):
        by_kind[d["kind"]] = by_kind.get(d["kind"], 0) + d["bytes"]
    if by_kind:
        return (" + ".join(sorted(by_kind, reverse=True)),
                " + ".join(f"{round(b / 1e9)} GB {k}" for k, b in sorted(by_kind.items(), reverse=True)))
    kind = ("HDD" if storage.get("rotational") else "SSD") if "rotational" in storage else ""
    return kind, f"{storage['capacity_bytes'] / 2**30:.0f} GB" if "capacity_bytes" in storage else ""


def mlperf_fields(d: dict[str, Any]) -> dict[str, Any]:
    """The MLPerf system-description fields this description can fill (others are the submitter's), in the
    value formats of MLCommons' ``mlperf-sysinfo``."""
    cpu, accel = d["cpu"], d["accelerators"]
    mem = d["memory"]["total_bytes"]
    inv = d.get("inventory", {})
    pkgs = d["software"]["packages"]
    frameworks = [f"{k} {v}" for k, v in pkgs.items() if k in ("onnxruntime", "onnxruntime-gpu", "torch", "openvino")]
    storage_type, storage_capacity = _storage_fields(inv, d.get("storage", {}))
    nics = inv.get("network_cards", [])
    numa = inv.get("numa_nodes", 1)
    size = f"{len(accel)}x {accel[0]['name']}" if accel else f"{cpu['sockets']}x {cpu['model']}"
    return {
        "system_name": d["hostname"],
        "system_size": size,
        "number_of_nodes": 1,
        "host_processors_per_node": cpu["sockets"],
        "host_processor_model_name": cpu["model"],
        "host_processor_core_count": cpu["physical_cores"] // max(cpu["sockets"], 1),
        "host_processor_vcpu_count": cpu["logical_cpus"],
        "host_processor_frequency": f"{cpu['max_mhz']} MHz" if cpu["max_mhz"] else "",
        "host_processor_caches": inv.get("caches") or ", ".join(cpu["caches"]),
        "host_processor_interconnect": "Single NUMA node" if numa <= 1 else f"{numa} NUMA nodes",
        "host_memory_capacity": f"{round(mem / 1e9)}G" if mem else "",
        "host_storage_type": storage_type,
        "host_storage_capacity": storage_capacity,
        "host_networking": " + ".join(sorted(set(nics))) if nics else "",
        "host_network_card_count": " + ".join(f"{nics.count(k)}x {k}" for k in sorted(set(nics))) if nics else "",
        "accelerators_per_node": str(len(accel)),
        "accelerator_model_name": accel[0]["name"] if accel else "N/A",
        "accelerator_memory_capacity": f"{accel[0]['memory_bytes'] / 2**30:.0f} GB" if accel else "N/A",
        "framework": ", ".join(frameworks) or f"mlmeter {d['software']['mlmeter']}",
        "operating_system": inv.get("os_release") or d["operating_system"]["distribution"] or d["os"],
        "other_software_stack": f"Python {d['python']}, mlmeter {d['software']['mlmeter']}",
    }
