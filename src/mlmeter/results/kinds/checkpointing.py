"""The ``checkpointing`` kind: MLPerf Storage checkpoint writes and reads of an LLM's shards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmeter.results.kinds import KindAdapter, power_metrics
from mlmeter.results.record import Metric
from mlmeter.verdict import Check, failure


class CheckpointingKind(KindAdapter):
    name = "checkpointing"
    legacy_schema = "mlmeter.storage.checkpoint_result"

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        ranks = Check("ranks", not body.get("failures"), "every rank's writes and reads timed",
                      f"{len(body.get('per_rank') or [])} of {body.get('num_processes')} ranks")
        return [ranks] + [failure(f, "rank") for f in body.get("failures") or []]

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        out = []
        for phase in ("save", "load"):
            st = body.get(phase) or {}
            per = st.get("duration_per_checkpoint_max_over_ranks_s") or []
            size = body.get("checkpoint_size_GiB") or 0
            out.append(Metric(f"{phase} GiB/s", st.get("throughput_mean_GiB_per_s"), "GiB/s", True,
                              replicates=tuple(size / d for d in per if d), replicated_by="checkpoints"))
        return [m for m in out if m.value is not None] + power_metrics(power)

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"model": body.get("model"), "num_processes": body.get("num_processes")}


ADAPTER = CheckpointingKind()
