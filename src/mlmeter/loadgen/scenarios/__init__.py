"""The scenarios: one issue loop each behind one contract, ``issue(ctx: PassContext) -> None``, and one policy
object each (:mod:`mlmeter.loadgen.scenarios.policy`) that the rest of the LoadGen asks."""

from __future__ import annotations

from mlmeter.loadgen.scenarios.base import PassContext, waiter

__all__ = ["PassContext", "waiter"]
