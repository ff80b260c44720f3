"""One adapter per kind of run: what the run record needs from the kind's body.

A kind is registered by name (:data:`BUILTIN` maps the built-in ones to their modules, imported when first
needed; :func:`register` adds one at run time). An adapter subclasses :class:`KindAdapter` and overrides what
differs: ``metrics`` (headline first), ``identity``, ``checks`` (when the writer passes none, and for version-1
files), ``title``; ``migrate`` upgrades older body versions (list them in ``history``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlmeter.results.record import Metric, RecordError, RunRecord
from mlmeter.verdict import Check, judge


class KindAdapter:
    name = ""
    version = 1
    history: Mapping[int, str] = {1: "the body as first enveloped: the kind's version-1 document, envelope keys moved out"}
    legacy_schema = ""
    """The version-1 (pre-envelope) schema name of this kind's ``result.json``, if it had one."""
    legacy_keys: tuple[str, ...] = ()
    """Keys of a version-1 document that the envelope replaced (its verdict, reasons…): dropped from the body."""

    def migrate(self, body: dict[str, Any], version: int) -> dict[str, Any]:
        """The body of ``version`` upgraded to :attr:`version` (nothing to do until a kind changes)."""
        return body

    def checks(self, body: Mapping[str, Any]) -> list[Check]:
        return []

    def complete(self, body: Mapping[str, Any]) -> bool:
        return bool(body.get("complete", True))

    def metrics(self, body: Mapping[str, Any], power: Mapping[str, Any] | None) -> list[Metric]:
        return power_metrics(power)

    def identity(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def environment(self, body: Mapping[str, Any], system: Mapping[str, Any] | None) -> dict[str, Any]:
        return host_environment(system)

    def title(self, body: Mapping[str, Any]) -> str:
        """A short name for lists and report headings: the identity's descriptive fields."""
        return " · ".join(str(v) for k, v in self.identity(body).items() if v is not None and k in _TITLE_KEYS)


_TITLE_KEYS = ("benchmark", "scenario", "mode", "model", "accelerator", "quality_target")


BUILTIN = {
    "loadgen": "mlmeter.results.kinds.loadgen",
    "inference": "mlmeter.results.kinds.inference",
    "storage": "mlmeter.results.kinds.storage",
    "checkpointing": "mlmeter.results.kinds.checkpointing",
    "training": "mlmeter.results.kinds.training",
    "repeat": "mlmeter.results.kinds.repeat",
    "serving": "mlmeter.results.kinds.serving",
}
_loaded: dict[str, KindAdapter] = {}


def register(a: KindAdapter) -> None:
    _loaded[a.name] = a


def adapter(name: str) -> KindAdapter:
    """The adapter of kind ``name``; KeyError for an unknown kind."""
    if name not in _loaded:
        register(importlib.import_module(BUILTIN[name]).ADAPTER)
    return _loaded[name]


def from_legacy(doc: dict[str, Any], where: Path | str) -> RunRecord:
    """A version-1 ``result.json`` (one flat schema per kind) migrated to a record."""
    schema = doc.get("schema")
    for name in BUILTIN:
        a = adapter(name)
        if a.legacy_schema == schema:
            break
    else:
        raise RecordError(f"{where}: unknown result schema {schema!r}")
    version = doc.get("schema_version")
    if version != 1:
        newer = isinstance(version, int) and version > 1
        raise RecordError(f"{where}: schema {schema} version {version!r} "
                          + ("is newer than this mlmeter reads (1); upgrade mlmeter" if newer else "is not valid"))
    try:
        checks = a.checks(doc)
        complete = a.complete(doc)
        body = {k: v for k, v in doc.items()
                if k not in ("schema", "schema_version", "tool", "system", "power", *a.legacy_keys)}
        power = doc.get("power")
        return RunRecord(a.name, a.version, judge(checks, complete), complete, tuple(checks),
                         tuple(a.metrics(doc, power)), a.identity(doc), a.environment(doc, doc.get("system")), body,
                         doc.get("system"), power, dict(doc.get("tool") or {}))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"{where}: damaged {a.name} result ({type(exc).__name__}: {exc})") from exc


def power_metrics(power: Mapping[str, Any] | None) -> list[Metric]:
    pw = power or {}
    out = []
    if pw.get("average_watts") is not None:
        out.append(Metric("average power", pw["average_watts"], "W", False))
    if pw.get("samples_per_joule") is not None:
        out.append(Metric("samples per joule", pw["samples_per_joule"], "samples/J", True))
    return out


def host_environment(system: Mapping[str, Any] | None) -> dict[str, Any]:
    """The system and software a run measured: differences make a comparison a comparison of systems."""
    s = system or {}
    sw = s.get("software") or {}
    cpu = s.get("cpu") or {}
    env = {"host": s.get("hostname"), "cpu": cpu.get("model"), "logical_cpus": cpu.get("logical_cpus"),
           "memory_bytes": s.get("memory_bytes"), "python": sw.get("python"), "mlmeter": sw.get("mlmeter")}
    env.update({f"package {k}": v for k, v in (sw.get("packages") or {}).items()})
    return env


__all__ = ["BUILTIN", "KindAdapter", "adapter", "from_legacy", "host_environment", "power_metrics", "register"]
