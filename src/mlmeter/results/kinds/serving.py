"""The ``serving`` kind: a LoadGen test against a model server behind an endpoint (``mlmeter serve``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmeter.results.kinds import KindAdapter, host_environment
from mlmeter.results.kinds.loadgen import latency_metrics, loadgen_identity
from mlmeter.results.record import Metric
from mlmeter.serving.server_info import label
from mlmeter.verdict import Check


class ServingKind(KindAdapter):
    name = "serving"

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        return [Check.from_dict(c) for c in body.get("checks") or []]

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        m, tok = body.get("metrics") or {}, body.get("tokens") or {}
        rate = m.get("completed_tokens_per_second", m.get("tokens_per_second"))
        out = [Metric("output tokens/s", rate, "tokens/s", True)]
        peak = body.get("peak") or {}
        if peak.get("qps"):
            out.insert(0, Metric("peak VALID Server QPS", peak["qps"], "QPS", True))
        if peak.get("streams"):
            out.insert(0, Metric("peak concurrency meeting the bounds", peak["streams"], "streams", True))
        for key, name in (("ttft", "TTFT"), ("tpot", "TPOT")):
            st = tok.get(key) or {}
            if st.get("p99"):
                out.append(Metric(f"p99 {name}", st["p99"] / 1e6, "ms", False, True))
        good = ((body.get("serving") or {}).get("goodput") or {}).get("requests_per_second")
        out.append(Metric("goodput", good, "requests/s", True))
        out += latency_metrics(body)
        return [x for x in out if x.value is not None]

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        s = body.get("serving") or {}
        eff = (body.get("settings") or {}).get("effective") or {}
        return {"model": s.get("model"), **loadgen_identity(body), "api": s.get("api"),
                "max_tokens": s.get("max_tokens"), "ttft_latency": eff.get("ttft_latency"),
                "tpot_latency": eff.get("tpot_latency")}

    def environment(self, body: Mapping[str, Any], system: Mapping[str, Any] | None) -> dict[str, Any]:
        s = body.get("serving") or {}
        servers = sorted({label(i) for i in s.get("servers") or []})
        return {**host_environment(system), "endpoints": len(s.get("endpoints") or []),
                "server": ", ".join(servers) or None}


ADAPTER = ServingKind()
