"""SingleStream and MultiStream: one query outstanding; the next is issued when the last one completes."""

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
    issued_mv = memoryview(issued)
    q = 0
    ended = False
    start = ctx.start_ns = clock()
    try:
        while q < total and not ended:
            n = min(CHUNK, total - q)
            indices = plan.next_samples(n)
            ctx.prepare(q * spq, indices)
            fire = ctx.bind(ctx.ids(q * spq, n * spq), indices)
            if q + n > len(issued):
                issued_mv.release()
                issued = np.concatenate((issued, np.zeros(max(n, len(issued)), dtype=np.int64)))
                issued_mv = memoryview(issued)
            pos = 0
            for _ in range(n):
                t = clock()
                issued_mv[q] = t
                q += 1
                need = q * spq
                comp.n_issued = need
                try:
                    fire(pos, spq)
                except Exception as exc:  # a failing SUT ends the run, it does not crash the generator
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
        ctx.issued_ns = issued[:q].copy()
        ctx.scheduled_ns = ctx.issued_ns
