"""The MLPerf Inference submission rules mlmeter packs and checks against, as data: round v6.1, the round
whose seeds mlmeter's built-in ``mlperf.conf`` holds (the official checker's ``--version v6.1``).

Only the benchmarks mlmeter runs are described; a result of any other benchmark is checked on the rules every
benchmark shares and reported as unknown to these rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROUND = "v6.1"
SEEDS = {"qsl_rng_seed": 2085463073848966840, "sample_index_rng_seed": 2747215439041700203,
         "schedule_rng_seed": 16159082839903944936}
MIN_DURATION_MS = 600_000
MAX_ACCURACY_LOG_BYTES = 10 * 1024
DETAIL_LOG, SUMMARY_LOG, ACCURACY_LOG = "mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json"
STATUSES = ("available", "preview", "rdi")
UNITS = {"SingleStream": "Latency (ms)", "MultiStream": "Latency (ms)", "Offline": "Samples/s",
         "Server": "Queries/s", "Interactive": "Queries/s"}
RESULT_KEY = {"Offline": "result_samples_per_second", "SingleStream": "early_stopping_latency_ss",
              "MultiStream": "early_stopping_latency_ms", "Server": "result_completed_samples_per_sec"}
"""The detail-log key of each scenario's result (latencies in ns, shown in ms)."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    accuracy_metric: str
    """The ``accuracy.txt`` figure (``acc``: top-1 % as ``accuracy=…%``)."""
    accuracy_target: float
    accuracy_pattern: str
    performance_sample_count: int
    dataset_size: int
    required: dict[str, tuple[str, ...]]
    """System type -> the scenarios a closed-division result needs."""
    min_queries: dict[str, int]
    latency_ns: dict[str, int] = field(default_factory=dict)
    offline_min_samples_per_query: int = 1


BENCHMARKS = {
    "resnet": Benchmark(
        "resnet", "acc", 76.46 * 0.99, r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*", 1024, 50_000,
        {"edge": ("SingleStream", "MultiStream", "Offline"),
         "datacenter,edge": ("SingleStream", "MultiStream", "Offline", "Server")},
        {"SingleStream": 1024, "MultiStream": 270336, "Server": 270336, "Offline": 1},
        {"Server": 15_000_000}, 24576),
}
BENCHMARK_OF_MODEL = {"resnet50": "resnet"}
"""mlmeter's workloads that are an MLPerf benchmark's reference model (closed division allowed)."""
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
"""The system types and availability statuses a system description may name."""
EARLY_STOPPING = ("SingleStream", "MultiStream", "Server")


def required_scenarios(bench: Benchmark, system_type: str) -> tuple[str, ...] | None:
    """None: ``bench`` is not a benchmark of that suite."""
    key = "datacenter,edge" if system_type in ("datacenter,edge", "edge,datacenter") else system_type
    return bench.required.get(key)
