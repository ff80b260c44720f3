"""SingleStream and MultiStream: one query outstanding; the next is issued when the last one completes.

Queries are generated, issued and recorded in chunks: after each chunk the completed samples are folded
into compact latency arrays (``ctx.record``) and the completion window is reused.
"""

from __future__ import annotations

import numpy as np

from mlmeter.loadgen.scenarios.base import PassContext, clock

CHUNK = 16384


def issue_closed_loop(ctx: PassContext) -> None:
    plan = ctx.plan
    comp = ctx.completer
    spq = plan.samples_per_query
    total = plan.query_count
    es = ctx.es
    check_end = not ctx.accuracy
    min_q = es.min_query_count
    target_ns = es.target_duration_ms * 1_000_000
    limits = check_end and (es.max_query_count or es.max_duration_ms)
    timeout = ctx.timeout_ns
    issued = np.zeros(min(total, CHUNK), dtype=np.int64)
    issued_mv = issued.data
    q = q0 = 0
    ended = False
    start = ctx.start_ns = clock()
    try:
        while q < total and not ended:
            if q:
                ctx.record(issued[: q - q0], issued[: q - q0])
                comp.rebase(q * spq)
            q0 = q
            n = min(CHUNK, total - q)
            indices = plan.next_samples(n)
            ctx.prepare(q * spq, indices)
            fire = ctx.bind(ctx.ids(q * spq, n * spq), indices)
            pos = 0
            for k in range(n):
                t = clock()
                issued_mv[k] = t
                q += 1
                need = q * spq
                comp.n_issued = need  # driver-side pass state (the SUT sees only the sink)
                try:
                    fire(pos, spq)
                except Exception as exc:  # noqa: BLE001 - a failing SUT ends the run, not the generator
                    ctx.sut_raised(exc, spq)
                    ended = True
                    break
                pos += spq
                if comp.n_done < need and not comp.wait_for(need, timeout):
                    ctx.timed_out()
                    ended = True
                    break
                if check_end:
                    elapsed = t - start
                    if q >= min_q and elapsed >= target_ns:
                        ctx.note("generic_message", "Ending naturally: Minimum query count and test duration met.")
                        ended = True
                        break
                    if limits and ctx.limits_hit(q, elapsed):
                        ended = True
                        break
        if check_end and not ended:
            ctx.note(
                "error_runtime",
                "Ending early: Ran out of generated queries to issue before the minimum query count and test "
                "duration were reached. Please update the relevant expected latency or target qps in the "
                "TestSettings so they are more accurate.",
            )
    finally:
        ctx.queries = q
        ctx.issued_ns = issued[: q - q0].copy()
        ctx.scheduled_ns = ctx.issued_ns
