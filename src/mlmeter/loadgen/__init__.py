"""The MLPerf-faithful load generator (numpy and the standard library only).

Native API::

    from mlmeter.loadgen import TestSettings, TestScenario, run_test, LogSettings
    result = run_test(sut, qsl, settings, LogSettings(outdir="out"))
"""

from mlmeter.loadgen.completer import Completer
from mlmeter.loadgen.config import ConfigError, load_settings
from mlmeter.loadgen.protocols import QuerySampleLibrary, SystemUnderTest
from mlmeter.loadgen.run import LogSettings, PassInfo, RunInterrupted, RunObserver, TestResult, run_test
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
    "ConfigError",
    "EffectiveSettings",
    "LogSettings",
    "LoggingMode",
    "PassInfo",
    "QuerySampleLibrary",
    "RunInterrupted",
    "RunObserver",
    "SettingsError",
    "SystemUnderTest",
    "TestMode",
    "TestResult",
    "TestScenario",
    "TestSettings",
    "load_settings",
    "run_test",
]
