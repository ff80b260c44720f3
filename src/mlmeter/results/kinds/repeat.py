"""The ``repeat`` kind: N runs of one kind summarised (``--repeat N``); mlmeter's statistics, not MLPerf's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmeter.results.kinds import KindAdapter
from mlmeter.results.record import Metric
from mlmeter.verdict import Check


class RepeatKind(KindAdapter):
    name = "repeat"
    legacy_schema = "mlmeter.repeat.result"
    legacy_keys = ("verdict",)

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        """One check per member run: a repeat is VALID when every member is."""
        return [Check(f"run {i + 1}", v in ("VALID", "NOT_JUDGED", "CLOSED", "OPEN"), "VALID", str(v),
                      f"member {path} is {v}")
                for i, (v, path) in enumerate(zip(body.get("verdicts") or [], body.get("runs") or [], strict=False))]

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        return [Metric(m["name"], m["summary"]["mean"], m["unit"], m["higher_is_better"], m["percentile"],
                       tuple(m["values"]), "runs") for m in body.get("metrics") or []]

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(body.get("identity") or {})

    def environment(self, body: Mapping[str, Any], system: Mapping[str, Any] | None) -> dict[str, Any]:
        return dict(body.get("environment") or {})

    def title(self, body: Mapping[str, Any]) -> str:
        ident = super().title(body)
        return f"{len(body.get('runs') or [])} × {body.get('kind')}" + (f" · {ident}" if ident else "")


ADAPTER = RepeatKind()
