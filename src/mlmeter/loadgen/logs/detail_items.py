"""The detail log's items (keys and values in the official order), derived from the settings and the result.

Every function returns ``(key, value)`` pairs for :class:`~mlmeter.loadgen.logs.detail.DetailLog.many`; the keys,
their order and their value types are those of the official LoadGen 6.0.17 (checked by the oracle tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mlmeter import __version__
from mlmeter.loadgen import config as conf
from mlmeter.loadgen.logs.summary import early_stopping_text
from mlmeter.loadgen.results import PerformanceResult
from mlmeter.loadgen.scenarios.policy import scenario_policy
from mlmeter.loadgen.settings import EffectiveSettings, TestMode, TestSettings

LOADGEN_VERSION = "6.0.17"
_INFERRED = ("inferred_completed_tokens_per_second", "inferred_tokens_per_second")

LOGGER_COUNTERS = (
    "logger_swap_request_slots_retry_count",
    "logger_swap_request_slots_retry_retry_count",
    "logger_swap_request_slots_retry_reencounter_count",
    "logger_start_reading_entries_retry_count",
    "logger_tls_total_log_cas_fail_count",
    "logger_tls_total_swap_buffers_slot_retry_count",
)


def power_time(t: datetime) -> str:
    return t.strftime("%m-%d-%Y %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def requested_items(s: TestSettings) -> list[tuple[str, object]]:
    sc = conf.scenario_name(s.scenario)
    items: list[tuple[str, object]] = [("requested_scenario", sc), ("requested_test_mode", TestMode(s.mode).name)]
    if sc == "SingleStream":
        items += [
            ("requested_single_stream_expected_latency_ns", float(s.single_stream_expected_latency_ns)),
            ("requested_single_stream_target_latency_percentile", float(s.single_stream_target_latency_percentile)),
        ]
    elif sc == "MultiStream":
        items += [
            ("requested_multi_stream_expected_latency_ns", float(s.multi_stream_expected_latency_ns)),
            ("requested_multi_stream_target_latency_percentile", float(s.multi_stream_target_latency_percentile)),
            ("requested_multi_stream_samples_per_query", int(s.multi_stream_samples_per_query)),
        ]
    elif sc == "Server":
        items += [
            ("requested_server_target_qps", float(s.server_target_qps)),
            ("requested_server_target_latency_ns", int(s.server_target_latency_ns)),
            ("requested_server_target_latency_percentile", float(s.server_target_latency_percentile)),
            ("requested_server_coalesce_queries", bool(s.server_coalesce_queries)),
            ("requested_server_find_peak_qps_decimals_of_precision", int(s.server_find_peak_qps_decimals_of_precision)),
            ("requested_server_find_peak_qps_boundary_step_size", float(s.server_find_peak_qps_boundary_step_size)),
            ("requested_server_max_async_queries", int(s.server_max_async_queries)),
            ("requested_server_num_issue_query_threads", int(s.server_num_issue_query_threads)),
        ]
    else:
        items.append(("requested_offline_expected_qps", float(s.offline_expected_qps)))
    items += [
        ("requested_min_duration_ms", s.min_duration_ms),
        ("requested_max_duration_ms", s.max_duration_ms),
        ("requested_min_query_count", s.min_query_count),
        ("requested_max_query_count", s.max_query_count),
        ("requested_qsl_rng_seed", s.qsl_rng_seed),
        ("requested_sample_index_rng_seed", s.sample_index_rng_seed),
        ("requested_schedule_rng_seed", s.schedule_rng_seed),
        ("requested_accuracy_log_rng_seed", s.accuracy_log_rng_seed),
        ("requested_accuracy_log_probability", float(s.accuracy_log_probability)),
        ("requested_accuracy_log_sampling_target", s.accuracy_log_sampling_target),
        ("requested_print_timestamps", bool(s.print_timestamps)),
        ("requested_performance_issue_unique", bool(s.performance_issue_unique)),
        ("requested_performance_issue_same", bool(s.performance_issue_same)),
        ("requested_performance_issue_same_index", s.performance_issue_same_index),
        ("requested_performance_sample_count_override", s.performance_sample_count_override),
        ("requested_accuracy_sample_count_override", s.accuracy_sample_count_override),
        ("requested_sample_concatenate_permutation", bool(s.sample_concatenate_permutation)),
    ]
    if s.use_token_latencies:
        items.append(("requested_use_token_latencies", True))
        if sc != "Offline":
            items += [("requested_server_ttft_latency", s.ttft_latency), ("requested_server_tpot_latency", s.tpot_latency)]
    return items


def effective_items(es: EffectiveSettings) -> list[tuple[str, object]]:
    return [
        ("effective_scenario", es.scenario.name),
        ("effective_test_mode", es.mode.name),
        ("effective_samples_per_query", es.samples_per_query),
        ("effective_target_qps", float(es.target_qps)),
        ("effective_target_latency_ns", es.target_latency_ns),
        ("effective_target_latency_percentile", float(es.target_latency_percentile)),
        ("effective_max_async_queries", es.max_async_queries),
        ("effective_target_duration_ms", es.target_duration_ms),
        ("effective_min_duration_ms", es.min_duration_ms),
        ("effective_max_duration_ms", es.max_duration_ms),
        ("effective_min_query_count", es.min_query_count),
        ("effective_max_query_count", es.max_query_count),
        ("effective_min_sample_count", es.min_sample_count),
        ("effective_qsl_rng_seed", es.qsl_rng_seed),
        ("effective_sample_index_rng_seed", es.sample_index_rng_seed),
        ("effective_schedule_rng_seed", es.schedule_rng_seed),
        ("effective_accuracy_log_rng_seed", es.accuracy_log_rng_seed),
        ("effective_accuracy_log_probability", float(es.accuracy_log_probability)),
        ("effective_accuracy_log_sampling_target", es.accuracy_log_sampling_target),
        ("effective_print_timestamps", bool(es.print_timestamps)),
        ("effective_performance_issue_unique", bool(es.performance_issue_unique)),
        ("effective_performance_issue_same", bool(es.performance_issue_same)),
        ("effective_performance_issue_same_index", es.performance_issue_same_index),
        ("effective_performance_sample_count", es.performance_sample_count),
        ("effective_accuracy_sample_count", es.accuracy_sample_count),
        ("effective_sample_concatenate_permutation", bool(es.sample_concatenate_permutation)),
    ]


def result_items(r: PerformanceResult, valid: bool, reasons: Sequence[str]) -> list[tuple[str, object]]:
    policy = scenario_policy(r.scenario)
    items: list[tuple[str, object]] = [("result_validity", "VALID" if valid else "INVALID")]
    checks = {c.name: c for c in r.checks}
    if policy.counts_overlatency:
        items.append(("result_perf_constraints_met", checks["performance_constraints"].passed))
    items += [
        ("result_min_duration_met", checks["min_duration"].passed),
        ("result_min_queries_met", checks["min_queries"].passed),
        ("early_stopping_met", checks["early_stopping"].passed),
    ]
    if not valid:
        items.append(("result_invalid_reason", _invalid_reason(r, reasons)))
    if r.tokens is not None:
        ttft_text, tpot_text = _token_texts(r)
        items.append(("early_stopping_ttft_result", ttft_text.replace("\n", " ")))
        items.append(("early_stopping_tpot_result", tpot_text.replace("\n", " ")))
    elif r.early_stopping is not None:
        items.append(("early_stopping_result", early_stopping_text(r.early_stopping, r.early_stopping_99).replace("\n", " ")))
    else:
        items.append(("early_stopping_result", ""))
    items.append(("result_query_count", r.query_count))
    if policy.counts_overlatency:
        items.append(("result_overlatency_query_count", r.overlatency_count))
    return items + policy.result_items(r) + _latency_items(r) + _token_items(r)


def _latency_items(r: PerformanceResult) -> list[tuple[str, object]]:
    lat = r.latency
    items: list[tuple[str, object]] = [
        ("result_min_latency_ns", lat.min), ("result_max_latency_ns", lat.max), ("result_mean_latency_ns", lat.mean)]
    return items + [(f"result_{p * 100:.2f}_percentile_latency_ns", v) for p, v in lat.percentiles.items()]


def _token_items(r: PerformanceResult) -> list[tuple[str, object]]:
    """Token latencies and throughputs (use_token_latencies), and the inferred token rates."""
    m, es, policy = r.metrics, r.settings, scenario_policy(r.scenario)
    items: list[tuple[str, object]] = []
    if r.tokens is not None:
        if policy.first_token:
            t = r.tokens.ttft
            items += [
                ("result_first_token_min_latency_ns", t.min),
                ("result_first_token_max_latency_ns", t.max),
                ("result_first_token_mean_latency_ns", t.mean),
            ]
            items += [(f"result_first_token_{p * 100:.2f}_percentile_latency_ns", v) for p, v in t.percentiles.items()]
            items += [
                ("result_token_throughput_with_loadgen_overhead", float(m["token_throughput_with_loadgen_overhead"])),
                ("result_token_throughput", float(m["token_throughput"])),
            ]
            tp = r.tokens.tpot
            items += [(f"result_time_per_output_token_{p * 100:.2f}_percentile_ns", v) for p, v in tp.percentiles.items()]
            items += [
                ("result_time_to_output_token_min", tp.min),
                ("result_time_to_output_token_max", tp.max),
                ("result_time_to_output_token_mean", tp.mean),
            ]
            if "completed_tokens_per_second" in m:
                items.append(("result_completed_tokens_per_second", float(m["completed_tokens_per_second"])))
        else:
            items.append(("result_tokens_per_second", float(m["tokens_per_second"])))
    if es.infer_token_latencies:  # the inferred rate the scenario computed (Server or Offline)
        items += [(f"result_{k}", float(m[k])) for k in _INFERRED if k in m]
    return items


def _token_texts(r: PerformanceResult) -> tuple[str, str]:
    """The TTFT and TPOT early-stopping paragraphs (empty for Offline)."""
    if r.token_early_stopping is None:
        return "", ""
    extra = r.token_early_stopping_99 or (None, None)
    return (
        early_stopping_text(r.token_early_stopping[0], extra[0]),
        early_stopping_text(r.token_early_stopping[1], extra[1]),
    )


def _invalid_reason(r: PerformanceResult, extra: Sequence[str]) -> str:
    """The official ``result_invalid_reason``: failed recommendations (first sentence for min queries)."""
    text = ""
    for c in r.checks:
        if c.passed or not c.recommendation:
            continue
        text += c.recommendation.split("\n")[0] if c.name == "min_queries" else c.recommendation + " "
    return text + "".join(f"{x} " for x in extra)


def version_items() -> list[tuple[str, object]]:
    return [
        ("loadgen_version", f"{LOADGEN_VERSION} @ mlmeter-{__version__}"),
        ("loadgen_build_date_local", "mlmeter"),
        ("loadgen_build_date_utc", "mlmeter"),
        ("loadgen_git_commit_date", "mlmeter"),
        ("loadgen_git_log_message", f"mlmeter {__version__}: pure-Python LoadGen, behaviour of LoadGen {LOADGEN_VERSION}"),
        ("loadgen_git_status_message", ""),
        ("loadgen_file_sha1", {}),
    ]
