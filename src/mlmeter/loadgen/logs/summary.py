"""``mlperf_log_summary.txt`` in the official layout (spec §13.1), rendered from a :class:`PerformanceResult`."""

from __future__ import annotations

from collections.abc import Sequence

from mlmeter.loadgen.early_stopping import OverlatencyCheck, PercentileEstimate
from mlmeter.loadgen.results import PERCENTILES, LatencyStats, PerformanceResult
from mlmeter.loadgen.scenarios.policy import scenario_policy
from mlmeter.loadgen.settings import EffectiveSettings

RULE = "================================================"
_EQUAL_ISSUE_WARNING = (
    "WARNING: sample_concatenate_permutation was set to true. \n"
    "Generated samples per query might be different as the one in the setting.\n"
    "Check the generated_samples_per_query line in the detailed log for the real\n"
    "samples_per_query value\n"
)


def _yn(ok: bool) -> str:
    return "Yes" if ok else "NO"


def pct_label(p: float) -> str:
    return f"{p * 100:.2f}"


def early_stopping_text(es: PercentileEstimate | OverlatencyCheck | None,
                        extra99: PercentileEstimate | None = None) -> str:
    """The official early-stopping paragraph (lines joined by newlines); empty for a check not evaluated."""
    if es is None:
        return ""
    if isinstance(es, OverlatencyCheck):
        if es.satisfied:
            return " * Run successful."
        return (
            f" * Run unsuccessful.\n * Processed {es.queries} queries.\n"
            f" * Would need to run at least {es.needed - es.queries} more queries,\n"
            " with the run being successful if every additional\n query were under latency."
        )
    if not es.satisfied:
        text = (
            f" * Only processed {es.queries} queries.\n"
            f" * Need to process at least {es.min_queries} queries for early stopping."
        )
    else:
        text = (
            f" * Processed at least {es.min_queries} queries ({es.queries}).\n"
            f" * Would discard {es.discarded} highest latency queries.\n"
            f" * Early stopping {es.percentile * 100:.1f}th percentile estimate: {es.estimate}"
        )
    if extra99 is not None and es.satisfied:
        if not extra99.satisfied:
            text += (
                "\n * Not enough queries processed for 99.0th percentile\n"
                " early stopping estimate (would need to process at\n"
                f" least {extra99.min_queries} total queries)."
            )
        else:
            text += f"\n * Early stopping 99.0th percentile estimate: {extra99.estimate}"
    return text


def _token_block(t: LatencyStats, name: str, pct_name: str) -> list[str]:
    lines = [f"{label} {name}".ljust(len(name) + 20) + f": {v}" for label, v in (("Min", t.min), ("Max", t.max), ("Mean", t.mean))]
    return lines + [f"{pct_label(p)} percentile {pct_name}   : {t.percentiles[p]}" for p in PERCENTILES]


def latency_block(stats: LatencyStats) -> list[str]:
    lines = [
        f"Min latency (ns)                : {stats.min}",
        f"Max latency (ns)                : {stats.max}",
        f"Mean latency (ns)               : {stats.mean}",
    ]
    lines += [f"{pct_label(p)} percentile latency (ns)   : {stats.percentiles[p]}" for p in PERCENTILES]
    return lines


def test_parameters(es: EffectiveSettings) -> list[str]:
    lines = [f"samples_per_query : {es.samples_per_query}", "target_qps : %g" % es.target_qps]
    if es.use_token_latencies:
        lines += [f"ttft_latency (ns): {es.ttft_latency}", f"tpot_latency (ns): {es.tpot_latency}"]
    else:
        lines.append(f"target_latency (ns): {es.target_latency_ns}")
    b = int
    lines += [
        f"max_async_queries : {es.max_async_queries}",
        f"min_duration (ms): {es.min_duration_ms}",
        f"max_duration (ms): {es.max_duration_ms}",
        f"min_query_count : {es.min_query_count}",
        f"max_query_count : {es.max_query_count}",
        f"qsl_rng_seed : {es.qsl_rng_seed}",
        f"sample_index_rng_seed : {es.sample_index_rng_seed}",
        f"schedule_rng_seed : {es.schedule_rng_seed}",
        f"accuracy_log_rng_seed : {es.accuracy_log_rng_seed}",
        "accuracy_log_probability : %g" % es.accuracy_log_probability,
        f"accuracy_log_sampling_target : {es.accuracy_log_sampling_target}",
        f"print_timestamps : {b(es.print_timestamps)}",
        f"performance_issue_unique : {b(es.performance_issue_unique)}",
        f"performance_issue_same : {b(es.performance_issue_same)}",
        f"performance_issue_same_index : {es.performance_issue_same_index}",
        f"performance_sample_count : {es.performance_sample_count}",
        f"accuracy_sample_count : {es.accuracy_sample_count}",
    ]
    return lines


def summary_body(r: PerformanceResult, sut_name: str, mode_name: str, failures: Sequence[str] = ()) -> str:
    """Everything of the summary before the warnings/errors footer.

    ``failures`` (SUT misbehaviour, interruption) make the result INVALID and are listed under the verdict,
    an mlmeter addition to the official layout.
    """
    es = r.settings
    out = [RULE, "MLPerf Results Summary", RULE, f"SUT name : {sut_name}", f"Scenario : {r.scenario.name}",
           f"Mode     : {mode_name}"]
    out += scenario_policy(r.scenario).summary_result(r) + _verdict_lines(r, failures)
    out += ["", RULE, "Additional Stats", RULE] + _additional_stats(r)
    out += ["", RULE, "Test Parameters Used", RULE]
    out += test_parameters(es)
    text = "\n".join(out) + "\n"
    if es.sample_concatenate_permutation:
        text += _EQUAL_ISSUE_WARNING
    return text


def _verdict_lines(r: PerformanceResult, failures: Sequence[str]) -> list[str]:
    """The verdict, the checks, the official recommendations and the early-stopping paragraphs."""
    out: list[str] = []
    out.append(f"Result is : {'VALID' if r.valid and not failures else 'INVALID'}")
    if failures:
        out.append("  Run completed without SUT failures : NO")
        out += [" * " + f for f in failures]
    labels = {
        "performance_constraints": "  Performance constraints satisfied : ",
        "min_duration": "  Min duration satisfied : ",
        "min_queries": "  Min queries satisfied : ",
        "early_stopping": "  Early stopping satisfied: ",
    }
    for c in r.checks:
        out.append(labels[c.name] + _yn(c.passed))
    if not r.valid:  # official recommendations concern the official checks only
        out.append("Recommendations:")
        for c in r.checks:
            if not c.passed and c.recommendation:
                out.append(" * " + c.recommendation)
    if r.token_early_stopping is not None:
        extra = r.token_early_stopping_99 or (None, None)
        out.append("TTFT Early Stopping Result:")
        out.append(early_stopping_text(r.token_early_stopping[0], extra[0]))
        out.append("TPOT Early Stopping Result:")
        out.append(early_stopping_text(r.token_early_stopping[1], extra[1]))
    elif r.early_stopping is not None:
        out.append("Early Stopping Result:")
        out.append(early_stopping_text(r.early_stopping, r.early_stopping_99))
    return out


def _additional_stats(r: PerformanceResult) -> list[str]:
    policy = scenario_policy(r.scenario)
    out = policy.summary_stats(r)
    if policy.query_latency and r.query_latency is not None:
        out += ["Per-query latency:  ", *latency_block(r.query_latency)]
    else:
        out += latency_block(r.latency)
    if r.tokens is not None:
        out += ["", *policy.summary_token_stats(r)]
        if policy.first_token:
            out += _token_block(r.tokens.ttft, "First Token latency (ns)", "first token latency (ns)")
            out.append("")
            out += _token_block(r.tokens.tpot, "Time per Output Token (ns)", "time to output token (ns)")
    return out


def footer(warnings: int, errors: int) -> str:
    if warnings == 0:
        w = "No warnings encountered during test."
    elif warnings == 1:
        w = "1 warning encountered. See detailed log."
    else:
        w = f"{warnings} warnings encountered. See detailed log."
    if errors == 0:
        e = "No errors encountered during test."
    elif errors == 1:
        e = "1 ERROR encountered. See detailed log."
    else:
        e = f"{errors} ERRORS encountered. See detailed log."
    return f"\n{w}\n\n{e}\n"
