"""The inference harness: backend + workload -> LoadGen SUT and QSL; batching; accuracy evaluation."""

from mlmeter.inference.config import InferConfig, InferConfigError
from mlmeter.inference.harness import HarnessObserver, Prepared, ScenarioOutcome, prepare, run_inference, run_scenario

__all__ = [
    "HarnessObserver",
    "InferConfig",
    "InferConfigError",
    "Prepared",
    "ScenarioOutcome",
    "prepare",
    "run_inference",
    "run_scenario",
]
