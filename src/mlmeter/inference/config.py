"""``InferConfig``: everything one ``mlmeter infer`` call needs, frozen and validated once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmeter.loadgen import TestMode, TestScenario

MODES = {"performance": TestMode.PerformanceOnly, "accuracy": TestMode.AccuracyOnly,
         "submission": TestMode.SubmissionRun, "find-peak": TestMode.FindPeakPerformance}


class InferConfigError(ValueError):
    """An option that makes no sense; the message names it."""


@dataclass(frozen=True)
class InferConfig:
    backend: str
    model: str
    device: str = "cpu"
    scenarios: tuple[TestScenario, ...] = (TestScenario.SingleStream,)
    mode: str = "performance"
    # LoadGen overrides, with the reference harness's meaning (None: leave the config files' value)
    count: int | None = None
    time_s: float | None = None
    """The reference harness's ``--time``: min *and* max duration (a Server run then often ends INVALID)."""
    duration_s: float | None = None
    """Minimum duration only; the run lasts until its queries are done."""
    qps: float | None = None
    max_latency_s: float | None = None
    samples_per_query: int | None = None
    performance_sample_count: int | None = None
    user_conf: Path | None = None
    mlperf_conf: Path | None = None
    audit_conf: Path | None = None
    auto_targets: bool = False
    """Fill the scenarios' expected QPS / latency from the warm-up when the config files only hold placeholders."""
    # data, model and output
    dataset_path: Path | None = None
    model_path: Path | None = None
    data_format: str | None = None
    cache_dir: Path | None = None
    download: bool = True
    output: Path | None = None
    # execution
    threads: int = 0
    inter_op_threads: int = 0
    workers: int = 1
    max_batchsize: int = 32
    batch_timeout_ms: float = 0.0
    preprocess_threads: int = 0
    compile: bool = False
    backend_options: dict[str, Any] = field(default_factory=dict)
    trace: bool = False
    power: tuple[str, ...] = ()
    """Power sources sampled during performance passes: ``auto``, ``rapl``, ``nvml`` (empty: none)."""

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode {self.mode!r} (valid: {', '.join(MODES)})")
        if not self.scenarios:
            problems.append("no scenario")
        if self.mode == "find-peak" and any(s != TestScenario.Server for s in self.scenarios):
            problems.append("find-peak runs only the Server scenario")
        for name in ("count", "samples_per_query", "performance_sample_count"):
            v = getattr(self, name)
            if v is not None and v < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, got {v}")
        for name in ("time_s", "duration_s", "qps", "max_latency_s"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                problems.append(f"{name} must be positive, got {v}")
        if self.max_batchsize < 1 or self.workers < 1:
            problems.append("--max-batchsize and --workers must be at least 1")
        if self.threads < 0 or self.inter_op_threads < 0 or self.preprocess_threads < 0:
            problems.append("thread counts must not be negative")
        if self.batch_timeout_ms < 0:
            problems.append("--batch-timeout-ms must not be negative")
        if self.data_format not in (None, "NCHW", "NHWC"):
            problems.append(f"--data-format {self.data_format!r} (valid: NCHW, NHWC)")
        for name in ("user_conf", "mlperf_conf", "audit_conf"):
            p = getattr(self, name)
            if p is not None and not Path(p).is_file():
                problems.append(f"--{name.replace('_', '-')} {p}: file not found")
        if problems:
            raise InferConfigError("; ".join(problems))

    @property
    def test_mode(self) -> TestMode:
        return MODES[self.mode]
