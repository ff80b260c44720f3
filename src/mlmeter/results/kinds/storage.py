"""The ``storage`` kind: one MLPerf Storage training run (emulated accelerators reading a dataset)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmeter.results.kinds import KindAdapter, power_metrics
from mlmeter.results.record import Metric
from mlmeter.verdict import Check, failure


class StorageKind(KindAdapter):
    name = "storage"
    legacy_schema = "mlmeter.storage.result"

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        """The rules (an INVALID issue fails; CLOSED/OPEN are categories, not failures), the AU threshold, and
        every failed rank."""
        cs = [Check(i.get("parameter") or "rules", i.get("category") != "INVALID", i.get("expected", ""),
                    i.get("actual", ""), f"[{i.get('category')}] {i.get('message')}")
              for i in body.get("checks") or []]
        if body.get("au") is not None:
            cs.append(Check("accelerator_utilization", bool(body.get("au_pass")), f">= {body.get('au_threshold')} %",
                            f"{body['au']:.2f} %", advice="storage did not keep the emulated accelerators busy: "
                            "a faster storage system, more reader threads, or fewer accelerators"))
        failures = body.get("failures")
        if failures is None and not body.get("complete", True):  # version 1 listed them first in reasons
            failures = [r for r in body.get("reasons") or [] if not r.startswith("[") and not r.startswith("AU ")]
        return cs + [failure(f, "rank") for f in failures or []]

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        per = body.get("per_epoch") or {}
        out = [Metric("samples/s", body.get("samples_per_second"), "samples/s", True,
                      replicates=tuple(per.get("samples_per_second") or ()), replicated_by="epochs"),
               Metric("accelerator utilization", body.get("au"), "%", True, replicates=tuple(per.get("au") or ()),
                      replicated_by="epochs"),
               Metric("MiB/s", body.get("mb_per_second"), "MiB/s", True)]
        return [m for m in out if m.value is not None] + power_metrics(power)

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"model": body.get("model"), "accelerator": body.get("accelerator"),
                "num_accelerators": body.get("num_accelerators")}


ADAPTER = StorageKind()
