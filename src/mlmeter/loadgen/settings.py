"""Test settings: every official LoadGen field with its default, validation, and the effective settings.

:class:`TestSettings` is the mutable, official-shaped object harnesses fill in (attribute names as in the
``mlperf_loadgen`` Python API). :func:`effective_settings` validates it once and derives the frozen
:class:`EffectiveSettings` that a run uses (spec §4).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from dataclasses import dataclass, field

from mlmeter.errors import MlmeterError


class TestScenario(enum.IntEnum):
    __test__ = False  # not a pytest test class
    SingleStream = 0
    MultiStream = 1
    Server = 2
    Offline = 3


class TestMode(enum.IntEnum):
    __test__ = False  # not a pytest test class
    SubmissionRun = 0
    AccuracyOnly = 1
    PerformanceOnly = 2
    FindPeakPerformance = 3


class LoggingMode(enum.IntEnum):
    AsyncPoll = 0
    EndOfTestOnly = 1
    Synchronous = 2


class SettingsError(MlmeterError, ValueError):
    """Settings that make no sense; raised before anything runs."""


@dataclass
class TestSettings:
    """The official ``TestSettings`` fields, defaults and units (times in ns unless the name says ms)."""

    __test__ = False  # not a pytest test class

    scenario: TestScenario = TestScenario.SingleStream
    mode: TestMode = TestMode.PerformanceOnly
    single_stream_expected_latency_ns: float = 1000000
    single_stream_target_latency_percentile: float = 0.90
    multi_stream_expected_latency_ns: float = 8000000
    multi_stream_target_latency_percentile: float = 0.99
    multi_stream_samples_per_query: int = 8
    server_target_qps: float = 1
    server_target_latency_ns: int = 100000000
    server_target_latency_percentile: float = 0.99
    server_coalesce_queries: bool = False
    server_find_peak_qps_decimals_of_precision: int = 1
    server_find_peak_qps_boundary_step_size: float = 1
    server_max_async_queries: int = 0
    server_num_issue_query_threads: int = 0
    offline_expected_qps: float = 1
    sample_concatenate_permutation: bool = False
    min_duration_ms: int = 10000
    max_duration_ms: int = 0
    min_query_count: int = 100
    max_query_count: int = 0
    qsl_rng_seed: int = 0
    sample_index_rng_seed: int = 0
    schedule_rng_seed: int = 0
    accuracy_log_rng_seed: int = 0
    accuracy_log_probability: float = 0.0
    accuracy_log_sampling_target: int = 0
    test05: bool = False
    test05_qsl_rng_seed: int = 0
    test05_sample_index_rng_seed: int = 0
    test05_schedule_rng_seed: int = 0
    print_timestamps: bool = False
    performance_issue_unique: bool = False
    performance_issue_same: bool = False
    performance_issue_same_index: int = 0
    performance_sample_count_override: int = 0
    accuracy_sample_count_override: int = 0
    use_token_latencies: bool = False
    ttft_latency: int = 100000000
    tpot_latency: int = 100000000
    infer_token_latencies: bool = False
    token_latency_scaling_factor: int = 0
    # mlmeter additions (not in the official LoadGen):
    completion_timeout_ms: int = field(default=300000)
    """End the run INVALID when no sample completes for this long while some are outstanding (0: never)."""

    def copy(self) -> TestSettings:
        return dataclasses.replace(self)


_UNIT_PERCENTILES = (
    "single_stream_target_latency_percentile",
    "multi_stream_target_latency_percentile",
    "server_target_latency_percentile",
)
_POSITIVE = (
    "server_target_qps",
    "offline_expected_qps",
    "single_stream_expected_latency_ns",
    "multi_stream_expected_latency_ns",
)
_NON_NEGATIVE_INTS = (
    "server_target_latency_ns",
    "server_max_async_queries",
    "min_duration_ms",
    "max_duration_ms",
    "min_query_count",
    "max_query_count",
    "performance_issue_same_index",
    "performance_sample_count_override",
    "accuracy_sample_count_override",
    "accuracy_log_sampling_target",
    "ttft_latency",
    "tpot_latency",
    "token_latency_scaling_factor",
    "completion_timeout_ms",
    "server_find_peak_qps_decimals_of_precision",
)


def validate(s: TestSettings, total_count: int, performance_count: int) -> None:
    """Refuse settings and QSL sizes that make no sense, with one message listing every problem."""
    problems: list[str] = []
    for name in _POSITIVE:
        v = getattr(s, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            problems.append(f"{name} must be a positive number, got {v!r}")
    for name in _UNIT_PERCENTILES:
        v = getattr(s, name)
        if not (isinstance(v, (int, float)) and 0 < v < 1):
            problems.append(f"{name} must lie strictly between 0 and 1, got {v!r}")
    for name in _NON_NEGATIVE_INTS:
        v = getattr(s, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            problems.append(f"{name} must be a non-negative integer, got {v!r}")
    if not 0.0 <= s.accuracy_log_probability <= 1.0:
        problems.append(f"accuracy_log_probability must lie in [0, 1], got {s.accuracy_log_probability!r}")
    if s.multi_stream_samples_per_query < 1:
        problems.append(f"multi_stream_samples_per_query must be >= 1, got {s.multi_stream_samples_per_query!r}")
    if not s.server_find_peak_qps_boundary_step_size > 0:
        problems.append("server_find_peak_qps_boundary_step_size must be > 0")
    if s.server_num_issue_query_threads != 0:
        problems.append("server_num_issue_query_threads must be 0 (issue threads cannot be registered from Python)")
    if total_count <= 0:
        problems.append(f"the QSL reports {total_count} samples in total; it needs at least one")
    if performance_count <= 0 and s.performance_sample_count_override == 0:
        problems.append(f"the QSL reports a performance sample count of {performance_count}; it needs at least one")
    perf = s.performance_sample_count_override or performance_count
    if s.performance_issue_same and s.performance_issue_same_index >= perf:
        problems.append(
            f"performance_issue_same_index ({s.performance_issue_same_index}) must be below the performance sample "
            f"count ({perf})"
        )
    if s.performance_issue_same and s.performance_issue_unique:
        problems.append("performance_issue_unique and performance_issue_same cannot both be true")
    try:
        if TestMode(s.mode) == TestMode.FindPeakPerformance and TestScenario(s.scenario) != TestScenario.Server:
            problems.append("Finding peak performance is only supported in Server scenarios.")
    except ValueError as exc:
        problems.append(str(exc))
    problems += _size_problems(s)
    if problems:
        raise SettingsError("invalid test settings:\n  - " + "\n  - ".join(problems))


_MAX_DURATION_MS = 30 * 86_400_000  # a month: longer is a typo, and would look like a hang


def _size_problems(s: TestSettings) -> list[str]:
    """Settings that would run for ever or track more samples than this machine's memory holds."""
    out = []
    for name in ("min_duration_ms", "max_duration_ms"):
        v = getattr(s, name)
        if isinstance(v, int) and v > _MAX_DURATION_MS:
            out.append(f"{name} {v:,} is more than 30 days; give the duration in milliseconds")
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        memory = 1 << 36
    limit = memory // 64  # bytes of schedule, ids and latencies per sample, with room to spare
    queries = s.min_query_count if isinstance(s.min_query_count, int) else 0
    planned = float(queries * (s.multi_stream_samples_per_query if s.scenario == TestScenario.MultiStream else 1))
    if s.scenario == TestScenario.Offline and isinstance(s.offline_expected_qps, (int, float)):
        planned = max(planned, 1.1 * s.min_duration_ms / 1000 * s.offline_expected_qps)
    if s.scenario == TestScenario.Server and isinstance(s.server_target_qps, (int, float)):
        planned = max(planned, s.min_duration_ms / 1000 * s.server_target_qps)
    if not planned <= limit:  # also NaN and infinity
        out.append(f"the run would issue about {planned:,.0f} samples, more than this machine's memory can track "
                   f"(about {limit:,}); lower min_query_count, min_duration or the target QPS")
    return out


@dataclass(frozen=True)
class EffectiveSettings:
    """The settings a run actually uses (logged as ``effective_*``)."""

    scenario: TestScenario
    mode: TestMode
    samples_per_query: int
    target_qps: float
    target_latency_ns: int
    target_latency_percentile: float
    max_async_queries: int
    target_duration_ms: int
    min_duration_ms: int
    max_duration_ms: int
    min_query_count: int
    max_query_count: int
    min_sample_count: int
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int
    accuracy_log_rng_seed: int
    accuracy_log_probability: float
    accuracy_log_sampling_target: int
    print_timestamps: bool
    performance_issue_unique: bool
    performance_issue_same: bool
    performance_issue_same_index: int
    performance_sample_count: int
    accuracy_sample_count: int
    sample_concatenate_permutation: bool
    use_token_latencies: bool
    ttft_latency: int
    tpot_latency: int
    infer_token_latencies: bool
    token_latency_scaling_factor: int
    server_coalesce_queries: bool
    find_peak_decimals: int
    find_peak_step: float
    completion_timeout_ms: int

    def with_target_qps(self, qps: float) -> EffectiveSettings:
        """A copy for one FindPeakPerformance trial at another Server QPS."""
        return dataclasses.replace(self, target_qps=qps)


def effective_settings(s: TestSettings, total_count: int, performance_count: int) -> EffectiveSettings:
    """Derive the effective settings of spec §4 from requested settings and the QSL's reported sizes."""
    sc = TestScenario(s.scenario)
    perf_count = s.performance_sample_count_override or performance_count
    acc_count = s.accuracy_sample_count_override or total_count
    min_queries = s.min_query_count
    target_duration = s.min_duration_ms
    latency_ns = 0
    max_async = 1
    spq = 1
    if sc == TestScenario.SingleStream:
        qps = 1e9 / s.single_stream_expected_latency_ns
        pct = s.single_stream_target_latency_percentile
        if s.sample_concatenate_permutation:
            m = max(min_queries, int(2.0 * (s.min_duration_ms / 1000) * qps))
            min_queries = m + performance_count - (m % performance_count)
    elif sc == TestScenario.MultiStream:
        qps = 1e9 / s.multi_stream_expected_latency_ns
        pct = s.multi_stream_target_latency_percentile
        spq = s.multi_stream_samples_per_query
    elif sc == TestScenario.Server:
        qps = s.server_target_qps
        pct = s.server_target_latency_percentile
        latency_ns = s.server_target_latency_ns
        max_async = s.server_max_async_queries
    else:
        qps = s.offline_expected_qps
        pct = 0.99
        target_duration = 0
        if s.performance_issue_unique:
            spq = perf_count
        else:
            spq = max(s.min_query_count, int(1.1 * (s.min_duration_ms / 1000) * qps))
        min_queries = 1
    seeds = (s.qsl_rng_seed, s.sample_index_rng_seed, s.schedule_rng_seed)
    if s.test05:
        seeds = (s.test05_qsl_rng_seed, s.test05_sample_index_rng_seed, s.test05_schedule_rng_seed)
    unique = s.performance_issue_unique
    return EffectiveSettings(
        scenario=sc,
        mode=TestMode.PerformanceOnly if s.test05 else TestMode(s.mode),
        samples_per_query=spq,
        target_qps=qps,
        target_latency_ns=latency_ns,
        target_latency_percentile=pct,
        max_async_queries=max_async,
        target_duration_ms=target_duration,
        min_duration_ms=s.min_duration_ms,
        max_duration_ms=s.max_duration_ms,
        min_query_count=min_queries,
        max_query_count=s.max_query_count,
        min_sample_count=min_queries * spq,
        qsl_rng_seed=seeds[0],
        sample_index_rng_seed=seeds[1],
        schedule_rng_seed=seeds[2],
        accuracy_log_rng_seed=s.accuracy_log_rng_seed,
        accuracy_log_probability=s.accuracy_log_probability,
        accuracy_log_sampling_target=s.accuracy_log_sampling_target,
        print_timestamps=s.print_timestamps,
        performance_issue_unique=unique,
        performance_issue_same=s.performance_issue_same,
        performance_issue_same_index=s.performance_issue_same_index,
        performance_sample_count=perf_count,
        accuracy_sample_count=acc_count,
        sample_concatenate_permutation=s.sample_concatenate_permutation,
        use_token_latencies=s.use_token_latencies,
        ttft_latency=s.ttft_latency,
        tpot_latency=s.tpot_latency,
        infer_token_latencies=s.infer_token_latencies,
        token_latency_scaling_factor=s.token_latency_scaling_factor,
        server_coalesce_queries=s.server_coalesce_queries,
        find_peak_decimals=s.server_find_peak_qps_decimals_of_precision,
        find_peak_step=s.server_find_peak_qps_boundary_step_size,
        completion_timeout_ms=s.completion_timeout_ms,
    )
