"""The run record: one typed envelope that every kind of run writes and every reader loads.

A ``result.json`` holds (schema ``mlmeter.run``, version 2)::

    schema, schema_version          "mlmeter.run", 2
    kind, kind_version              which benchmark, and the version of its body (see each kind's HISTORY)
    tool                            {name, version} of the mlmeter that wrote it
    verdict                         VALID | INVALID | INCOMPLETE | NOT_JUDGED (mlmeter.verdict), judged once
    complete                        false when the run was interrupted or a part of it is missing
    reasons                         why it is not VALID, one line per failed check (derived, for readers)
    checks                          [Check]: the rules behind the verdict, failed ones explained
    metrics                         [Metric]: the headline first (name, value, unit, direction, replicates)
    identity                        what must match before two runs are compared
    environment                     the system and software, flattened for comparison
    system, power                   the host description and the power section, as measured
    body                            the kind's own data (LoadGen result, storage epochs, training runs…)

Schema history:
    1  one schema per kind (``mlmeter.loadgen.result``, ``mlmeter.inference.result``, ``mlmeter.storage.result``,
       ``mlmeter.storage.checkpoint_result``, ``mlmeter.training.result``, ``mlmeter.repeat.result``), each flat and
       with its own verdict key (``verdict``, ``result_validity``, ``category``, ``valid``). Loaded by migration:
       the kind's adapter derives the checks and verdict from those keys; the document becomes the body.
    2  this envelope.

One writer (:func:`write_record`: atomic, the umask's mode), one loader (:func:`load_record`: validates, names
what is missing, migrates). Adding a kind is one adapter module in :mod:`mlmeter.results.kinds`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmeter import __version__
from mlmeter.errors import MlmeterError
from mlmeter.util.atomic import write_text
from mlmeter.verdict import Check, Verdict, judge

SCHEMA = "mlmeter.run"
SCHEMA_VERSION = 2
_ENVELOPE = ("kind", "kind_version", "verdict", "complete", "checks", "metrics", "identity", "environment", "body")


class RecordError(MlmeterError, ValueError):
    """A ``result.json`` that cannot be read as a run record; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None
    unit: str
    higher_is_better: bool
    percentile: bool = False
    """A tail-latency percentile: intervals come from the bootstrap, not the t distribution."""
    replicates: tuple[float, ...] = field(default=())
    """Values inside one run whose spread estimates the metric's noise, when the run has them."""
    replicated_by: str = ""
    """What the replicates are: "runs", "epochs", "checkpoints" or "batch means" (of a LoadGen timeline)."""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "higher_is_better": self.higher_is_better,
                "percentile": self.percentile, "replicates": list(self.replicates),
                "replicated_by": self.replicated_by}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Metric:
        v = d.get("value")
        return Metric(str(d["name"]), None if v is None else float(v), str(d.get("unit", "")),
                      bool(d.get("higher_is_better", True)), bool(d.get("percentile", False)),
                      tuple(float(x) for x in d.get("replicates") or ()), str(d.get("replicated_by", "")))


@dataclass(frozen=True)
class RunRecord:
    kind: str
    kind_version: int
    verdict: Verdict
    complete: bool
    checks: tuple[Check, ...]
    metrics: tuple[Metric, ...]
    identity: dict[str, Any]
    environment: dict[str, Any]
    body: dict[str, Any]
    system: dict[str, Any] | None = None
    power: dict[str, Any] | None = None
    tool: dict[str, Any] = field(default_factory=lambda: {"name": "mlmeter", "version": __version__})

    @property
    def headline(self) -> Metric | None:
        return self.metrics[0] if self.metrics else None

    @property
    def reasons(self) -> list[str]:
        """Why the run is not VALID: one sentence per failed check (after the note that it is incomplete)."""
        head = [] if self.complete else ["incomplete: interrupted by the user, or a part of the run is missing"]
        return head + [c.reason() for c in self.checks if not c.passed]

    @property
    def measured_kind(self) -> str:
        """The kind of benchmark measured: a repeat's is its members'."""
        return str(self.body.get("kind")) if self.kind == "repeat" else self.kind

    @property
    def title(self) -> str:
        from mlmeter.results.kinds import adapter

        return f"{self.kind}: {adapter(self.kind).title(self.body)}"

    def as_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kind": self.kind,
                "kind_version": self.kind_version, "tool": self.tool, "verdict": self.verdict.value,
                "complete": self.complete, "reasons": self.reasons, "checks": [c.as_dict() for c in self.checks],
                "metrics": [m.as_dict() for m in self.metrics], "identity": self.identity,
                "environment": self.environment, "system": self.system, "power": self.power, "body": self.body}


def new_record(kind: str, body: dict[str, Any], *, checks: Iterable[Check] | None = None,
               complete: bool | None = None, system: dict[str, Any] | None = None,
               power: dict[str, Any] | None = None) -> RunRecord:
    """The record of a finished run: the kind's adapter gives the metrics, identity and environment and, when
    the caller passes none, the checks and completeness from the body. The verdict is judged here, once."""
    from mlmeter.results.kinds import adapter

    a = adapter(kind)
    cs = tuple(checks) if checks is not None else tuple(a.checks(body))
    done = complete if complete is not None else a.complete(body)
    return RunRecord(kind, a.version, judge(cs, done), done, cs, tuple(a.metrics(body, power)),
                     a.identity(body), a.environment(body, system), body, system, power)


def write_record(path: Path, record: RunRecord) -> None:
    """Write ``record`` to ``path`` (usually ``<run dir>/result.json``) atomically."""
    write_text(path, json.dumps(record.as_dict(), indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise RecordError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise RecordError(f"{path}: holds a JSON {type(doc).__name__}, not an mlmeter result object")
    return doc


def load_record(run_dir: Path) -> RunRecord:
    """The run's ``result.json`` as a :class:`RunRecord`, checked and migrated from older versions."""
    f = run_dir / "result.json" if run_dir.is_dir() or not run_dir.name.endswith(".json") else run_dir
    if not f.is_file():
        raise RecordError(f"{run_dir}: no result.json (an incomplete run directory?)")
    return parse_record(read_json(f), f)


def parse_record(doc: dict[str, Any], where: Path | str = "result.json") -> RunRecord:
    from mlmeter.results.kinds import adapter, from_legacy

    schema, version = doc.get("schema"), doc.get("schema_version")
    if schema != SCHEMA:
        return from_legacy(doc, where)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(f"{where}: schema {schema} version {version} is newer than this mlmeter reads "
                          f"({SCHEMA_VERSION}); upgrade mlmeter")
    missing = [k for k in _ENVELOPE if k not in doc]
    if missing:
        raise RecordError(f"{where}: damaged run record, missing {', '.join(missing)}")
    try:
        a = adapter(str(doc["kind"]))
    except KeyError as exc:
        raise RecordError(f"{where}: unknown kind of run {doc['kind']!r}") from exc
    kv = doc["kind_version"]
    if not isinstance(kv, int) or kv > a.version:
        raise RecordError(f"{where}: {a.name} body version {kv} is newer than this mlmeter reads ({a.version})")
    try:
        body = a.migrate(dict(doc["body"]), kv)
        return RunRecord(a.name, a.version, Verdict(doc["verdict"]), bool(doc["complete"]),
                         tuple(Check.from_dict(c) for c in doc["checks"]),
                         tuple(Metric.from_dict(m) for m in doc["metrics"]), dict(doc["identity"]),
                         dict(doc["environment"]), body, doc.get("system"), doc.get("power"),
                         dict(doc.get("tool") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{where}: damaged run record ({type(exc).__name__}: {exc})") from exc
