"""``mlperf.conf`` / ``user.conf`` / ``audit.config`` parsing with the official semantics and strict errors.

What is read, from which kind of file, with which scenario and multiplier follows the official LoadGen
(spec §5). Where the official parser fails silently (``a.b.c=5`` ignored, a trailing comment discarding the
whole file, a misspelt scenario never matching) this parser raises :class:`ConfigError` naming the file,
line and key instead, and nothing from that file is applied.
"""

from __future__ import annotations

import enum
import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mlmeter.errors import MlmeterError
from mlmeter.loadgen.settings import TestMode, TestScenario, TestSettings


class ConfKind(enum.IntEnum):
    """The official ``conf_type``: which keys a file may set."""

    MLPERF = 0
    USER = 1
    AUDIT = 2


class ConfigError(MlmeterError, ValueError):
    """A config file that cannot be applied; names the file, line and key."""

    def __init__(self, path: str, line: int, key: str, message: str) -> None:
        self.path, self.line, self.key, self.message = path, line, key, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


SCENARIO_NAMES = tuple(s.name for s in TestScenario)
_HEX_OCT_DEC = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
MS = 1_000_000


@dataclass(frozen=True)
class _Key:
    name: str
    field: str
    is_int: bool
    multiplier: float = 1
    scenario: str | None = None  # fixed scenario, or None for the caller's
    mlperf_only: bool = False
    needs: str | None = None  # read only when this boolean field is already true
    kind: str = "num"  # "num", "bool_eq1" (== 1), "bool_nz" (!= 0), "mode"


# Order matters: some keys are read only if an earlier key switched a feature on.
_KEYS = (
    _Key("mode", "mode", True, kind="mode"),
    _Key("qsl_rng_seed", "qsl_rng_seed", True, mlperf_only=True),
    _Key("sample_index_rng_seed", "sample_index_rng_seed", True, mlperf_only=True),
    _Key("schedule_rng_seed", "schedule_rng_seed", True, mlperf_only=True),
    _Key("accuracy_log_probability", "accuracy_log_probability", False, 0.01, mlperf_only=True),
    _Key("test05", "test05", True, mlperf_only=True, kind="bool_eq1"),
    _Key("test05_qsl_rng_seed", "test05_qsl_rng_seed", True, mlperf_only=True),
    _Key("test05_sample_index_rng_seed", "test05_sample_index_rng_seed", True, mlperf_only=True),
    _Key("test05_schedule_rng_seed", "test05_schedule_rng_seed", True, mlperf_only=True),
    _Key("use_token_latencies", "use_token_latencies", True, kind="bool_eq1"),
    _Key("ttft_latency", "ttft_latency", True, MS, "Server", needs="use_token_latencies"),
    _Key("tpot_latency", "tpot_latency", True, MS, "Server", needs="use_token_latencies"),
    _Key("infer_token_latencies", "infer_token_latencies", True, kind="bool_eq1"),
    _Key(
        "token_latency_scaling_factor", "token_latency_scaling_factor", True, needs="infer_token_latencies"
    ),
    _Key("target_latency_percentile", "single_stream_target_latency_percentile", False, 0.01, "SingleStream"),
    _Key("target_latency_percentile", "multi_stream_target_latency_percentile", False, 0.01, "MultiStream"),
    _Key("samples_per_query", "multi_stream_samples_per_query", True, 1, "MultiStream"),
    _Key("target_latency_percentile", "server_target_latency_percentile", False, 0.01, "Server"),
    _Key("target_latency", "server_target_latency_ns", True, MS, "Server"),
    _Key("performance_issue_unique", "performance_issue_unique", True, kind="bool_nz"),
    _Key("performance_issue_same", "performance_issue_same", True, kind="bool_nz"),
    _Key("performance_issue_same_index", "performance_issue_same_index", True),
    _Key("sample_concatenate_permutation", "sample_concatenate_permutation", True, kind="bool_eq1"),
    _Key("coalesce_queries", "server_coalesce_queries", True, 1, "Server", kind="bool_nz"),
    _Key("max_async_queries", "server_max_async_queries", True, 1, "Server"),
    _Key("min_duration", "min_duration_ms", True),
    _Key("max_duration", "max_duration_ms", True),
    _Key("min_query_count", "min_query_count", True),
    _Key("max_query_count", "max_query_count", True),
    _Key("performance_sample_count_override", "performance_sample_count_override", True),
    _Key("accuracy_sample_count_override", "accuracy_sample_count_override", True),
    _Key("target_latency", "single_stream_expected_latency_ns", False, MS, "SingleStream"),
    _Key("target_latency", "multi_stream_expected_latency_ns", False, MS, "MultiStream"),
    _Key("target_qps", "server_target_qps", False, 1, "Server"),
    _Key("target_qps", "offline_expected_qps", False, 1, "Offline"),
    _Key("print_timestamps", "print_timestamps", True, kind="bool_nz"),
    _Key("accuracy_log_rng_seed", "accuracy_log_rng_seed", True),
    _Key("accuracy_log_sampling_target", "accuracy_log_sampling_target", True),
)
KNOWN_NAMES = frozenset(k.name for k in _KEYS)
# Present in official files, read by compliance scripts or older LoadGens, ignored by the LoadGen itself.
IGNORED_NAMES = frozenset(
    {"target_duration", "test07_accuracy_threshold", "test09_min_output_tokens", "test09_max_output_tokens"}
)


@dataclass(frozen=True)
class ConfigFile:
    """A parsed config file: ``entries`` maps ``model.scenario.name`` to (value token, line number)."""

    path: str
    entries: dict[str, tuple[str, int]]
    unknown_keys: tuple[str, ...]


def _check_number(tok: str) -> bool:
    return bool(_HEX_OCT_DEC.fullmatch(tok) or _DECIMAL.fullmatch(tok))


def parse_text(text: str, path: str) -> ConfigFile:
    """Parse config text; every malformed line raises :class:`ConfigError`."""
    entries: dict[str, tuple[str, int]] = {}
    unknown: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        key = tokens[0]
        if len(tokens) == 1:
            if "=" in key:
                raise ConfigError(path, lineno, key.split("=")[0], "write 'key = value' with spaces around '='")
            raise ConfigError(path, lineno, key, "expected 'key = value'")
        if tokens[1] != "=" or len(tokens) < 3:
            raise ConfigError(path, lineno, key, "expected 'key = value'")
        if len(tokens) > 3:
            extra = tokens[3]
            why = "trailing comments are not allowed" if extra.startswith("#") else "expected exactly one value"
            raise ConfigError(path, lineno, key, f"{why} (got {' '.join(tokens[2:])!r})")
        parts = key.rsplit(".", 2)
        if len(parts) != 3 or not all(parts):
            raise ConfigError(path, lineno, key, "keys have the form model.scenario.name")
        if parts[1] != "*" and parts[1] not in SCENARIO_NAMES:
            raise ConfigError(
                path, lineno, key, f"unknown scenario {parts[1]!r} (expected {', '.join(SCENARIO_NAMES)} or *)"
            )
        value = tokens[2]
        if not _check_number(value) or value.startswith(("-", "+")):
            raise ConfigError(path, lineno, key, f"value {value!r} is not a non-negative integer or decimal number")
        if parts[2] not in KNOWN_NAMES and parts[2] not in IGNORED_NAMES:
            unknown.append(key)
        entries[key] = (value, lineno)
    return ConfigFile(path, entries, tuple(unknown))


def read_file(path: str | os.PathLike[str]) -> ConfigFile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first key
    except FileNotFoundError:
        raise ConfigError(str(path), 0, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), 0, "", f"cannot read: {exc}") from None
    return parse_text(text, str(path))


def builtin_mlperf_conf_text() -> str:
    """The text of the ``mlperf.conf`` shipped with mlmeter (the official per-model values)."""
    return resources.files("mlmeter.loadgen").joinpath("data/mlperf.conf").read_text(encoding="utf-8")


def builtin_mlperf_conf() -> ConfigFile:
    """The per-model defaults shipped with mlmeter (the official ``mlperf.conf`` values)."""
    return parse_text(builtin_mlperf_conf_text(), "mlperf.conf (built in)")


def known_models() -> tuple[str, ...]:
    """The models the built-in ``mlperf.conf`` has values for."""
    return tuple(sorted({k.rsplit(".", 2)[0] for k in builtin_mlperf_conf().entries} - {"*"}))


def conf_model(benchmark: str) -> str:
    """The ``mlperf.conf`` model of a benchmark named with its accuracy variant (``llama2-70b-99.9`` ->
    ``llama2-70b``: both variants run with the same settings)."""
    return re.sub(r"-99(\.9)?$", "", benchmark)


def _strtoull(tok: str) -> int:
    m = _HEX_OCT_DEC.match(tok)
    if not m:
        return 0
    digits = m.group(0)
    if digits[:2] in ("0x", "0X"):
        return int(digits, 16)
    if digits.startswith("0"):
        return int(digits, 8) if len(digits) > 1 else 0
    if len(digits) > 30:  # beyond any 64-bit value (and Python's digit limit): out of range
        return 2**64
    return int(digits)


_INT_MAX = 2**64 - 1  # the official fields are uint64


def _whole(path: str, line: int, key: str, tok: str) -> int:
    """An integer key's value. The official parser keeps the digits before any '.', 'e' or 'x' it cannot read
    (``1e3`` is 1, ``7.9`` is 7); a value it would read as another number is refused here."""
    n = _strtoull(tok)
    if not _HEX_OCT_DEC.fullmatch(tok):
        try:
            exact = float(tok) == n
        except (ValueError, OverflowError):
            exact = False
        if not exact:
            raise ConfigError(path, line, key, f"takes a whole number; {tok[:40]} would be read as {n} by the "
                              f"official LoadGen: write the whole number you mean")
    return n


def _strtod(tok: str) -> float:
    if tok[:2] in ("0x", "0X"):
        return float(int(tok, 16))
    return float(tok)


def apply(settings: TestSettings, conf: ConfigFile, model: str, scenario: str, kind: ConfKind) -> None:
    """Apply ``conf`` to ``settings`` for (model, scenario) as a file of the given kind (spec §5.2–5.4).

    All values are converted and checked first; on any error nothing is applied.
    """
    staged = settings.copy()
    for key in _KEYS:
        if key.mlperf_only and kind != ConfKind.MLPERF:
            continue
        if key.needs and not getattr(staged, key.needs):
            continue
        sc = key.scenario or scenario
        found = None
        for cand in (f"{model}.{sc}.{key.name}", f"*.{sc}.{key.name}", f"{model}.*.{key.name}", f"*.*.{key.name}"):
            if cand in conf.entries:
                found = cand
                break
        if found is None:
            continue
        tok, line = conf.entries[found]
        if key.is_int:
            ival = _whole(conf.path, line, found, tok) * int(key.multiplier)
            if ival > _INT_MAX:
                raise ConfigError(conf.path, line, found, f"value {tok} is out of range (at most {_INT_MAX:,} "
                                  f"after the unit conversion)")
            if key.kind == "mode":
                if ival not in tuple(TestMode):
                    raise ConfigError(conf.path, line, found, f"invalid mode {ival} (0 to 3)")
                setattr(staged, key.field, TestMode(ival))
            elif key.kind == "bool_eq1":
                setattr(staged, key.field, ival == 1)
            elif key.kind == "bool_nz":
                setattr(staged, key.field, ival != 0)
            else:
                setattr(staged, key.field, ival)
        else:
            try:
                fval = _strtod(tok) * key.multiplier
            except OverflowError:
                fval = math.inf
            if not math.isfinite(fval):
                raise ConfigError(conf.path, line, found, f"value {tok[:40]} is too large for a number")
            setattr(staged, key.field, fval)
    for f in settings.__dataclass_fields__:
        setattr(settings, f, getattr(staged, f))


def conf_lines(model: str, scenario: str, fields: dict[str, object]) -> list[str]:
    """``model.scenario.key = value`` lines that set these TestSettings fields from a user.conf (the inverse of
    :func:`apply`; seeds and other mlperf.conf-only keys, and fields no key sets, are left out)."""
    out = []
    for key in _KEYS:
        if key.mlperf_only or key.field not in fields or key.kind == "mode":
            continue
        sc = key.scenario or scenario
        if sc != scenario:
            continue
        value = fields[key.field]
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif key.is_int:
            text = str(int(value) // int(key.multiplier))  # type: ignore[call-overload]
        else:
            text = repr(float(value) / key.multiplier)  # type: ignore[arg-type]
        out.append(f"{model}.{sc}.{key.name} = {text}")
    return out


def scenario_name(scenario: TestScenario | int | str) -> str:
    if isinstance(scenario, str):
        if scenario not in SCENARIO_NAMES:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIO_NAMES)}")
        return scenario
    return TestScenario(scenario).name


def load_settings(
    model: str,
    scenario: TestScenario | str,
    *,
    user_conf: str | Path | None = None,
    mlperf_conf: str | Path | None = None,
    base: TestSettings | None = None,
) -> TestSettings:
    """Settings for (model, scenario): defaults, then ``mlperf.conf`` (built in unless given), then ``user.conf``.

    The native counterpart of ``TestSettings.FromConfig``: no process-wide state, errors raised.
    """
    s = base.copy() if base else TestSettings()
    sc = scenario_name(scenario)
    s.scenario = TestScenario[sc]
    apply(s, read_file(mlperf_conf) if mlperf_conf else builtin_mlperf_conf(), model, sc, ConfKind.MLPERF)
    if user_conf:
        apply(s, read_file(user_conf), model, sc, ConfKind.USER)
    return s
