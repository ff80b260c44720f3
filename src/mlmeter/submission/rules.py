"""The MLPerf Inference submission rules mlmeter packs and checks against, as data: round v6.1, the round
whose seeds mlmeter's built-in ``mlperf.conf`` holds (the official checker's ``--version v6.1``).

Only the benchmarks mlmeter runs are described; a result of any other benchmark is checked on the rules every
benchmark shares and reported as unknown to these rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlmeter.serving.llm_accuracy import TARGETS

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
class Metric:
    """One figure of ``accuracy.txt``, read by ``pattern``: at least ``target`` (and at most ``upper``)."""

    name: str
    target: float
    pattern: str
    upper: float | None = None


ACC, ROUGE1, ROUGE2, ROUGEL, ROUGELSUM, GEN_LEN, TOKENS_PER_SAMPLE = (
    r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*", r".*'rouge1':\s+'?([\d.]+)'?.*",
    r".*'rouge2':\s+'?([\d.]+)'?.*", r".*'rougeL':\s+'?([\d.]+)'?.*", r".*'rougeLsum':\s+'?([\d.]+)'?.*",
    r".*'gen_len':\s([\d.]+).*", r".*'tokens_per_sample':\s([\d.]+).*")
"""How the checker reads each figure (the lines the official accuracy scripts print)."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    metrics: tuple[Metric, ...]
    performance_sample_count: int
    dataset_size: int
    required: dict[str, tuple[str, ...]]
    """System type -> the scenarios a closed-division result needs."""
    min_queries: dict[str, int]
    latency_ns: dict[str, int] = field(default_factory=dict)
    offline_min_samples_per_query: int = 1
    token_latency_ns: dict[str, tuple[int, int]] = field(default_factory=dict)
    """An LLM's p99 (TTFT, TPOT) limits by scenario."""
    result_keys: dict[str, str] = field(default_factory=dict)
    """The detail-log key of a scenario's result where it is not ``RESULT_KEY``'s (an LLM's tokens/s)."""
    llm: bool = False
    """Token latencies must be on (``use_token_latencies``)."""
    optional: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """System type -> the scenarios a result may have beyond the required ones."""


_PATTERN = {"rouge1": ROUGE1, "rouge2": ROUGE2, "rougeL": ROUGEL, "rougeLsum": ROUGELSUM, "gen_len": GEN_LEN,
            "tokens_per_sample": TOKENS_PER_SAMPLE}


def _llm(name: str, loadgen_model: str, required: dict[str, tuple[str, ...]], queries: dict[str, int],
         token_latency_ns: dict[str, tuple[int, int]], samples: int = 0) -> Benchmark:
    """An LLM benchmark's figures from the accuracy targets ``mlmeter serve`` scores against (one copy of them);
    ``samples``: its dataset's (default: the sample count its length target is a total over)."""
    t = TARGETS[loadgen_model]
    lo, hi = t.length_window
    metrics = tuple(Metric(k.upper(), v * t.fraction, _PATTERN[k]) for k, v in t.reference.items())
    length = Metric(t.length_metric.upper(), t.length_reference * lo, _PATTERN[t.length_metric], t.length_reference * hi)
    samples = samples or t.length_over
    return Benchmark(name, (*metrics, length), samples, samples,
                     required, queries, {"Server": 20_000_000_000} if "Server" in queries else {},
                     token_latency_ns=token_latency_ns,
                     result_keys={"Offline": "result_tokens_per_second",
                                  "Server": "result_completed_tokens_per_second",
                                  "SingleStream": "result_90.00_percentile_latency_ns"}, llm=True,
                     optional={k: ("Server", "Interactive") for k in required if "datacenter" in k})


BENCHMARKS = {
    "resnet": Benchmark(
        "resnet", (Metric("acc", 76.46 * 0.99, ACC),), 1024, 50_000,
        {"edge": ("SingleStream", "MultiStream", "Offline"),
         "datacenter,edge": ("SingleStream", "MultiStream", "Offline", "Server")},
        {"SingleStream": 1024, "MultiStream": 270336, "Server": 270336, "Offline": 1},
        {"Server": 15_000_000}, 24576),
    "llama3.1-8b": _llm("llama3.1-8b", "llama3_1-8b", {"datacenter": ("Offline",), "datacenter,edge": ("Offline",)},
                        {"SingleStream": 1024, "Server": 270336, "Offline": 1},
                        {"Server": (2_000_000_000, 100_000_000), "Interactive": (500_000_000, 30_000_000)}),
    "llama3.1-8b-edge": _llm("llama3.1-8b-edge", "llama3_1-8b-edge",
                             {"edge": ("SingleStream", "Offline"), "datacenter,edge": ("SingleStream", "Offline")},
                             {"SingleStream": 1024, "Offline": 1},
                             {"Server": (2_000_000_000, 100_000_000), "Interactive": (500_000_000, 30_000_000)}),
    "llama2-70b-99.9": _llm("llama2-70b-99.9", "llama2-70b-99.9",
                            {"datacenter": ("Offline",), "datacenter,edge": ("Offline",)},
                            {"SingleStream": 1024, "Server": 270336, "Offline": 1},
                            {"Server": (2_000_000_000, 200_000_000), "Interactive": (450_000_000, 40_000_000)},
                            samples=24576),
}
BENCHMARK_OF_MODEL = {"resnet50": "resnet"}
"""mlmeter's workloads that are an MLPerf benchmark's reference model (closed division allowed). A serving run
names its benchmark with ``--mlperf-model``: the served model is the submitter's to vouch for."""
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
"""The system types and availability statuses a system description may name."""
EARLY_STOPPING = ("SingleStream", "MultiStream", "Server")


def _suite(system_type: str) -> str:
    return "datacenter,edge" if system_type in ("datacenter,edge", "edge,datacenter") else system_type


def required_scenarios(bench: Benchmark, system_type: str) -> tuple[str, ...] | None:
    """None: ``bench`` is not a benchmark of that suite."""
    return bench.required.get(_suite(system_type))


def optional_scenarios(bench: Benchmark, system_type: str) -> tuple[str, ...]:
    return bench.optional.get(_suite(system_type), ())
