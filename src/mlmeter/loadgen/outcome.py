"""What one LoadGen test produced: :class:`TestResult` (verdict, checks, performance, files), the find-peak
trials, and :class:`RunInterrupted`."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlmeter.loadgen.builder import Layer
from mlmeter.loadgen.results import PerformanceResult
from mlmeter.loadgen.settings import EffectiveSettings, TestMode, TestScenario, TestSettings
from mlmeter.verdict import Check, Verdict, judge


@dataclass(frozen=True)
class PeakTrial:
    """One find-peak pass: the target QPS tried, what was achieved, the tail latency and the verdict."""

    target_qps: float
    achieved_qps: float | None
    p99_latency_ns: int | None
    passed: bool


@dataclass(frozen=True)
class TestResult:
    """What a test produced: the checks and the verdict they give, the performance result, the files written."""

    __test__ = False  # not a pytest test class

    scenario: TestScenario
    mode: TestMode
    settings: EffectiveSettings
    performance: PerformanceResult | None
    checks: tuple[Check, ...]
    """The performance checks (none for AccuracyOnly), then one decisive check per SUT/QSL failure."""
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    interrupted: bool
    find_peak_qps: float | None
    accuracy_logged: int
    files: dict[str, str] = field(default_factory=dict)
    requested: TestSettings | None = None
    layers: tuple[Layer, ...] = ()
    """How the settings were built, layer by layer (mlperf.conf, defaults, user.conf, audit.config, flags)."""
    find_peak_trials: tuple[PeakTrial, ...] = ()
    sut_name: str = ""
    qsl_name: str = ""
    started_at: str = ""

    @property
    def verdict(self) -> Verdict:
        return judge(self.checks, complete=not self.interrupted)

    @property
    def valid(self) -> bool | None:
        """True when VALID, None when nothing was judged (an AccuracyOnly run), else False."""
        v = self.verdict
        return None if v == Verdict.NOT_JUDGED else v == Verdict.VALID

    @property
    def failures(self) -> list[str]:
        """What the SUT or QSL did wrong (the decisive failed checks)."""
        return [c.actual for c in self.checks if c.decisive and not c.passed]

    @property
    def reasons(self) -> list[str]:
        """Why the run is not VALID: the official recommendations, then the failures."""
        out = [c.reason() for c in self.checks if not c.passed and not c.decisive and c.recommendation]
        out += self.failures
        return out + (["interrupted by the user"] if self.interrupted else [])


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the files are written and ``result`` holds what was measured."""

    def __init__(self, result: TestResult) -> None:
        super().__init__("run interrupted")
        self.result = result


@dataclass
class PassOutcome:
    """One finished pass as the modes see it: its result (None for accuracy passes) and the SUT's failures."""

    kind: str
    result: PerformanceResult | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def constraints_met(self) -> bool:
        """The pass produced a result, the SUT did not fail, and the latency constraint held (find-peak)."""
        if self.result is None or self.failures:
            return False
        c = self.result.check("performance_constraints")
        return bool(c and c.passed)
