"""The ``training`` kind: N time-to-train runs of one workload, scored as MLPerf Training scores them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmeter.results.kinds import KindAdapter
from mlmeter.results.record import Metric
from mlmeter.verdict import Check


class TrainingKind(KindAdapter):
    name = "training"
    legacy_schema = "mlmeter.training.result"
    legacy_keys = ("valid",)

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        """A score needs the required converged runs; every problem the scorer found is a failed check."""
        runs = body.get("runs") or []
        converged = sum(1 for r in runs if r.get("converged"))
        cs = [Check("olympic_score", body.get("olympic_minutes") is not None,
                    f"{body.get('required_runs')} runs, enough of them converged", f"{converged} of {len(runs)} converged")]
        return cs + [Check("scoring", False, "no problem", str(p)) for p in body.get("problems") or []]

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        runs = [r["minutes"] for r in body.get("runs") or [] if r.get("converged") and r.get("minutes") is not None]
        out = [Metric("time to train (olympic)", body.get("olympic_minutes"), "min", False, replicates=tuple(runs),
                      replicated_by="runs")]
        pw = power or {}
        if pw.get("olympic_energy_j") is not None:
            out.append(Metric("energy to train (olympic)", pw["olympic_energy_j"], "J", False))
        return [m for m in out if m.value is not None]

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"benchmark": body.get("benchmark"), "quality_target": body.get("quality_target")}


ADAPTER = TrainingKind()
