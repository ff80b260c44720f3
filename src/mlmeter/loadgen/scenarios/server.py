"""Server: queries arrive on the pre-computed Poisson schedule, whatever the SUT's progress."""

from __future__ import annotations

import numpy as np

from mlmeter.loadgen.scenarios.base import PassContext, clock


def issue_server(ctx: PassContext) -> None:
    plan = ctx.plan
    comp = ctx.completer
    es = ctx.es
    total = plan.query_count
    indices = plan.next_samples(total)
    ctx.prepare(0, indices)
    fire = ctx.bind(ctx.ids(0, total), indices)
    assert plan.offsets is not None
    offsets = plan.offsets[:total].tolist()
    issued = np.zeros(total, dtype=np.int64)
    issued_mv = issued.data
    coalesce = es.server_coalesce_queries
    max_async = es.max_async_queries
    limits = not ctx.accuracy and (es.max_query_count or es.max_duration_ms)
    wait_until = ctx.wait_until
    q = 0
    start = ctx.start_ns = clock()
    try:
        while q < total:
            target = start + offsets[q]
            now = clock()
            if now < target:
                now = wait_until(target)
            end = q + 1
            issued_mv[q] = now
            if coalesce:
                while end < total and start + offsets[end] <= now:
                    issued_mv[end] = now
                    end += 1
            comp.n_issued = end
            comp.scheduled_ns = target
            try:
                fire(q, end - q)
            except Exception as exc:  # noqa: BLE001 - a failing SUT ends the run, it does not crash the generator
                ctx.sut_raised(exc, end - q)
                q = end
                break
            q = end
            if max_async and q - comp.n_done > max_async:
                ctx.note(
                    "error_runtime",
                    f"IssueQueryThread 0 Ending early: Too many outstanding queries. issued {q} outstanding "
                    f"{q - comp.n_done}",
                )
                break
            if limits and ctx.limits_hit(q, now - start):
                break
    finally:
        ctx.queries = q
        ctx.issued_ns = issued[:q].copy()
        ctx.scheduled_ns = start + plan.offsets[:q]
