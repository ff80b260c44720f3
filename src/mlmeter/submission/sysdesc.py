"""The system description JSON of a submission (``systems/<id>.json``): what mlmeter measured on the machine the
runs ran on, the submitter's own answers from a YAML or JSON file, and the list of required fields still empty.

The field names and value formats are those of the MLPerf Inference rules' system description (and of
MLCommons' ``mlperf-sysinfo``, whose flat ``system_desc.json`` can itself be given as the file).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmeter.errors import MlmeterError
from mlmeter.submission import rules

# name -> what the submitter writes there; the required fields of the rules (v6.1)
REQUIRED: dict[str, str] = {
    "division": "closed or open (set by --division)", "submitter": "the organisation (set by --org)",
    "status": "available, preview or rdi", "system_name": "a descriptive name of the system",
    "number_of_nodes": "nodes in the system", "host_processor_model_name": "the CPU model",
    "host_processors_per_node": "CPU sockets per node", "host_processor_core_count": "cores per CPU",
    "host_memory_capacity": "RAM per node", "host_storage_capacity": "storage per node",
    "host_storage_type": "SSD, HDD, NVMe…", "accelerators_per_node": "accelerators per node (0 for none)",
    "accelerator_model_name": "the accelerator model (N/A for none)",
    "accelerator_memory_capacity": "memory per accelerator (N/A for none)", "framework": "the inference runtime",
    "operating_system": "the OS and version", "system_type": "datacenter, edge, or datacenter,edge",
    "other_software_stack": "drivers, libraries and their versions", "host_processor_frequency": "CPU clock",
    "host_processor_caches": "CPU caches", "host_memory_configuration": "DIMMs (e.g. 8x 32 GB DDR5-4800)",
    "host_processor_interconnect": "socket interconnect", "host_networking": "network of the host",
    "host_networking_topology": "how the nodes connect", "accelerator_frequency": "accelerator clock",
    "accelerator_host_interconnect": "PCIe generation and width (N/A for none)",
    "accelerator_interconnect": "between accelerators (N/A for none)",
    "accelerator_interconnect_topology": "their topology", "accelerator_memory_configuration":
        "memory type (N/A for none)", "accelerator_on-chip_memories": "on-chip memories", "cooling": "air, liquid…",
    "hw_notes": "hardware notes", "sw_notes": "software notes", "host_network_card_count": "NICs (e.g. 1x Ethernet)",
    "system_type_detail": "form factor or other detail",
}
MEANINGFUL = frozenset({
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_memory_configuration",
    "host_storage_capacity", "host_storage_type", "host_networking", "host_network_card_count",
    "host_networking_topology", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "accelerator_host_interconnect", "accelerator_memory_configuration", "accelerator_interconnect", "cooling",
    "framework", "operating_system", "other_software_stack"})
"""Required fields the checker also refuses empty."""
OPTIONAL = frozenset({
    "submitter_contact", "system_size", "shortened_system_name", "host_processor_vcpu_count", "other_hardware",
    "is_network", "network_type", "network_media", "network_rate", "nic_loadgen", "number_nic_loadgen",
    "net_software_stack_loadgen", "network_protocol", "number_connections", "nic_sut", "number_nic_sut",
    "net_software_stack_sut", "network_topology", "power_management", "filesystem", "boot_firmware_version",
    "management_firmware_version", "number_of_type_nics_installed", "nics_enabled_firmware", "nics_enabled_os",
    "nics_enabled_connected", "network_speed_mbit", "power_supply_quantity_and_rating_watts",
    "power_supply_details", "disk_drives", "disk_controllers", "system_power_only", "system_power_capacity",
    "mlperf_sysinfo"})
MEASUREMENTS = {"input_data_types": "fp32, int8… of the model's inputs",
                "retraining": "no, or how the model was retrained", "starting_weights_filename": "the weights file",
                "weight_data_types": "fp32, int8… of the weights", "weight_transformations":
                    "none, or the quantisation / conversion applied"}
"""The fields of each result's ``measurements.json``; the system file may give them under ``measurements``."""
_NO_ACCELERATOR = {"accelerator_model_name": "N/A", "accelerator_memory_capacity": "N/A",
                   "accelerator_host_interconnect": "N/A", "accelerator_interconnect": "N/A",
                   "accelerator_memory_configuration": "N/A"}


class SystemFileError(MlmeterError):
    """A system file that cannot be read or holds an unknown or wrong field; the message names file, line, key."""


@dataclass
class SystemFile:
    path: Path
    fields: dict[str, Any]
    measurements: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, key: str) -> str:
        return f"{self.path}:{self.lines[key]}" if key in self.lines else str(self.path)


def read_system_file(path: Path) -> SystemFile:
    """A YAML (or JSON) mapping of system-description fields, plus an optional ``measurements`` mapping."""
    try:
        import yaml
    except ImportError:
        raise SystemFileError("reading a system file needs PyYAML: pip install 'mlmeter[submission]'") from None
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise SystemFileError(f"--system {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SystemFileError(f"--system {path}: not a text file (expected YAML or JSON)") from None
    except yaml.YAMLError as exc:
        raise SystemFileError(f"--system {path}: not YAML or JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SystemFileError(f"--system {path}: expected a mapping of system-description fields")
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}
    sf = SystemFile(path, {}, {}, lines)
    for key, value in data.items():
        key = str(key)
        if key == "measurements":
            if not isinstance(value, dict) or set(map(str, value)) - set(MEASUREMENTS):
                bad = sorted(set(map(str, value)) - set(MEASUREMENTS)) if isinstance(value, dict) else []
                raise SystemFileError(f"{sf.where(key)}: measurements: expected a mapping of "
                                      f"{', '.join(MEASUREMENTS)}" + (f"; unknown {', '.join(bad)}" if bad else ""))
            sf.measurements = {str(k): v for k, v in value.items()}
        elif key not in REQUIRED and key not in OPTIONAL:
            near = difflib.get_close_matches(key, [*REQUIRED, *OPTIONAL, "measurements"], n=1)
            raise SystemFileError(f"{sf.where(key)}: unknown field {key!r}"
                                  + (f" (did you mean {near[0]!r}?)" if near else ""))
        elif isinstance(value, (dict, list)) and key != "mlperf_sysinfo":
            raise SystemFileError(f"{sf.where(key)}: {key} must be a single value, not a {type(value).__name__}")
        else:
            sf.fields[key] = value
    for key, valid in (("status", rules.STATUSES), ("system_type", rules.SYSTEM_TYPES)):
        value = sf.fields.get(key)
        if value is not None and str(value).lower() not in valid:
            raise SystemFileError(f"{sf.where(key)}: {key} {value!r} (valid: {', '.join(valid)})")
    return sf


def measured_fields(system: dict[str, Any], frameworks: list[str]) -> dict[str, Any]:
    """What mlmeter knows of the runs' machine: its recorded MLPerf fields, the runs' runtimes, N/A for the
    accelerator fields of a machine without one."""
    out: dict[str, Any] = dict(system.get("mlperf_fields", {}))
    if str(out.get("accelerators_per_node", "0")) == "0":
        out["accelerators_per_node"] = "0"
        out.update(_NO_ACCELERATOR)
    if frameworks:
        out["framework"] = ", ".join(frameworks)
    return out


def system_description(measured: dict[str, Any], given: SystemFile | None, *, org: str,
                       division: str) -> dict[str, Any]:
    """The flat description: every required field (measured, then the file's answers over them), the submitter
    and division of this package, and the file's optional fields."""
    doc: dict[str, Any] = dict.fromkeys(REQUIRED, "")
    doc.update({k: v for k, v in measured.items() if k in REQUIRED or k in OPTIONAL})
    if given is not None:
        doc.update({k: v for k, v in given.fields.items() if k != "mlperf_sysinfo"})
    doc["submitter"], doc["division"] = org, division
    return doc


def missing_fields(doc: dict[str, Any]) -> list[str]:
    """Required fields still missing, or empty where the rules need an answer."""
    return [k for k in REQUIRED if k not in doc or (k in MEANINGFUL and doc[k] in ("", None))]

