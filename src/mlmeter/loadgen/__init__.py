"""The MLPerf-faithful load generator (numpy and the standard library only).

Native API::

    from mlmeter.loadgen import TestSettings, TestScenario, run_test, LogSettings
    result = run_test(sut, qsl, settings, LogSettings(outdir="out"))
"""

from mlmeter.events import Observer, PassInfo
from mlmeter.loadgen.completer import Completer
from mlmeter.loadgen.config import ConfigError, load_settings
from mlmeter.loadgen.outcome import RunInterrupted, TestResult
from mlmeter.loadgen.protocols import CompletionSink, QuerySampleLibrary, SystemUnderTest
from mlmeter.loadgen.run import LogSettings, run_test, saving_after_interrupt
from mlmeter.loadgen.settings import (
    EffectiveSettings,
    LoggingMode,
    SettingsError,
    TestMode,
    TestScenario,
    TestSettings,
)

__all__ = [
    "Completer",
    "CompletionSink",
    "ConfigError",
    "EffectiveSettings",
    "LogSettings",
    "LoggingMode",
    "Observer",
    "PassInfo",
    "QuerySampleLibrary",
    "RunInterrupted",
    "SettingsError",
    "SystemUnderTest",
    "TestMode",
    "TestResult",
    "TestScenario",
    "TestSettings",
    "load_settings",
    "run_test",
    "saving_after_interrupt",
]
