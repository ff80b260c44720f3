"""A LoadGen test measured by a :class:`Meter`: where the meter is a wall power analyzer, first its ranging
pass (the same test, performance only, into ``<outdir>/ranging``, not reported), then the measured test.

One place for the official two-pass procedure, used by ``mlmeter loadgen`` and the inference harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlmeter import events
from mlmeter.loadgen import RunInterrupted, TestMode, TestResult, TestSettings
from mlmeter.power.meter import Meter, MeteredPasses

RunOnce = Callable[[TestSettings, Path, events.Observer, bool], TestResult]
"""Runs the test once: (settings, output directory, observer, measured) -> result; ``measured`` is False for
the ranging pass (no trace, no audit.config, nothing reported)."""


def metered_test(run_once: RunOnce, settings: TestSettings, outdir: Path, meter: Meter,
                 observer: events.Observer | None = None, *, ranging: bool = True) -> tuple[TestResult, bool]:
    """Run the test with power sampled during its measured passes; returns (result, interrupted). An interrupt
    keeps the partial result (the caller writes it, then re-raises)."""
    meter.trace = None
    obs = events.Fanout([observer, MeteredPasses(meter)])
    if meter.two_pass and ranging:
        obs.on_stage(events.Stage(f"ranging pass for the power analyzer -> {outdir / 'ranging'}"))
        meter.mode = "ranging"
        once = replace(settings, mode=TestMode.PerformanceOnly) if settings.mode == TestMode.SubmissionRun \
            else settings
        try:
            run_once(once, outdir / "ranging", obs, False)
        finally:
            meter.mode = "testing"
    try:
        return run_once(settings, outdir, obs, True), False
    except RunInterrupted as exc:
        return exc.result, True
