"""The inference harness: backend + workload -> LoadGen SUT and QSL; batching; accuracy evaluation."""

from mlmeter.inference.config import InferConfig, InferConfigError
from mlmeter.inference.harness import Prepared, ScenarioOutcome, prepare, run_inference, run_plan, run_scenario

__all__ = [
    "InferConfig",
    "InferConfigError",
    "Prepared",
    "ScenarioOutcome",
    "prepare",
    "run_inference",
    "run_plan",
    "run_scenario",
]
