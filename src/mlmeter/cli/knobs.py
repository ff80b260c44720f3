"""The LoadGen knobs of every command, named once: one argparse group, one mapping from flags to fields.

``mlmeter loadgen`` and ``mlmeter infer`` share :func:`add_knobs`; ``infer`` also keeps the reference harness's
names (``--time``, ``--max-latency`` in seconds) as aliases (:func:`add_reference_aliases`). The library
takes and names TestSettings *fields*; :func:`name_flags` adds to a message the flag that sets each one, so an
error from the library can name what the user typed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlmeter.cli.options import number, whole


@dataclass(frozen=True)
class Knob:
    flag: str
    kind: Callable[[str], Any] | None
    help: str
    fields: Callable[[Any], dict[str, Any]]
    """The TestSettings fields the flag's value sets."""


def _same(*names: str, scale: float = 1, whole_number: bool = False) -> Callable[[Any], dict[str, Any]]:
    def fields(v: Any) -> dict[str, Any]:
        x = v * scale
        return dict.fromkeys(names, int(x) if whole_number else x)

    return fields


_I64 = 2**63 - 1
KNOBS = (
    Knob("--qps", number(), "Server target QPS and Offline expected QPS",
         _same("server_target_qps", "offline_expected_qps")),
    Knob("--expected-latency-ns", number(), "SingleStream/MultiStream expected latency",
         _same("single_stream_expected_latency_ns", "multi_stream_expected_latency_ns", whole_number=True)),
    Knob("--target-latency-ms", number(), "Server latency bound",
         _same("server_target_latency_ns", scale=1e6, whole_number=True)),
    Knob("--percentile", number(0, 1), "target latency percentile, e.g. 0.99",
         _same("single_stream_target_latency_percentile", "multi_stream_target_latency_percentile",
               "server_target_latency_percentile")),
    Knob("--samples-per-query", whole(1, 1_000_000), "MultiStream samples per query",
         _same("multi_stream_samples_per_query")),
    Knob("--min-duration-ms", whole(0, _I64), "minimum duration of the performance pass",
         _same("min_duration_ms")),
    Knob("--max-duration-ms", whole(0, _I64), "maximum duration (0: none)", _same("max_duration_ms")),
    Knob("--min-query-count", whole(0, _I64), "minimum number of queries", _same("min_query_count")),
    Knob("--max-query-count", whole(0, _I64), "maximum number of queries (0: none)", _same("max_query_count")),
    Knob("--max-async-queries", whole(0, 2**31 - 1), "Server: queries outstanding at most (0: no limit)",
         _same("server_max_async_queries")),
    Knob("--coalesce", None, "Server: coalesce overdue queries", lambda v: {"server_coalesce_queries": True} if v else {}),
    Knob("--accuracy-log-probability", number(0, 1, above=False), "share of performance samples logged",
         _same("accuracy_log_probability")),
    Knob("--completion-timeout-s", number(0, 86_400), "end INVALID after this long without a completion",
         _same("completion_timeout_ms", scale=1000, whole_number=True)),
)
REFERENCE_ALIASES = (
    Knob("--time", number(0, 31 * 86_400), "min and max duration of each run, s (the reference harness's --time)",
         _same("min_duration_ms", "max_duration_ms", scale=1000, whole_number=True)),
    Knob("--max-latency", number(0, 86_400), "Server latency bound and MultiStream expected latency, s (the "
         "reference harness's --max-latency)",
         _same("server_target_latency_ns", "multi_stream_expected_latency_ns", scale=1e9, whole_number=True)),
)


def _dest(k: Knob) -> str:
    return k.flag.lstrip("-").replace("-", "_")


def _add(g: argparse._ArgumentGroup, knobs: tuple[Knob, ...]) -> None:
    for k in knobs:
        if k.kind is None:
            g.add_argument(k.flag, action="store_true", help=k.help)
        else:
            g.add_argument(k.flag, type=k.kind, help=k.help)


def add_knobs(p: argparse.ArgumentParser, title: str = "LoadGen settings (after mlperf.conf and user.conf)") -> None:
    _add(p.add_argument_group(title), KNOBS)


def add_reference_aliases(p: argparse.ArgumentParser) -> None:
    _add(p.add_argument_group("the reference harness's names"), REFERENCE_ALIASES)


def knob_values(a: argparse.Namespace, knobs: tuple[Knob, ...] = KNOBS) -> dict[str, Any]:
    """The TestSettings fields the given flags set (flags not given set nothing)."""
    out: dict[str, Any] = {}
    for k in knobs:
        v = getattr(a, _dest(k), None)
        if v is not None and v is not False:
            out.update(k.fields(v))
    return out


def name_flags(message: str) -> str:
    """A library message naming TestSettings fields, with the flag that sets each one added once."""
    for k in KNOBS + REFERENCE_ALIASES:
        for f in k.fields(1):
            if f in message and f"{f} (" not in message:
                message = message.replace(f, f"{f} ({k.flag})", 1)
    return message
