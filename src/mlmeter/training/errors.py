"""The training domain's error."""

from __future__ import annotations

from mlmeter.errors import MlmeterError


class TrainingError(MlmeterError, ValueError):
    """A bad workload name or option; the message lists what is valid."""
