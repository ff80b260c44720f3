"""The ``inference`` kind: one scenario of ``mlmeter infer``/``run`` (a backend, a workload, its accuracy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmeter.results.kinds import KindAdapter, host_environment, power_metrics
from mlmeter.results.kinds.loadgen import legacy_checks, loadgen_metrics
from mlmeter.results.record import Metric
from mlmeter.verdict import Check, failure


def accuracy_checks(accuracy: list[Mapping[str, Any]] | None) -> list[Check]:
    """One decisive check per quality metric: a run below its quality target — or above the metric's ``upper``
    limit, where it has one (MLPerf's LLM output lengths) — is INVALID."""
    return [_accuracy_check(a) for a in accuracy or []]


def _accuracy_check(a: Mapping[str, Any]) -> Check:
    upper = a.get("upper")
    over = upper is not None and a["value"] > upper
    expected = f">= {a['threshold']}" + (f" and <= {upper}" if upper is not None else "")
    why = f"above the upper limit {upper:.3f}" if over else f"below the target {a['threshold']:.3f}"
    return Check(str(a["name"]), bool(a["pass"]), expected, f"{a['value']}", f"{a['name']} {a['value']:.3f} is {why}",
                 decisive=True)


class InferenceKind(KindAdapter):
    name = "inference"
    legacy_schema = "mlmeter.inference.result"
    legacy_keys = ("result_validity", "reasons", "complete")

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        """Version-1 documents: the LoadGen's checks, then accuracy, then failures only ``reasons`` named."""
        cs = [c for c in legacy_checks(body.get("loadgen") or {}) if c.name != "sut" or c.decisive]
        cs += accuracy_checks(body.get("accuracy"))
        if body.get("result_validity") == "INVALID" and all(c.passed for c in cs):
            known = {c.reason() for c in cs}
            cs += [failure(r) for r in body.get("reasons") or [] if r not in known] or [
                failure("INVALID (a version-1 result without a reason)")]
        return cs

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        out = loadgen_metrics(body.get("loadgen") or {})
        out += [Metric(a["name"], a["value"], "", True) for a in body.get("accuracy") or []]
        return [m for m in out if m.value is not None] + power_metrics(power)

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"benchmark": body.get("benchmark"), "scenario": body.get("scenario"), "mode": body.get("mode"),
                "dataset": (body.get("dataset") or {}).get("name")}

    def environment(self, body: Mapping[str, Any], system: Mapping[str, Any] | None) -> dict[str, Any]:
        b = body.get("backend") or {}
        return {**host_environment(system), "backend": b.get("name"), "backend version": b.get("version"),
                "device": b.get("device")}


ADAPTER = InferenceKind()
