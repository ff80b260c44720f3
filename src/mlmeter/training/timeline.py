"""The MLLOG preamble every reference workload logs (spec §1.4), and the rules file each one ships."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmeter.training.checkpoint import Checkpointer, resume
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


_HYPERPARAMETERS = (  # key, check: what every reference workload logs once
    ("seed", "is_integer(v['value'])"),
    ("global_batch_size", "v['value'] > 0"),
    ("opt_name", "v['value'] == 'adam'"),
    ("opt_base_learning_rate", "v['value'] > 0"),
    ("train_samples", "v['value'] > 0"),
    ("eval_samples", "v['value'] > 0"),
)


def workload_rules(benchmark: str, target: str) -> str:
    """A workload's own rules: its benchmark name, its hyperparameter keys, its quality target expression."""
    parts = [f"# {benchmark}: benchmark name, hyperparameter keys and the quality target ({target}).\n",
             f"- KEY:\n    NAME:  submission_benchmark\n    REQ:   EXACTLY_ONE\n    CHECK: \" v['value'] == '{benchmark}' \"\n",
             "- KEY:\n    NAME:  eval_accuracy\n    REQ:   AT_LEAST_ONE\n    CHECK:\n"
             "        - \" s['run_started'] and not s['run_stopped'] \"\n        - \" 'epoch_num' in v['metadata'] \"\n"
             f"    ATLEAST_ONE_CHECK: \" {target} \"\n"]
    parts += [f"- KEY:\n    NAME:  {key}\n    REQ:   EXACTLY_ONE\n    CHECK: \" {check} \"\n"
              for key, check in _HYPERPARAMETERS]
    return "\n".join(parts)


@dataclass(frozen=True)
class TrainConfig:
    """What every reference workload's configuration has; each workload adds its own fields and defaults."""

    batch_size: int = 32
    learning_rate: float = 0.001
    max_epochs: int = 10
    threads: int = 1
    stop_at_target: bool = True
    """False: run all ``max_epochs`` (fixed work, for throughput measurements)."""


def begin_run(log: MLLogger, ckpt: Checkpointer | None, state: tuple[Any, Any, Any], *, benchmark: str,
              seed: int, cfg: TrainConfig, train_samples: int, eval_samples: int, org: str,
              platform: str) -> tuple[int, int, dict[str, Any] | None]:
    """Continue from the checkpoint (``state`` = model, optimizer, data-order generator), or log the preamble,
    ``init_stop`` and ``run_start``. Returns (first epoch, steps done, what was resumed or None)."""
    resumed = resume(ckpt, *state, log)
    if resumed is not None:
        return resumed["epoch"] + 1, resumed["steps"], resumed
    log_init(log, benchmark, seed, {"global_batch_size": cfg.batch_size, "opt_name": "adam",
                                    "opt_base_learning_rate": cfg.learning_rate, "train_samples": train_samples,
                                    "eval_samples": eval_samples}, org=org, platform=platform)
    log.end("init_stop")
    log.start("run_start")
    return 1, 0, None


def end_run(log: MLLogger, ckpt: Checkpointer | None, resumed: dict[str, Any] | None, *, seed: int, status: str,
            epoch_num: float, steps: int, value: float, started: float, **extra: Any) -> dict[str, Any]:
    """``run_stop`` with the status; the run's figures (seed, status, epochs, steps, the last evaluated quality,
    seconds since ``started`` on ``time.perf_counter``, any ``extra``) plus the checkpoint report."""
    figures = {"seed": seed, "status": status, "epochs": epoch_num, "steps": steps, "eval_accuracy": value,
               "train_seconds": time.perf_counter() - started, **extra}
    log.end("run_stop", metadata={"status": status, "epoch_num": epoch_num})
    return {**figures, **(ckpt.report(resumed) if ckpt is not None else {})}


def optimize(opt: Any, loss: Any) -> None:
    """One optimizer step on ``loss``."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def evaluate(log: MLLogger, model: Any, epoch_num: float, measure: Callable[[], float]) -> float:
    """eval_start, the quality metric measured in inference mode, eval_accuracy, eval_stop; the model is put
    back into training mode."""
    import torch

    log.start("eval_start", metadata={"epoch_num": epoch_num})
    model.eval()
    with torch.inference_mode():
        value = float(measure())
    model.train()
    log.event("eval_accuracy", value, metadata={"epoch_num": epoch_num})
    log.end("eval_stop", metadata={"epoch_num": epoch_num})
    return value


def rules_file(workload: str, benchmark: str, target: str) -> Path:
    """One self-contained rules file for the official checker — the common rules and the workload's own —
    written (again, when it changed) into the cache; ``target`` is a Python expression over ``v['value']``."""
    text = (RULES_DIR / "common.yaml").read_text() + "\n" + workload_rules(benchmark, target)
    path = default_cache_dir() / "training-rules" / f"mlmeter_{workload}.yaml"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
    return path
