"""The ``loadgen`` kind: one LoadGen test (``mlmeter loadgen``, compat harnesses, the native API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlmeter.loadgen.scenarios.policy import headline_of
from mlmeter.results.kinds import KindAdapter, power_metrics
from mlmeter.results.record import Metric
from mlmeter.verdict import Check, failure

_IDENTITY_KEYS = {"Server": ("target_qps", "target_latency_ns", "target_latency_percentile"),
                  "MultiStream": ("samples_per_query", "target_latency_percentile"),
                  "SingleStream": ("target_latency_percentile",)}


def latency_metrics(lg: Mapping[str, Any]) -> list[Metric]:
    lat = lg.get("query_latency") or lg.get("latency") or {}
    return [Metric(f"p{p} latency", lat[f"p{p}"] / 1e6, "ms", False, True) for p in ("50", "90", "99")
            if lat.get(f"p{p}") is not None]


def headline(lg: Mapping[str, Any]) -> Metric | None:
    """The scenario's MLPerf metric (its policy's headline): a latency percentile or a throughput, whose
    batch means are its replicates."""
    pct = (lg.get("settings") or {}).get("effective", {}).get("target_latency_percentile", 0.9)
    h = headline_of(str(lg.get("scenario")), lg.get("metrics") or {}, pct)
    if h is None:
        return None
    reps = () if h.percentile else batch_means(lg.get("timeline"))
    return Metric(h.name, h.shown, h.unit, h.higher_is_better, h.percentile, reps, "batch means" if reps else "")


def loadgen_metrics(lg: Mapping[str, Any]) -> list[Metric]:
    head = headline(lg)
    return ([head] if head else []) + [m for m in latency_metrics(lg) if not head or m.name != head.name]


def batch_means(timeline: Mapping[str, Any] | None, batches: int = 10) -> tuple[float, ...]:
    """Completed samples/s in ``batches`` consecutive stretches of a pass (the method of batch means: the
    spread of these rates estimates the noise of the run's throughput). The last, partial bucket is left out."""
    if not timeline or not timeline.get("completed"):
        return ()
    counts, width = timeline["completed"][:-1], float(timeline["bucket_s"])
    if len(counts) < 2 * batches:
        return ()
    size, extra = divmod(len(counts), batches)
    out, at = [], 0
    for i in range(batches):
        n = size + (1 if i < extra else 0)
        out.append(sum(counts[at:at + n]) / (n * width))
        at += n
    return tuple(out)


def legacy_checks(doc: Mapping[str, Any]) -> list[Check]:
    """A version-1 LoadGen document's checks, with its SUT failures (listed only in ``reasons``) as failures."""
    cs = [Check.from_dict(c) for c in doc.get("checks") or []]
    if doc.get("verdict") == "INVALID" and all(c.passed for c in cs):
        known = {c.recommendation for c in cs}
        extra = [r for r in doc.get("reasons") or [] if r not in known and r != "interrupted by the user"]
        cs += [failure(r) for r in extra] if extra or doc.get("complete", True) is False else [
            failure("INVALID (a version-1 result without a reason)")]
    return cs


def loadgen_identity(body: Mapping[str, Any]) -> dict[str, Any]:
    eff = (body.get("settings") or {}).get("effective") or {}
    keys = _IDENTITY_KEYS.get(str(body.get("scenario")), ())
    return {"scenario": body.get("scenario"), "mode": body.get("mode"), **{x: eff.get(x) for x in keys}}


class LoadgenKind(KindAdapter):
    name = "loadgen"
    legacy_schema = "mlmeter.loadgen.result"
    legacy_keys = ("verdict", "reasons", "checks", "complete")

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        return legacy_checks(body)

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        return [m for m in loadgen_metrics(body) if m.value is not None] + power_metrics(power)

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return loadgen_identity(body)

    def title(self, body: Mapping[str, Any]) -> str:
        return " · ".join(str(x) for x in (body.get("sut_name"), body.get("scenario"), body.get("mode")) if x)


ADAPTER = LoadgenKind()
