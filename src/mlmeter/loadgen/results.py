"""Metrics, validity checks as data, and explanations of failed checks (spec §7.3, §8–§10).

:func:`compute` turns the raw timestamps of a performance pass into a frozen :class:`PerformanceResult`.
Every validity rule is a :class:`Check` carrying what was required, what was measured, the official
recommendation and mlmeter's concrete advice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlmeter.loadgen.early_stopping import (
    OverlatencyCheck,
    PercentileEstimate,
    overlatency_check,
    percentile_estimate,
)
from mlmeter.loadgen.recorder import PassTiming
from mlmeter.loadgen.scenarios.policy import PassFigures, div, scenario_policy
from mlmeter.loadgen.settings import EffectiveSettings, TestScenario
from mlmeter.loadgen.timeline import latency_histogram
from mlmeter.verdict import Check

PERCENTILES = (0.50, 0.90, 0.95, 0.97, 0.99, 0.999)


@dataclass(frozen=True)
class LatencyStats:
    min: int
    max: int
    mean: int
    percentiles: dict[float, int]

    @staticmethod
    def of_sorted(s: np.ndarray) -> LatencyStats:
        """Statistics of an ascending array (percentile = element ``int(n * p)``, mean truncated)."""
        if len(s) == 0:
            return LatencyStats(0, 0, 0, dict.fromkeys(PERCENTILES, 0))
        n = len(s)
        return LatencyStats(
            int(s[0]), int(s[-1]), int(s.sum() // n), {p: int(s[min(int(n * p), n - 1)]) for p in PERCENTILES}
        )


@dataclass(frozen=True)
class TokenStats:
    token_count: int
    ttft: LatencyStats
    tpot: LatencyStats
    ttft_list: np.ndarray = field(repr=False)
    tpot_list: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class PerformanceResult:
    """Everything the summary, the detail log and ``result.json`` report about a performance pass."""

    scenario: TestScenario
    settings: EffectiveSettings
    sample_count: int
    query_count: int
    latency: LatencyStats
    query_latency: LatencyStats | None
    final_query_scheduled_s: float
    final_query_issued_s: float
    final_query_done_s: float
    max_latency_s: float
    overlatency_count: int
    metrics: dict[str, float]
    checks: tuple[Check, ...]
    early_stopping: PercentileEstimate | OverlatencyCheck | None
    early_stopping_99: PercentileEstimate | None
    token_early_stopping: tuple[Any, Any] | None  # (TTFT, TPOT) estimates or overlatency checks
    token_early_stopping_99: tuple[Any, Any] | None  # SingleStream: the extra 99th-percentile estimates
    tokens: TokenStats | None
    histogram: dict[str, list[int]] = field(default_factory=dict)
    """Log-spaced histogram of the sample latencies (query latencies for MultiStream)."""
    timeline: dict[str, Any] = field(default_factory=dict)
    """Issued and completed samples per time bucket (``Timeline.summary``)."""

    @property
    def valid(self) -> bool:
        return all(c.passed for c in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


def compute(es: EffectiveSettings, t: PassTiming) -> PerformanceResult:
    """Metrics and validity of one performance pass (sorts ``t``'s latency arrays in place)."""
    sc = es.scenario
    lat = t.sample_latency
    n = len(lat)
    nq = t.query_count
    policy = scenario_policy(sc)
    overlatency = int((lat > es.target_latency_ns).sum()) if policy.counts_overlatency else 0
    lat.sort()
    latency = LatencyStats.of_sorted(lat)
    start = t.start_ns
    fq_sched = (t.final_scheduled_ns - start) / 1e9
    fq_issued = (t.final_issued_ns - start) / 1e9
    fq_done = (t.final_done_ns - start) / 1e9
    max_lat_s = latency.max / 1e9
    mean_s = latency.mean / 1e9
    qlat = t.query_latency
    query_latency = None
    if qlat is not None:
        qlat.sort()
        query_latency = LatencyStats.of_sorted(qlat)

    tokens = _token_stats(t) if es.use_token_latencies else None
    figures = PassFigures(n, nq, fq_sched, fq_issued, fq_done, max_lat_s, mean_s)
    metrics = _metrics(es, figures, latency, tokens)
    if policy.closed:
        metrics["percentile_latency_ns"] = sorted_percentile(qlat if qlat is not None else lat, es.target_latency_percentile)

    es_main: PercentileEstimate | OverlatencyCheck | None = None
    es_99: PercentileEstimate | None = None
    tok_es: tuple[Any, Any] | None = None
    tok_99: tuple[Any, Any] | None = None
    if tokens is not None and policy.first_token:
        tok_es = _token_early_stopping(es, nq, tokens, qlat)
        es_ok = all(x is not None and x.satisfied for x in tok_es)
        if sc == TestScenario.SingleStream:
            tok_99 = (percentile_estimate(tokens.ttft_list, 0.99), percentile_estimate(tokens.tpot_list, 0.99))
    else:
        es_main, es_99, es_ok = policy.early_stopping(es, lat, qlat, nq, overlatency)

    checks = _checks(es, figures, lat, tokens, es_ok, es_main, tok_es)
    return PerformanceResult(
        scenario=sc,
        settings=es,
        sample_count=n,
        query_count=nq,
        latency=latency,
        query_latency=query_latency,
        final_query_scheduled_s=fq_sched,
        final_query_issued_s=fq_issued,
        final_query_done_s=fq_done,
        max_latency_s=max_lat_s,
        overlatency_count=overlatency,
        metrics=metrics,
        checks=tuple(checks),
        early_stopping=es_main,
        early_stopping_99=es_99,
        token_early_stopping=tok_es,
        token_early_stopping_99=tok_99,
        tokens=tokens,
        histogram=latency_histogram(qlat if qlat is not None else lat),
        timeline=t.timeline.summary() if t.timeline is not None else {},
    )


def _metrics(es: EffectiveSettings, f: PassFigures, latency: LatencyStats, tokens: TokenStats | None) -> dict[str, float]:
    """The scenario's throughputs, then the token throughputs, then the inferred token rates (spec §8)."""
    policy = scenario_policy(es.scenario)
    m = policy.throughput(f)
    if tokens is not None:
        tc = tokens.token_count
        m.update(policy.token_throughput(f, tc))
        m["token_throughput_with_loadgen_overhead"] = div(tc, f.final_issued_s)
        m["token_throughput"] = div(tc, latency.mean * f.samples)
    if es.infer_token_latencies:
        m.update(policy.inferred_tokens(f, es.token_latency_scaling_factor))
    return m


def sorted_percentile(s: np.ndarray, p: float) -> int:
    """Official percentile of an ascending array: the element at ``int(n * p)``."""
    if len(s) == 0:
        return 0
    return int(s[min(int(len(s) * p), len(s) - 1)])


def _token_stats(t: PassTiming) -> TokenStats:
    ttft = np.sort(t.ttft) if t.ttft is not None else np.zeros(0, dtype=np.int64)
    tpot = np.sort(t.tpot) if t.tpot is not None else np.zeros(0, dtype=np.int64)
    return TokenStats(t.token_count, LatencyStats.of_sorted(ttft), LatencyStats.of_sorted(tpot), ttft, tpot)


def _token_early_stopping(
    es: EffectiveSettings, nq: int, tokens: TokenStats, qlat: np.ndarray | None
) -> tuple[Any, Any]:
    """(TTFT, TPOT) early stopping. As officially, TTFT is evaluated only once TPOT has passed (None otherwise)."""
    p = es.target_latency_percentile
    if scenario_policy(es.scenario).counts_overlatency:
        tpot: Any = overlatency_check(nq, int((tokens.tpot_list > es.tpot_latency).sum()), p)
        if not tpot.satisfied:
            return None, tpot
        return overlatency_check(nq, int((tokens.ttft_list > es.ttft_latency).sum()), p), tpot
    ms = scenario_policy(es.scenario).query_latency and qlat is not None
    tpot = percentile_estimate(qlat if ms else tokens.tpot_list, p)  # type: ignore[arg-type]
    if not tpot.satisfied:
        return None, tpot
    return percentile_estimate(qlat if ms else tokens.ttft_list, p), tpot  # type: ignore[arg-type]


_REC_PERF = "Reduce target QPS to improve latency."
_REC_QUERIES = (
    "The test exited early, before enough queries were issued.\n   See the detailed log for why this may have occurred."
)


def _checks(
    es: EffectiveSettings,
    f: PassFigures,
    lat: np.ndarray,
    tokens: TokenStats | None,
    es_ok: bool,
    es_main: PercentileEstimate | OverlatencyCheck | None,
    tok_es: tuple[Any, Any] | None,
) -> list[Check]:
    policy = scenario_policy(es.scenario)
    n, nq = f.samples, f.queries
    checks: list[Check] = []
    min_s = es.min_duration_ms / 1000
    if policy.counts_overlatency:
        checks.append(_perf_check(es, lat, tokens))
    span = policy.duration_span(f)
    dur_ok = span >= min_s
    checks.append(
        Check(
            "min_duration",
            dur_ok,
            f">= {min_s:g} s",
            f"{span:.3f} s",
            "" if dur_ok else policy.duration_recommendation,
            "" if dur_ok else _duration_advice(es, span, nq, n),
        )
    )
    q_ok = nq >= es.min_query_count and n >= es.min_sample_count
    checks.append(
        Check(
            "min_queries",
            q_ok,
            f">= {es.min_query_count} queries and >= {es.min_sample_count} samples",
            f"{nq} queries, {n} samples",
            "" if q_ok else _REC_QUERIES,
            "" if q_ok else _queries_advice(es, nq, n, span),
        )
    )
    checks.append(_early_stopping_check(es, es_ok, es_main, tok_es, nq, span))
    return checks


def _perf_check(es: EffectiveSettings, lat: np.ndarray, tokens: TokenStats | None) -> Check:
    p = es.target_latency_percentile
    if tokens is not None:
        ttft = sorted_percentile(tokens.ttft_list, p)
        tpot = sorted_percentile(tokens.tpot_list, p)
        ok_ttft, ok_tpot = ttft <= es.ttft_latency, tpot <= es.tpot_latency
        recs = []
        if not ok_ttft:
            recs.append("TTFT constrain not met: " + _REC_PERF)
        if not ok_tpot:
            recs.append("TPOT constrain not met: " + _REC_PERF)
        return Check(
            "performance_constraints",
            ok_ttft and ok_tpot,
            f"p{p * 100:g} TTFT <= {es.ttft_latency} ns and p{p * 100:g} TPOT <= {es.tpot_latency} ns",
            f"TTFT {ttft} ns, TPOT {tpot} ns",
            "\n * ".join(recs),
            "" if ok_ttft and ok_tpot else "Lower server_target_qps until both token latencies fit their bounds.",
        )
    measured = sorted_percentile(lat, p)
    ok = measured <= es.target_latency_ns
    advice = ""
    if not ok:
        advice = (
            f"the p{p * 100:g} latency is {measured / 1e6:.3f} ms against a bound of "
            f"{es.target_latency_ns / 1e6:.3f} ms ({measured / max(es.target_latency_ns, 1):.2f}x): lower "
            f"server_target_qps below {es.target_qps:g}, or find the highest passing rate with mode=FindPeakPerformance."
        )
    return Check(
        "performance_constraints",
        ok,
        f"p{p * 100:g} latency <= {es.target_latency_ns} ns",
        f"{measured} ns",
        "" if ok else _REC_PERF,
        advice,
    )


def _duration_advice(es: EffectiveSettings, span: float, nq: int, n: int) -> str:
    min_s = es.min_duration_ms / 1000
    sc = es.scenario
    base = f"the run covered {span:.3f} s of the required {min_s:g} s (short by {min_s - span:.3f} s). "
    if sc in (TestScenario.SingleStream, TestScenario.MultiStream):
        key = "single_stream" if sc == TestScenario.SingleStream else "multi_stream"
        per_query = span / max(nq, 1)
        return base + (
            f"The SUT answered in about {per_query * 1e9:.0f} ns per query, faster than {key}_expected_latency_ns "
            f"= {1e9 / es.target_qps:.0f}, so too few queries were generated: set {key}_expected_latency_ns "
            f"to at most {max(per_query * 1e9 * 0.5, 1):.0f}."
        )
    if sc == TestScenario.Server:
        return base + (
            f"Server issues exactly the generated schedule ({nq} queries at {es.target_qps:g} QPS); "
            "raise server_target_qps or min_query_count so the schedule spans the minimum duration."
        )
    rate = n / span if span > 0 else 0
    return base + (
        f"The SUT processed {n} samples at about {rate:.1f} samples/s: set offline_expected_qps to at least "
        f"{rate * 1.0:.1f} so the single query holds enough samples."
    )


def _queries_advice(es: EffectiveSettings, nq: int, n: int, span: float) -> str:
    need = es.min_query_count
    text = f"{nq} queries were issued, {need} are required (short by {max(need - nq, 0)})."
    if es.max_query_count and nq >= es.max_query_count:
        text += f" max_query_count={es.max_query_count} stopped the run: raise it or set it to 0."
    elif es.max_duration_ms and span * 1000 >= es.max_duration_ms:
        text += f" max_duration_ms={es.max_duration_ms} stopped the run: raise it or set it to 0."
    else:
        text += " See the errors in the detail log (max limits, out of generated queries, SUT failures)."
    return text


def _early_stopping_check(
    es: EffectiveSettings,
    ok: bool,
    es_main: PercentileEstimate | OverlatencyCheck | None,
    tok_es: tuple[Any, Any] | None,
    nq: int,
    span: float,
) -> Check:
    qps = nq / span if span > 0 else 0.0
    if isinstance(es_main, OverlatencyCheck):
        need = es_main.needed
        advice = ""
        if not ok:
            advice = (
                f"early stopping needs >= {need} queries with {es_main.overlatency} over-latency queries; you "
                f"issued {nq}"
            )
            if qps > 0:
                advice += f": raise min_duration to >= {math.ceil(need / qps)} s at this QPS"
            advice += ", or lower server_target_qps so fewer queries miss the latency bound."
        return Check(
            "early_stopping",
            ok,
            f">= {need} queries for {es_main.overlatency} over-latency",
            f"{nq} queries",
            "",
            advice,
        )
    if isinstance(es_main, PercentileEstimate):
        advice = ""
        if not ok:
            advice = f"early stopping needs >= {es_main.min_queries} queries; you issued {nq}"
            if qps > 0:
                advice += f": raise min_duration to >= {math.ceil(es_main.min_queries / qps)} s at this rate"
            advice += f" or min_query_count to >= {es_main.min_queries}."
        return Check("early_stopping", ok, f">= {es_main.min_queries} queries", f"{nq} queries", "", advice)
    if tok_es is not None:
        return Check("early_stopping", ok, "TTFT and TPOT early stopping", f"{nq} queries", "",
                     "" if ok else "run longer (min_duration / min_query_count) or lower the load.")
    return Check("early_stopping", True, "not applicable (Offline)", "-")
