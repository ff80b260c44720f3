"""CLOSED / OPEN / INVALID checks of a training run (spec §6.1), with one documented memory basis."""

from __future__ import annotations

from dataclasses import dataclass

from mlmeter.storage.sizing import training_data_size
from mlmeter.storage.workloads import TrainingWorkload

CLOSED_PARAMS = frozenset({
    "dataset.num_files_train", "dataset.num_subfolders_train", "dataset.data_folder", "reader.read_threads",
    "reader.computation_threads", "reader.transfer_size", "reader.odirect", "reader.prefetch_size",
    "checkpoint.checkpoint_folder", "storage.storage_type", "storage.storage_root",
})
OPEN_PARAMS = frozenset({"framework", "dataset.format", "dataset.num_samples_per_file", "reader.data_loader"})
CATEGORIES = ("CLOSED", "OPEN", "INVALID")


@dataclass(frozen=True)
class Issue:
    category: str
    message: str
    parameter: str = ""
    expected: str = ""
    actual: str = ""

    def text(self) -> str:
        detail = f" (Parameter: {self.parameter}, Expected: {self.expected}, Actual: {self.actual})" if self.parameter else ""
        return f"[{self.category}] {self.message}{detail}"

    def as_dict(self) -> dict[str, str]:
        return {"category": self.category, "message": self.message, "parameter": self.parameter,
                "expected": self.expected, "actual": self.actual}


def memory_basis_gib(declared_gib: float, measured_gib: float, hosts: int) -> float:
    """The memory the dataset must dwarf: the larger of the declared and the measured memory per host, times
    the number of client hosts (the official tools use three different bases; storage PR #786 chose max)."""
    return max(declared_gib, measured_gib) * hosts


def check(w: TrainingWorkload, params: dict[str, str], accelerators: int, memory_gib_per_host: float,
          hosts: int) -> list[Issue]:
    issues: list[Issue] = []
    need = training_data_size(w, memory_gib_per_host, hosts, accelerators).num_files_train
    have = w.dataset.num_files_train
    if have < need:
        issues.append(Issue("INVALID", "Insufficient number of training files", "dataset.num_files_train",
                            f">= {need}", str(have)))
    for key, value in params.items():
        if key.startswith("workflow"):
            continue
        if key in CLOSED_PARAMS:
            issues.append(Issue("CLOSED", f"Closed parameter override allowed: {key} = {value}"))
        elif key in OPEN_PARAMS:
            issues.append(Issue("OPEN", f"Open parameter override allowed: {key} = {value}"))
        else:
            issues.append(Issue("INVALID", f"Disallowed parameter override: {key} = {value}"))
    if w.reader.odirect and w.model != "unet3d":
        issues.append(Issue("INVALID", "reader.odirect is allowed only for unet3d", "reader.odirect", "False", "True"))
    return issues


def category(issues: list[Issue]) -> str:
    cats = {i.category for i in issues}
    return "INVALID" if "INVALID" in cats else "OPEN" if "OPEN" in cats else "CLOSED"
