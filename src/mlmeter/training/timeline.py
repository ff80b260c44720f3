"""The MLLOG preamble every reference workload logs (spec §1.4), and the rules file each one ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmeter.training.mllog import MLLogger
from mlmeter.util.atomic import write_text
from mlmeter.util.cache import default_cache_dir

RULES_DIR = Path(__file__).parent / "rules"


def log_init(log: MLLogger, benchmark: str, seed: int, hyperparameters: dict[str, Any], *, org: str = "mlmeter",
             platform: str = "cpu") -> None:
    """cache_clear, init_start, the submission keys, the seed and the hyperparameters (init_stop is the caller's)."""
    log.event("cache_clear", True)
    log.start("init_start")
    for key, value in (("submission_benchmark", benchmark), ("submission_org", org), ("submission_division", "open"),
                       ("submission_status", "research"), ("submission_platform", platform)):
        log.event(key, value)
    log.event("seed", seed)
    for key, value in hyperparameters.items():
        log.event(key, value)


def rules_file(workload: str) -> Path:
    """One self-contained rules file for the official checker: the common rules and the workload's own, written
    (again, when they changed) into the cache and returned."""
    text = (RULES_DIR / "common.yaml").read_text() + "\n" + (RULES_DIR / f"{workload}.yaml").read_text()
    path = default_cache_dir() / "training-rules" / f"mlmeter_{workload}.yaml"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
    return path
