"""Offline: every sample in one query, issued at once."""

from __future__ import annotations

import numpy as np

from mlmeter.loadgen.scenarios.base import PassContext, clock


def issue_offline(ctx: PassContext) -> None:
    plan = ctx.plan
    comp = ctx.completer
    indices = plan.next_samples(1)
    n = len(indices)
    ctx.prepare(0, indices)
    fire = ctx.bind(ctx.ids(0, n), indices)
    start = ctx.start_ns = clock()
    comp.n_issued = n
    ctx.queries = 1
    ctx.issued_ns = np.array([start], dtype=np.int64)
    ctx.scheduled_ns = ctx.issued_ns
    try:
        fire(0, n)
    except Exception as exc:  # noqa: BLE001 - a failing SUT ends the run, it does not crash the generator
        ctx.sut_raised(exc, n)
        return
    if not ctx.accuracy:
        ctx.note("generic_message", "Ending naturally: Minimum query count and test duration met.")
