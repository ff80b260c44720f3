"""One settings builder with named layers, in the official order of precedence.

Every run builds its :class:`TestSettings` here, one layer after another — the built-in (or a given)
``mlperf.conf``, a tool's or a model's defaults, targets measured at warm-up, ``user.conf``, the flags — and
the :class:`Layer` records say which layer set which field to what; they go into ``result.json`` (``settings.layers``)
so a reader can see where every value came from. ``run_test`` adds the ``audit.config`` layer itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlmeter.loadgen import config as conf
from mlmeter.loadgen.settings import SettingsError, TestScenario, TestSettings


@dataclass(frozen=True)
class Layer:
    name: str
    """"mlperf.conf", "defaults", "auto targets", "user.conf", "audit.config", "flags"…"""
    source: str = ""
    """The file read, or what the values come from."""
    fields: dict[str, Any] = field(default_factory=dict)
    """The fields this layer changed, with the values it gave them."""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source,
                "fields": {k: v.name if hasattr(v, "name") else v for k, v in self.fields.items()}}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if before.get(k) != v}


class SettingsBuilder:
    """``SettingsBuilder(scenario, model).mlperf_conf().user_conf(path).values("flags", {...}).settings``."""

    def __init__(self, scenario: TestScenario | str, model: str = "*") -> None:
        self.scenario = TestScenario[conf.scenario_name(scenario)]
        self.model = model
        self.settings = TestSettings(scenario=self.scenario)
        self.layers: list[Layer] = []

    def _layer(self, name: str, source: str, change: Callable[[TestSettings], None]) -> SettingsBuilder:
        before = dataclasses.asdict(self.settings)
        change(self.settings)
        fields = _changes(before, dataclasses.asdict(self.settings))
        self.layers.append(Layer(name, source, fields))
        return self

    def mlperf_conf(self, path: str | os.PathLike[str] | None = None) -> SettingsBuilder:
        """The official per-model values: the built-in ``mlperf.conf`` unless ``path`` is given."""
        cf = conf.read_file(path) if path else conf.builtin_mlperf_conf()
        return self._layer("mlperf.conf", str(path) if path else "built-in (MLPerf Inference v6.0)",
                           lambda s: conf.apply(s, cf, self.model, self.scenario.name, conf.ConfKind.MLPERF))

    def user_conf(self, path: str | os.PathLike[str] | None) -> SettingsBuilder:
        if path is None:
            return self
        cf = conf.read_file(path)
        return self._layer("user.conf", str(path),
                           lambda s: conf.apply(s, cf, self.model, self.scenario.name, conf.ConfKind.USER))

    def values(self, name: str, values: Mapping[str, Any], source: str = "") -> SettingsBuilder:
        """Set fields by name (a None value leaves the field as it is); an unknown field is a SettingsError."""
        unknown = [k for k in values if k not in _FIELDS]
        if unknown:
            raise SettingsError(f"unknown LoadGen setting {', '.join(unknown)}")

        def change(s: TestSettings) -> None:
            for k, v in values.items():
                if v is not None:
                    setattr(s, k, v)

        return self._layer(name, source, change)

    def apply(self, name: str, change: Callable[[TestSettings], None], source: str = "") -> SettingsBuilder:
        """A layer that computes its values from the settings so far (auto targets from a warm-up)."""
        return self._layer(name, source, change)


_FIELDS = frozenset(f.name for f in dataclasses.fields(TestSettings))


def audit_layer(settings: TestSettings, path: str | os.PathLike[str]) -> Layer:
    """Apply a compliance ``audit.config`` to ``settings`` in place; the layer it made."""
    before = dataclasses.asdict(settings)
    conf.apply(settings, conf.read_file(path), "*", conf.scenario_name(settings.scenario), conf.ConfKind.AUDIT)
    return Layer("audit.config", str(path), _changes(before, dataclasses.asdict(settings)))
