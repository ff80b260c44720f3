"""Periodic training checkpoints and resumption: a killed run continues from its last checkpoint, its MLLOG
file continued (no second ``run_start``), the clock never paused (the lost time is inside the time-to-train and
reported), and the time spent saving is measured."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


class Checkpointer:
    """``save`` every ``every`` epochs into ``path`` (atomically); ``load`` the last one, if any."""

    def __init__(self, path: Path, every: int = 1) -> None:
        self.path, self.every = path, max(1, every)
        self.seconds = 0.0
        self.saves = 0

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0

    def save(self, state: dict[str, Any]) -> None:
        import torch

        t0 = time.perf_counter()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        torch.save({**state, "saved_at": time.time()}, tmp)
        os.replace(tmp, self.path)
        self.seconds += time.perf_counter() - t0
        self.saves += 1

    def load(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        import torch

        state: dict[str, Any] = torch.load(self.path, weights_only=False)  # our own file, written above
        return state

    def report(self, resumed: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"checkpoint_saves": self.saves, "checkpoint_seconds": self.seconds}
        if resumed is not None:
            out["resumed_from_epoch"] = resumed["epoch"]
            out["lost_seconds"] = resumed["lost_seconds"]
        return out


def save(ckpt: Checkpointer, model: Any, opt: Any, gen: Any, epoch: int, steps: int) -> None:
    """Everything a run needs to continue after ``epoch``: weights, optimizer, data-order RNG, progress."""
    ckpt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
               "epoch": epoch, "steps": steps})


def resume(ckpt: Checkpointer | None, model: Any, opt: Any, gen: Any, log: Any) -> dict[str, Any] | None:
    """Restore the last checkpoint, if any, and log where the run resumes; None for a fresh run."""
    state = ckpt.load() if ckpt is not None else None
    if state is None:
        return None
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    lost = time.time() - float(state["saved_at"])
    log.event("mlmeter_resume", state["epoch"], metadata={"lost_seconds": round(lost, 3)})
    return {"epoch": int(state["epoch"]), "steps": int(state["steps"]), "lost_seconds": lost}

