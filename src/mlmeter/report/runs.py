"""Run directories as the report sees them: the checked ``result.json`` plus what the charts need from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmeter.results.headline import Metric, identity, kind, metrics, verdict
from mlmeter.results.store import read_result
from mlmeter.training.logfile import read_log


@dataclass(frozen=True)
class RunView:
    path: Path
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return kind(self.doc)

    @property
    def verdict(self) -> str:
        return verdict(self.doc)

    @property
    def metrics(self) -> list[Metric]:
        return metrics(self.doc)

    @property
    def title(self) -> str:
        ident = identity(self.doc)
        parts = [str(v) for k, v in ident.items() if v is not None and k in (
            "benchmark", "scenario", "mode", "model", "accelerator", "quality_target")]
        if self.kind == "loadgen":
            parts.insert(0, str(self.doc.get("sut_name", "")))
        if self.kind == "repeat":
            parts.insert(0, f"{len(self.doc.get('runs', []))} × {self.doc.get('kind')}")
        return f"{self.kind}: " + " · ".join(p for p in parts if p)

    @property
    def loadgen(self) -> dict[str, Any] | None:
        if self.kind == "inference":
            return dict(self.doc.get("loadgen") or {})
        return self.doc if self.kind == "loadgen" else None


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
