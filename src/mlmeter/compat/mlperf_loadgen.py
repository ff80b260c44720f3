"""The official ``mlperf_loadgen`` Python API on top of mlmeter's LoadGen.

Change ``import mlperf_loadgen as lg`` to ``import mlmeter.compat.mlperf_loadgen as lg`` and a harness runs
unchanged: same functions, handles, names (``PySUT``, ``PyFastSUT``, ``PyQSL``) and log files. Differences,
on purpose: a malformed or missing config file raises :class:`ConfigError` (naming file, line and key) instead
of being skipped with a log line; a SUT that stops completing ends the run INVALID after
``completion_timeout_ms`` instead of hanging; ``QuerySampleResponse`` pickles; a ``result.json`` is written
beside the official files.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from mlmeter.loadgen import config as _conf
from mlmeter.loadgen import run as _run
from mlmeter.loadgen import settings as _native
from mlmeter.loadgen.config import ConfigError
from mlmeter.loadgen.protocols import CompletionSink
from mlmeter.loadgen.settings import TestSettings as _NativeSettings

__all__ = [
    "ConfigError",
    "ConstructFastSUT",
    "ConstructQDL",
    "ConstructQSL",
    "ConstructSUT",
    "DestroyFastSUT",
    "DestroyQDL",
    "DestroyQSL",
    "DestroySUT",
    "FirstTokenComplete",
    "LogOutputSettings",
    "LogSettings",
    "LoggingMode",
    "QuerySample",
    "QuerySampleResponse",
    "QuerySamplesComplete",
    "StartTest",
    "StartTestWithLogSettings",
    "TestMode",
    "TestScenario",
    "TestSettings",
    "VectorQuerySample",
    "VectorQuerySampleResponse",
]

_clock = time.perf_counter_ns


class QuerySample(NamedTuple):
    """A sample to run: ``id`` (opaque, never 0) and ``index`` (the QSL sample index)."""

    id: int = 0
    index: int = 0  # type: ignore[assignment]  # the official attribute name shadows tuple.index


_new_sample = tuple.__new__  # builds a QuerySample without a Python-level constructor call


class QuerySampleResponse:
    """A completion: ``data`` is the integer address of ``size`` response bytes; ``n_tokens`` for LLMs."""

    __slots__ = ("id", "data", "size", "n_tokens")

    def __init__(self, id: int = 0, data: int = 0, size: int = 0, n_tokens: int = 0) -> None:  # noqa: A002
        self.id = id
        self.data = data
        self.size = size
        self.n_tokens = n_tokens

    def __reduce__(self) -> tuple[Any, ...]:
        return (QuerySampleResponse, (self.id, self.data, self.size, self.n_tokens))


VectorQuerySample = list
VectorQuerySampleResponse = list


def _read_response(r: QuerySampleResponse) -> bytes:
    return ctypes.string_at(r.data, r.size) if r.size else b""


# -- enums and settings ---------------------------------------------------------------------------------
class _BindingEnum(enum.Enum):
    """An enum as pybind11 exposes one: ``str()`` is ``'TestScenario.Offline'``, ``int()`` works, equal only to
    itself (``TestScenario.Offline == 3`` is False), hashed like its value, not ordered."""

    def __int__(self) -> int:
        return int(self.value)

    __index__ = __int__

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __format__(self, spec: str) -> str:
        if spec:  # as pybind11's (object.__format__): only the empty format
            raise TypeError(f"unsupported format string passed to {type(self).__name__}.__format__")
        return str(self)


class TestScenario(_BindingEnum):
    __test__ = False  # not a pytest test class
    SingleStream = 0
    MultiStream = 1
    Server = 2
    Offline = 3


class TestMode(_BindingEnum):
    __test__ = False  # not a pytest test class
    SubmissionRun = 0
    AccuracyOnly = 1
    PerformanceOnly = 2
    FindPeakPerformance = 3


class LoggingMode(_BindingEnum):
    AsyncPoll = 0
    EndOfTestOnly = 1
    Synchronous = 2


_ENUMS: dict[str, tuple[type[_BindingEnum], type[enum.IntEnum]]] = {
    "scenario": (TestScenario, _native.TestScenario), "mode": (TestMode, _native.TestMode)}
_INT32 = {"server_find_peak_qps_decimals_of_precision"}
_FIELDS = {f.name: f.type for f in dataclasses.fields(_NativeSettings)}


def _checked(name: str, value: Any) -> Any:
    """The value as the official binding stores it, or TypeError where the binding refuses it."""
    kind = _FIELDS[name]
    if name in _ENUMS:
        ours, native = _ENUMS[name]
        if isinstance(value, native):
            return ours(int(value))
        if not isinstance(value, ours):
            raise TypeError(f"TestSettings.{name}: expected {ours.__name__}, got {type(value).__name__}")
        return value
    if kind in ("bool", bool):
        if isinstance(value, (str, bytes)):
            raise TypeError(f"TestSettings.{name}: expected bool, got {type(value).__name__}")
        return bool(value)
    if kind in ("int", int):
        lo, hi = (-(2**31), 2**31 - 1) if name in _INT32 else (0, 2**64 - 1)
        if not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
            raise TypeError(f"TestSettings.{name}: expected an integer from {lo} to {hi}, got {value!r}")
        return int(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"TestSettings.{name}: expected float, got {type(value).__name__}")
    return float(value)


def _native_settings(s: _NativeSettings) -> _NativeSettings:
    """A native copy of compat settings (the binding's enums turned back into the core's)."""
    values = {f: getattr(s, f) for f in _FIELDS}
    for name, (_, native) in _ENUMS.items():
        values[name] = native(int(values[name]))
    return _NativeSettings(**values)


_user_conf_calls = 0
_pending_errors: list[tuple[str, str, int]] = []


class TestSettings(_NativeSettings):
    """The official ``TestSettings`` (same fields and defaults) with ``FromConfig``; as the binding, an unknown
    attribute is an ``AttributeError`` and a value of the wrong type a ``TypeError``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _FIELDS:
            raise AttributeError(f"'mlperf_loadgen.TestSettings' object has no attribute {name!r}")
        object.__setattr__(self, name, _checked(name, value))

    def FromConfig(self, path: str, model: str, scenario: str, conf_type: int = 1) -> int:  # noqa: N802
        """Apply a config file with the official precedence; raises :class:`ConfigError` on a bad file.

        As officially, the first ``conf_type=1`` call in a process first applies the built-in ``mlperf.conf``;
        later ones do not and log "Multiple conf files are used..." into the next test's detail log.
        """
        global _user_conf_calls
        kind = _conf.ConfKind(conf_type)
        if kind == _conf.ConfKind.USER:
            if _user_conf_calls == 0:
                _conf.apply(self, _conf.builtin_mlperf_conf(), model, scenario, _conf.ConfKind.MLPERF)
            else:
                _pending_errors.append(
                    ("error_invalid_config", "Multiple conf files are used. This is not valid for official submission.",
                     _clock())
                )
            _user_conf_calls += 1
        if kind == _conf.ConfKind.MLPERF and not path:
            _conf.apply(self, _conf.builtin_mlperf_conf(), model, scenario, kind)
        elif path:
            _conf.apply(self, _conf.read_file(path), model, scenario, kind)
        return 0


@dataclasses.dataclass
class LogOutputSettings:
    outdir: str = "."
    prefix: str = "mlperf_log_"
    suffix: str = ""
    prefix_with_datetime: bool = False
    copy_detail_to_stdout: bool = False
    copy_summary_to_stdout: bool = False


@dataclasses.dataclass
class LogSettings:
    log_output: LogOutputSettings = dataclasses.field(default_factory=LogOutputSettings)
    log_mode: LoggingMode = LoggingMode.AsyncPoll
    log_mode_async_poll_interval_ms: int = 1000
    enable_trace: bool = True


# -- SUT / QSL handles ----------------------------------------------------------------------------------
_handles: dict[int, Any] = {}
_next_handle = itertools.count(0x10000, 0x10)


def _register(obj: Any) -> int:
    h = next(_next_handle)
    _handles[h] = obj
    return h


def _lookup(h: int, kind: type) -> Any:
    obj = _handles.get(h)
    if not isinstance(obj, kind):
        raise ValueError(f"{h!r} is not a live {kind.__name__.lstrip('_')} handle")
    return obj


class _PySUT:
    def __init__(self, name: str | Callable[[], str], issue_cb: Callable[..., Any], flush_cb: Callable[[], Any],
                 fast: bool) -> None:
        self._name = name
        self._issue_cb, self._flush_cb, self._fast = issue_cb, flush_cb, fast

    @property
    def name(self) -> str:
        """The SUT's name; a QDL's name callback is called only now, when the test asks (as officially)."""
        return self._name if isinstance(self._name, str) else str(self._name())

    def start(self, sink: CompletionSink) -> None:
        global _active
        _active = sink  # QuerySamplesComplete and FirstTokenComplete report to the running test

    def bind_issue(self, ids: np.ndarray, indices: np.ndarray) -> Callable[[int, int], None]:
        ids_l, idx_l, cb = ids.tolist(), indices.tolist(), self._issue_cb
        if self._fast:
            def fire_fast(pos: int, n: int) -> None:
                cb(ids_l[pos : pos + n], idx_l[pos : pos + n])

            return fire_fast

        def fire(pos: int, n: int) -> None:
            if n == 1:
                cb([_new_sample(QuerySample, (ids_l[pos], idx_l[pos]))])
            else:
                pairs = zip(ids_l[pos : pos + n], idx_l[pos : pos + n], strict=True)
                cb(list(map(_new_sample, itertools.repeat(QuerySample, n), pairs)))

        return fire

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        self.bind_issue(ids, indices)(0, len(ids))

    def flush(self) -> None:
        self._flush_cb()


class _PyQSL:
    name = "PyQSL"

    def __init__(self, total: int, perf: int, load_cb: Callable[[list[int]], Any], unload_cb: Callable[[list[int]], Any]):
        self.total_sample_count, self.performance_sample_count = total, perf
        self._load, self._unload = load_cb, unload_cb

    def load_samples(self, indices: Sequence[int]) -> None:
        self._load(list(indices))

    def unload_samples(self, indices: Sequence[int]) -> None:
        self._unload(list(indices))


def ConstructSUT(issue_cb: Callable[[list[QuerySample]], Any], flush_cb: Callable[[], Any]) -> int:  # noqa: N802
    return _register(_PySUT("PySUT", issue_cb, flush_cb, fast=False))


def ConstructFastSUT(fast_issue_cb: Callable[[list[int], list[int]], Any], flush_cb: Callable[[], Any]) -> int:  # noqa: N802
    return _register(_PySUT("PyFastSUT", fast_issue_cb, flush_cb, fast=True))


def ConstructQDL(issue_cb: Callable[[list[QuerySample]], Any], flush_cb: Callable[[], Any], name_cb: Callable[[], str]) -> int:  # noqa: N802
    return _register(_PySUT(name_cb, issue_cb, flush_cb, fast=False))


def ConstructQSL(total_count: int, perf_count: int, load_cb: Callable[[list[int]], Any], unload_cb: Callable[[list[int]], Any]) -> int:  # noqa: N802
    return _register(_PyQSL(int(total_count), int(perf_count), load_cb, unload_cb))


def _destroy(h: int) -> None:
    _handles.pop(h, None)


DestroySUT = DestroyFastSUT = DestroyQDL = DestroyQSL = _destroy


# -- completions ------------------------------------------------------------------------------------------
_active: CompletionSink | None = None


def QuerySamplesComplete(responses: Sequence[QuerySampleResponse], response_cb: Callable[[QuerySampleResponse], Any] | None = None) -> None:  # noqa: N802
    """Complete samples; all share the timestamp taken on entry. Data is read only for logged samples.

    ``response_cb`` is called for each logged response of this call only (it is passed down, never stored,
    so concurrent callers each get their own).
    """
    sink = _active
    if sink is None:
        return
    if len(responses) == 1:
        r = responses[0]
        sink.complete_one(r.id, r, r.n_tokens, response_cb)
    else:
        sink.complete([r.id for r in responses], responses, [r.n_tokens for r in responses], on_response=response_cb)


def FirstTokenComplete(responses: Sequence[QuerySampleResponse], response_cb: Callable[[QuerySampleResponse], Any] | None = None) -> None:  # noqa: N802
    sink = _active
    if sink is None:
        return
    sink.first_token([r.id for r in responses], list(responses), on_response=response_cb)


# -- running ----------------------------------------------------------------------------------------------
last_result: _run.TestResult | None = None
"""The :class:`mlmeter.loadgen.TestResult` of the latest StartTest (an mlmeter addition)."""


def StartTestWithLogSettings(sut: int, qsl: int, test_settings: _NativeSettings, log_settings: LogSettings, audit_config_filename: str = "audit.config") -> None:  # noqa: N802
    global _active, last_result
    out = log_settings.log_output
    ls = _run.LogSettings(
        outdir=out.outdir,
        prefix=out.prefix,
        suffix=out.suffix,
        prefix_with_datetime=out.prefix_with_datetime,
        enable_trace=log_settings.enable_trace,
    )
    pending = list(_pending_errors)
    _pending_errors.clear()
    hook = _print_summary if out.copy_summary_to_stdout else None
    try:
        last_result = _run.run_test(
            _lookup(sut, _PySUT),
            _lookup(qsl, _PyQSL),
            _native_settings(test_settings),
            ls,
            audit_config=audit_config_filename,
            response_reader=_read_response,
            pending_errors=pending,
            summary_hook=hook,
        )
    finally:
        _active = None
    if out.copy_detail_to_stdout:
        with open(last_result.files["detail"], encoding="utf-8") as f:
            sys.stdout.write(f.read())


def _print_summary(text: str) -> None:
    sys.stdout.write(text)


def StartTest(sut: int, qsl: int, test_settings: _NativeSettings, audit_config_filename: str = "audit.config") -> None:  # noqa: N802
    StartTestWithLogSettings(sut, qsl, test_settings, LogSettings(), audit_config_filename)
