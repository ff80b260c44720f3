"""``InferConfig``: everything one ``mlmeter infer`` call needs, frozen and validated once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmeter.errors import MlmeterError
from mlmeter.loadgen import TestMode, TestScenario
from mlmeter.submission.audits import NAMES as AUDIT_NAMES
from mlmeter.util.bounds import out_of_range

MODES = {"performance": TestMode.PerformanceOnly, "accuracy": TestMode.AccuracyOnly,
         "submission": TestMode.SubmissionRun, "find-peak": TestMode.FindPeakPerformance}


class InferConfigError(MlmeterError, ValueError):
    """An option that makes no sense; the message names it."""


def _flag(field_name: str) -> str:
    """The command-line flag of a field (``time_s`` -> ``--time``)."""
    name = field_name.removesuffix("_s") if field_name.endswith("_s") else field_name
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class InferConfig:
    backend: str
    model: str
    device: str = "cpu"
    scenarios: tuple[TestScenario, ...] = (TestScenario.SingleStream,)
    mode: str = "performance"
    """One of ``MODES``, or several comma-separated (``accuracy,performance``), run in that order per scenario."""
    compliance: tuple[str, ...] = ()
    """Compliance audits (``TEST01``, ``TEST04``) run after each scenario's modes and verified against them."""
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
    settings: dict[str, Any] = field(default_factory=dict)
    """More LoadGen settings by TestSettings field name, applied last (the shared LoadGen knobs of the CLI)."""
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
    overwrite: bool = False
    """Replace an earlier run in ``output`` (otherwise such a directory is refused)."""
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
    command: str = ""
    """The command line that asked for these runs (recorded in each run; a submission's README quotes it)."""

    def __post_init__(self) -> None:
        problems = []
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes or len(set(self.modes)) != len(self.modes):
            problems.append(f"--mode {self.mode!r} (valid: one or more of {', '.join(MODES)}, each once)")
        if not self.scenarios:
            problems.append("no scenario")
        if "find-peak" in self.modes and any(s != TestScenario.Server for s in self.scenarios):
            problems.append("find-peak runs only the Server scenario")
        unknown = [t for t in self.compliance if t not in AUDIT_NAMES]
        if unknown:
            problems.append(f"--compliance {','.join(unknown)} (valid: {', '.join(AUDIT_NAMES)})")
        elif len(set(self.compliance)) != len(self.compliance):
            problems.append(f"--compliance {','.join(self.compliance)}: an audit is named twice")
        elif "TEST06" in self.compliance:
            problems.append("--compliance TEST06 checks an LLM's tokens: use it with mlmeter serve")
        day = 86_400.0
        limits: dict[str, dict[str, float]] = {
            "count": {"minimum": 1, "maximum": 1e9}, "samples_per_query": {"minimum": 1, "maximum": 1e6},
            "performance_sample_count": {"minimum": 1, "maximum": 1e9}, "time_s": {"above": 0, "maximum": 7 * day},
            "duration_s": {"above": 0, "maximum": 7 * day}, "qps": {"above": 0, "maximum": 1e9},
            "max_latency_s": {"above": 0, "maximum": day}, "threads": {"minimum": 0, "maximum": 4096},
            "inter_op_threads": {"minimum": 0, "maximum": 4096}, "preprocess_threads": {"minimum": 0, "maximum": 4096},
            "workers": {"minimum": 1, "maximum": 4096}, "max_batchsize": {"minimum": 1, "maximum": 1e6},
            "batch_timeout_ms": {"minimum": 0, "maximum": 1e6},
        }
        for name, lim in limits.items():
            why = out_of_range(_flag(name), getattr(self, name), **lim)
            if why:
                problems.append(why)
        if self.data_format not in (None, "NCHW", "NHWC"):
            problems.append(f"--data-format {self.data_format!r} (valid: NCHW, NHWC)")
        for name in ("user_conf", "mlperf_conf", "audit_conf"):
            p = getattr(self, name)
            if p is not None and not Path(p).is_file():
                problems.append(f"--{name.replace('_', '-')} {p}: file not found")
        if problems:
            raise InferConfigError("; ".join(problems))

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(m.strip() for m in self.mode.split(",") if m.strip())

    @property
    def test_mode(self) -> TestMode:
        return MODES[self.mode]
