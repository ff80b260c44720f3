"""``result.json`` of a LoadGen run: a run record (:mod:`mlmeter.results.record`) of kind ``loadgen``.

The envelope holds the verdict (VALID, INVALID, INCOMPLETE when interrupted, NOT_JUDGED for AccuracyOnly), the
checks behind it (the official rules with their recommendations and mlmeter's advice, then one decisive check
per SUT failure), the headline metrics, identity, system and power. The body (kind version 1) holds:

- ``loadgen_behaviour``: the official version mimicked
- ``started_at`` (UTC ISO-8601), ``sut_name``, ``qsl_name``, ``scenario``, ``mode``
- ``metrics``: scenario metrics (``qps_with_loadgen_overhead``, ``completed_samples_per_sec``...), latencies in ns
- ``latency``: {min, max, mean, p50 … p99.9} of sample latencies; ``query_latency`` for MultiStream
- ``timing_s``: the official result-formula inputs (final query scheduled/issued/all-done time, max latency)
- ``early_stopping``: the estimate or overlatency figures, and the official text
- ``settings``: {requested: every TestSettings field, effective: every effective field, layers: [{name, source,
  fields}] in the order applied (``mlmeter.loadgen.builder``)}
- ``latency_histogram``: {edges_ns, counts}, log-spaced (query latencies for MultiStream)
- ``timeline``: {bucket_s, issued, completed}: samples per time bucket of the performance pass
- ``find_peak_qps``, ``find_peak_trials``: [{target_qps, achieved_qps, p99_latency_ns, passed}]
- ``accuracy_samples_logged``, ``errors``, ``warnings``, ``files``
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import TYPE_CHECKING, Any

from mlmeter.loadgen.early_stopping import OverlatencyCheck, PercentileEstimate
from mlmeter.loadgen.logs.summary import early_stopping_text
from mlmeter.results.record import RunRecord, new_record

if TYPE_CHECKING:
    from mlmeter.loadgen.outcome import TestResult


def _plain(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.name
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _early_stopping(es: Any) -> dict[str, Any] | None:
    if isinstance(es, PercentileEstimate):
        d = dataclasses.asdict(es)
    elif isinstance(es, OverlatencyCheck):
        d = {**dataclasses.asdict(es), "satisfied": es.satisfied}
    else:
        return None
    d["text"] = early_stopping_text(es)
    return d


def result_body(r: TestResult) -> dict[str, Any]:
    """The ``loadgen`` body of the run record (also nested in an inference run's body)."""
    p = r.performance
    doc: dict[str, Any] = {
        "loadgen_behaviour": "mlcommons-loadgen 6.0.17",
        "started_at": r.started_at,
        "sut_name": r.sut_name,
        "qsl_name": r.qsl_name,
        "scenario": r.scenario.name,
        "mode": r.mode.name,
        "metrics": _plain(p.metrics) if p else {},
        "sample_count": p.sample_count if p else 0,
        "timing_s": {
            "final_query_scheduled": p.final_query_scheduled_s,
            "final_query_issued": p.final_query_issued_s,
            "final_query_all_samples_done": p.final_query_done_s,
            "max_latency": p.max_latency_s,
        } if p else None,
        "query_count": p.query_count if p else 0,
        "latency": _plain(stats_dict(p.latency)) if p else None,
        "query_latency": _plain(stats_dict(p.query_latency)) if p and p.query_latency else None,
        "early_stopping": _early_stopping(p.early_stopping) if p else None,
        "settings": {
            "requested": _plain(dataclasses.asdict(r.requested)) if r.requested else None,
            "effective": _plain(dataclasses.asdict(r.settings)),
            "layers": [_plain(layer.as_dict()) for layer in r.layers],
        },
        "latency_histogram": p.histogram if p else None,
        "timeline": p.timeline if p else None,
        "find_peak_qps": r.find_peak_qps,
        "find_peak_trials": [dataclasses.asdict(t) for t in r.find_peak_trials],
        "accuracy_samples_logged": r.accuracy_logged,
        "errors": list(r.errors),
        "warnings": list(r.warnings),
        "files": dict(r.files),
    }
    if p and p.tokens is not None:
        doc["tokens"] = {
            "token_count": p.tokens.token_count,
            "ttft": _plain(stats_dict(p.tokens.ttft)),
            "tpot": _plain(stats_dict(p.tokens.tpot)),
        }
    return doc


def stats_dict(s: Any) -> dict[str, Any]:
    """Latency statistics as ``result.json`` writes them: min, max, mean, p50 … p99.9."""
    d = {"min": s.min, "max": s.max, "mean": s.mean}
    d.update({f"p{k * 100:g}": v for k, v in s.percentiles.items()})
    return d


def result_record(r: TestResult, system: dict[str, Any] | None = None,
                  power: dict[str, Any] | None = None) -> RunRecord:
    return new_record("loadgen", result_body(r), checks=r.checks, complete=not r.interrupted, system=system,
                      power=power)
