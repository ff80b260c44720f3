"""One policy object per scenario: what differs between SingleStream, MultiStream, Server and Offline.

The rest of the LoadGen asks the scenario (``scenario_policy(es.scenario)``) instead of testing the enum: its
issue loop and completion window, its throughput formulas (spec §8), which final time the minimum duration is
held against and the official recommendation when it is not met, its early-stopping rule (spec §9), its
detail-log result items, and its headline — the MLPerf metric (official result key, name, unit, direction) that
the inference harness, the run record, the power meter and the CLI tables all show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mlmeter.loadgen.early_stopping import OverlatencyCheck, PercentileEstimate, overlatency_check, percentile_estimate
from mlmeter.loadgen.scenarios.base import PassContext
from mlmeter.loadgen.scenarios.closed_loop import issue_closed_loop
from mlmeter.loadgen.scenarios.offline import issue_offline
from mlmeter.loadgen.scenarios.server import issue_server
from mlmeter.loadgen.settings import EffectiveSettings, TestScenario

if TYPE_CHECKING:
    from mlmeter.loadgen.results import PerformanceResult

Items = list[tuple[str, object]]


def div(a: float, b: float) -> float:
    """Division as the official C++ computes it (x/0 is ±inf, 0/0 is NaN)."""
    if b == 0:
        return math.inf if a > 0 else (math.nan if a == 0 else -math.inf)
    return a / b


@dataclass(frozen=True)
class PassFigures:
    """The official result-formula inputs of one performance pass (seconds since the pass began)."""

    samples: int
    queries: int
    final_scheduled_s: float
    final_issued_s: float
    final_done_s: float
    max_latency_s: float
    mean_latency_s: float


@dataclass(frozen=True)
class Headline:
    """A scenario's MLPerf metric: the official result key and value, and how mlmeter names it."""

    key: str
    value: float
    name: str
    unit: str
    higher_is_better: bool
    percentile: bool

    @property
    def shown(self) -> float:
        """The value in ``unit`` (latencies are recorded in ns and shown in ms)."""
        return self.value / 1e6 if self.percentile else self.value


EarlyStopping = tuple["PercentileEstimate | OverlatencyCheck | None", "PercentileEstimate | None", bool]
"""(the estimate or overlatency check, SingleStream's extra 99th-percentile estimate, satisfied)."""


class Scenario:
    scenario: ClassVar[TestScenario]
    closed: ClassVar[bool] = False
    """One query outstanding at a time: the completion arrays are one reused window."""
    first_token: ClassVar[bool] = True
    """Token runs report a first token before the sample completes."""
    duration_recommendation: ClassVar[str] = ""
    counts_overlatency: ClassVar[bool] = False
    """Judged on a latency bound (Server): over-latency queries are counted and the constraint checked."""
    query_latency: ClassVar[bool] = False
    """Queries of several samples, judged on the query latency (MultiStream)."""
    one_query: ClassVar[bool] = False
    """All samples in one query (Offline)."""
    paced: ClassVar[bool] = False
    """Queries are sent at scheduled times (Server): the trace shows the schedule."""

    def loadable_padding(self, es: EffectiveSettings) -> int:
        """Samples a loaded set must hold beyond the performance count (MultiStream queries wrap)."""
        return es.samples_per_query - 1 if self.query_latency else 0

    def issue(self, ctx: PassContext) -> None:
        """The pass's issue loop (``scenarios/closed_loop.py``, ``server.py``, ``offline.py``)."""
        raise NotImplementedError

    def duration_span(self, f: PassFigures) -> float:
        """The time the minimum duration is held against."""
        return f.final_issued_s

    def throughput(self, f: PassFigures) -> dict[str, float]:
        return {}

    def token_throughput(self, f: PassFigures, tokens: int) -> dict[str, float]:
        return {"completed_tokens_per_second": div(tokens, f.final_done_s)}

    def inferred_tokens(self, f: PassFigures, factor: float) -> dict[str, float]:
        return {}

    def early_stopping(self, es: EffectiveSettings, lat: np.ndarray, qlat: np.ndarray | None,
                       queries: int, overlatency: int) -> EarlyStopping:
        return None, None, True

    def headline(self, metrics: Mapping[str, float], percentile: float) -> Headline | None:
        return None

    def result_items(self, r: PerformanceResult) -> Items:
        """The scenario's own detail-log result keys (throughputs, query latencies, early-stopping estimates)."""
        return []

    def summary_result(self, r: PerformanceResult) -> list[str]:
        """The summary's result lines under the header: the metric, then the token and inferred-token rates."""
        m = r.metrics
        out = []
        if r.tokens is not None:
            out.append(f"Completed tokens per second: {m['completed_tokens_per_second']:.2f}")
        return out

    def summary_stats(self, r: PerformanceResult) -> list[str]:
        """The scenario's "Additional Stats" lines before the latency block."""
        return []

    def summary_token_stats(self, r: PerformanceResult) -> list[str]:
        """The scenario's token lines after the latency block (the token latency blocks follow)."""
        return []


class SingleStream(Scenario):
    scenario = TestScenario.SingleStream
    closed = True
    duration_recommendation = "Decrease the expected latency so the loadgen pre-generates more queries."

    def issue(self, ctx: PassContext) -> None:
        issue_closed_loop(ctx)

    def throughput(self, f: PassFigures) -> dict[str, float]:
        return {"qps_with_loadgen_overhead": div(f.samples - 1, f.final_issued_s),
                "qps_without_loadgen_overhead": div(1, f.mean_latency_s)}

    def token_throughput(self, f: PassFigures, tokens: int) -> dict[str, float]:
        return {**super().token_throughput(f, tokens), "tps_with_loadgen_overhead": div(tokens, f.final_issued_s),
                "tps_without_loadgen_overhead": div(tokens, f.mean_latency_s * f.samples)}

    def early_stopping(self, es: EffectiveSettings, lat: np.ndarray, qlat: np.ndarray | None,
                       queries: int, overlatency: int) -> EarlyStopping:
        main = percentile_estimate(lat, es.target_latency_percentile)
        extra = main if es.target_latency_percentile == 0.99 else percentile_estimate(lat, 0.99)
        return main, extra, main.satisfied

    def headline(self, metrics: Mapping[str, float], percentile: float) -> Headline | None:
        v = metrics.get("percentile_latency_ns")
        if v is None:
            return None
        return Headline(f"result_{percentile * 100:.2f}_percentile_latency_ns", float(v),
                        f"p{percentile * 100:g} latency", "ms", False, True)

    def summary_result(self, r: PerformanceResult) -> list[str]:
        from mlmeter.loadgen.results import sorted_percentile

        p = r.settings.target_latency_percentile
        out = [f"{p * 100:.1f}th percentile latency (ns) : {int(r.metrics['percentile_latency_ns'])}"]
        if r.tokens is not None:
            out.append(f"{p * 100:.1f}th first token percentile latency (ns) : "
                       f"{sorted_percentile(r.tokens.ttft_list, p)}")
        return out

    def summary_stats(self, r: PerformanceResult) -> list[str]:
        m = r.metrics
        return [f"QPS w/ loadgen overhead         : {m['qps_with_loadgen_overhead']:.2f}",
                f"QPS w/o loadgen overhead        : {m['qps_without_loadgen_overhead']:.2f}", ""]

    def summary_token_stats(self, r: PerformanceResult) -> list[str]:
        m = r.metrics
        return [f"TPS w/ loadgen overhead         : {m['tps_with_loadgen_overhead']:.2f}",
                f"TPS w/o loadgen overhead        : {m['tps_without_loadgen_overhead']:.2f}"]

    def result_items(self, r: PerformanceResult) -> Items:
        main, e99 = r.early_stopping, r.early_stopping_99
        if r.token_early_stopping is not None and r.token_early_stopping_99 is not None:
            main, e99 = r.token_early_stopping[0], r.token_early_stopping_99[0]
        return [("result_qps_with_loadgen_overhead", float(r.metrics["qps_with_loadgen_overhead"])),
                ("result_qps_without_loadgen_overhead", float(r.metrics["qps_without_loadgen_overhead"])),
                ("early_stopping_latency_ss", main.estimate if main is not None else 0),  # type: ignore[union-attr]
                ("early_stopping_latency_ms", e99.estimate if e99 is not None and e99.satisfied else 0)]


class MultiStream(SingleStream):
    scenario = TestScenario.MultiStream
    query_latency = True

    def throughput(self, f: PassFigures) -> dict[str, float]:
        return {}  # the headline is the query-latency percentile

    def token_throughput(self, f: PassFigures, tokens: int) -> dict[str, float]:
        return Scenario.token_throughput(self, f, tokens)

    def early_stopping(self, es: EffectiveSettings, lat: np.ndarray, qlat: np.ndarray | None,
                       queries: int, overlatency: int) -> EarlyStopping:
        main = percentile_estimate(qlat if qlat is not None else lat, es.target_latency_percentile)
        return main, None, main.satisfied

    def headline(self, metrics: Mapping[str, float], percentile: float) -> Headline | None:
        h = super().headline(metrics, percentile)
        return None if h is None else Headline(f"result_{percentile * 100:.2f}_percentile_per_query_latency_ns",
                                               h.value, h.name, h.unit, False, True)

    def summary_stats(self, r: PerformanceResult) -> list[str]:
        return []

    def summary_token_stats(self, r: PerformanceResult) -> list[str]:
        return []

    def result_items(self, r: PerformanceResult) -> Items:
        ql = r.query_latency
        if ql is None:
            return []
        items: Items = [("result_min_query_latency_ns", ql.min), ("result_max_query_latency_ns", ql.max),
                        ("result_mean_query_latency_ns", ql.mean)]
        items += [(f"result_{p * 100:.2f}_percentile_per_query_latency_ns", v) for p, v in ql.percentiles.items()]
        est = r.early_stopping.estimate if isinstance(r.early_stopping, PercentileEstimate) else 0
        return items + [("early_stopping_latency_ms#multistream", est)]


class Server(Scenario):
    scenario = TestScenario.Server
    duration_recommendation = "Increase the target QPS so the loadgen pre-generates more queries."
    counts_overlatency = True
    paced = True

    def issue(self, ctx: PassContext) -> None:
        issue_server(ctx)

    def duration_span(self, f: PassFigures) -> float:
        return f.final_scheduled_s

    def throughput(self, f: PassFigures) -> dict[str, float]:
        return {"completed_samples_per_sec": div(f.samples - 1, f.final_done_s),
                "scheduled_samples_per_sec": div(f.samples - 1, f.final_scheduled_s)}

    def inferred_tokens(self, f: PassFigures, factor: float) -> dict[str, float]:
        return {"inferred_completed_tokens_per_second": div(factor * (f.samples - 1), f.final_done_s)}

    def early_stopping(self, es: EffectiveSettings, lat: np.ndarray, qlat: np.ndarray | None,
                       queries: int, overlatency: int) -> EarlyStopping:
        main = overlatency_check(queries, overlatency, es.target_latency_percentile)
        return main, None, main.satisfied

    def headline(self, metrics: Mapping[str, float], percentile: float) -> Headline | None:
        v = metrics.get("scheduled_samples_per_sec")
        return None if v is None else Headline("result_scheduled_samples_per_sec", float(v),
                                               "scheduled samples/s", "samples/s", True, False)

    def summary_result(self, r: PerformanceResult) -> list[str]:
        m = r.metrics
        out = [f"Completed samples per second    : {m['completed_samples_per_sec']:.2f}", *super().summary_result(r)]
        if r.settings.infer_token_latencies:
            out.append(f"Completed tokens per second (inferred): {m['inferred_completed_tokens_per_second']:.2f}")
        return out

    def summary_stats(self, r: PerformanceResult) -> list[str]:
        return [f"Scheduled samples per second : {r.metrics['scheduled_samples_per_sec']:.2f}"]

    def summary_token_stats(self, r: PerformanceResult) -> list[str]:
        return [f"Completed tokens per second                 : {r.metrics['completed_tokens_per_second']:.2f}"]

    def result_items(self, r: PerformanceResult) -> Items:
        return [("result_scheduled_samples_per_sec", float(r.metrics["scheduled_samples_per_sec"])),
                ("result_completed_samples_per_sec", float(r.metrics["completed_samples_per_sec"]))]


class Offline(Scenario):
    scenario = TestScenario.Offline
    first_token = False
    one_query = True
    duration_recommendation = "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query."

    def issue(self, ctx: PassContext) -> None:
        issue_offline(ctx)

    def duration_span(self, f: PassFigures) -> float:
        return f.max_latency_s

    def throughput(self, f: PassFigures) -> dict[str, float]:
        return {"samples_per_second": div(f.samples, f.max_latency_s)}

    def token_throughput(self, f: PassFigures, tokens: int) -> dict[str, float]:
        return {"tokens_per_second": div(tokens, f.max_latency_s)}

    def inferred_tokens(self, f: PassFigures, factor: float) -> dict[str, float]:
        return {"inferred_tokens_per_second": div(factor * f.samples, f.max_latency_s)}

    def headline(self, metrics: Mapping[str, float], percentile: float) -> Headline | None:
        v = metrics.get("samples_per_second")
        return None if v is None else Headline("result_samples_per_second", float(v), "samples/s", "samples/s",
                                               True, False)

    def summary_result(self, r: PerformanceResult) -> list[str]:
        m = r.metrics
        out = ["Samples per second: %g" % m["samples_per_second"]]
        if r.tokens is not None:
            out.append("Tokens per second: %g" % m["tokens_per_second"])
        if r.settings.infer_token_latencies:
            out.append("Tokens per second (inferred): %g" % m["inferred_tokens_per_second"])
        return out

    def result_items(self, r: PerformanceResult) -> Items:
        return [("result_samples_per_second", float(r.metrics["samples_per_second"]))]


SCENARIOS: dict[TestScenario, Scenario] = {p.scenario: p for p in (SingleStream(), MultiStream(), Server(), Offline())}


def scenario_policy(scenario: TestScenario | int | str) -> Scenario:
    """The policy of a scenario given as the enum, its value or its name."""
    if isinstance(scenario, str):
        return SCENARIOS[TestScenario[scenario]]
    return SCENARIOS[TestScenario(scenario)]


def headline_of(scenario: str, metrics: Mapping[str, Any], percentile: float) -> Headline | None:
    """The headline of a result read back from JSON (``scenario`` by name); None when it measured nothing."""
    if scenario not in TestScenario.__members__:
        return None
    return scenario_policy(scenario).headline(metrics, percentile)
