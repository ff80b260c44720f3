"""The embedded default benchmark (``mlmeter run``): the digits MLP on ONNX Runtime CPU, FP32 and INT8, in
performance and accuracy — offline, with real accuracy, in about a minute."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlmeter import events
from mlmeter.inference.config import InferConfig
from mlmeter.inference.harness import ScenarioOutcome, prepare, run_scenario
from mlmeter.loadgen import TestScenario

PLAN = (("digits", (TestScenario.Offline, TestScenario.SingleStream, TestScenario.Server)),
        ("digits-int8", (TestScenario.Offline,)))
"""(model, performance scenarios); each model then has an Offline accuracy run."""


def default_configs(base: Path, seconds: float) -> list[InferConfig]:
    # A 100 ms Server bound: the model takes microseconds, but a small VM's timer hiccups do not.
    return [InferConfig(backend="onnxruntime", model=model, scenarios=scenarios, duration_s=seconds,
                        max_latency_s=0.1, auto_targets=True, output=base / model, max_batchsize=32,
                        power=("auto",)) for model, scenarios in PLAN]


def run_default(base: Path, seconds: float = 10, observer: events.Observer | None = None) -> list[ScenarioOutcome]:
    """Every run of the plan under ``base`` (``<model>/<scenario>/<mode>``), in order."""
    outcomes: list[ScenarioOutcome] = []
    for cfg in default_configs(base, seconds):
        p = prepare(cfg, observer)
        try:
            for sc in cfg.scenarios:
                outcomes.append(run_scenario(p, sc, observer))
            p.cfg = dataclasses.replace(cfg, mode="accuracy")
            outcomes.append(run_scenario(p, TestScenario.Offline, observer))
        finally:
            p.close()
    return outcomes
