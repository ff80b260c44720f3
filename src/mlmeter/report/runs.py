"""Run directories as the report sees them: the loaded run record plus what the charts need from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmeter.results.record import Metric, RunRecord
from mlmeter.results.store import read_result
from mlmeter.training.logfile import read_log


@dataclass(frozen=True)
class RunView:
    path: Path
    record: RunRecord

    @property
    def doc(self) -> dict[str, Any]:
        """The kind's body."""
        return self.record.body

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def verdict(self) -> str:
        return self.record.verdict.value

    @property
    def metrics(self) -> list[Metric]:
        return list(self.record.metrics)

    @property
    def title(self) -> str:
        return self.record.title

    @property
    def loadgen(self) -> dict[str, Any] | None:
        if self.kind == "inference":
            return dict(self.doc.get("loadgen") or {})
        return self.doc if self.kind in ("loadgen", "serving") else None


def load_runs(paths: list[Path]) -> list[RunView]:
    """Every directory checked before anything is written (``StoreError`` names the first bad one)."""
    return [RunView(p, read_result(p)) for p in paths]


def quality_curves(doc: dict[str, Any]) -> list[tuple[str, list[float], list[float]]]:
    """Per training run: minutes since run_start and the evaluated quality (from the run's MLLOG file)."""
    out = []
    for i, r in enumerate(doc.get("runs") or []):
        path = Path(r.get("log") or "")
        if not path.is_file():
            continue
        log = read_log(path)
        start = log.first("run_start")
        if start is None:
            continue
        evals = log.all("eval_accuracy")
        out.append((f"run {i}", [(e.time_ms - start.time_ms) / 60000 for e in evals],
                    [float(e.value) for e in evals]))
    return out
