"""Validity-aware peak finding on an endpoint (``mlmeter serve --mode find-peak``).

The highest Server target QPS whose run is VALID under MLPerf's rules — the TTFT and TPOT (or latency) bounds
*and* early stopping — found with short probes and then confirmed by a full run. Unlike the LoadGen's own
FindPeakPerformance (which checks the latency bound only), a probe passes only when every check other than
the two it shortens on purpose (``min_duration``, ``min_queries``) passes. Each probe runs at least as many
queries as early stopping needs with none over the bound, so a probe that passes has enough evidence.

Search: from the base ``server_target_qps``, double (or halve) until the verdict changes, then bisect until
the bracket is within ``tolerance``; confirm the lower end with the full settings, stepping down by the
tolerance when the confirmation fails (at most ``confirmations`` full runs). With a concurrency level as the
base, the same search runs over closed-loop streams (not an MLPerf scenario): the highest number of streams
whose p99 TTFT and TPOT meet the bounds, bisected to one stream. Every probe and confirmation is a
run directory of its own under the output; the confirmation's record carries the whole search.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlmeter import events
from mlmeter.loadgen import RunInterrupted, TestScenario
from mlmeter.loadgen.early_stopping import needed_queries
from mlmeter.results.record import new_record, write_record
from mlmeter.serving import ServingError
from mlmeter.serving.bench import ServeConfig, ServeOutcome, build_settings, check_endpoints, run_serve
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import fresh_directory

SHORTENED = frozenset({"min_duration", "min_queries"})
"""The checks a probe shortens on purpose; every other check must pass."""


@dataclass(frozen=True)
class PeakSearch:
    probe_duration_ms: int = 5_000
    probe_queries: int = 0
    """Queries per probe; 0: as many as early stopping needs with none over the bound (459 for p99)."""
    tolerance: float = 0.05
    """Stop bisecting when (upper - lower) / lower is at most this."""
    max_probes: int = 16
    confirmations: int = 2


@dataclass(frozen=True)
class PeakOutcome:
    qps: float | None
    """The confirmed peak: a target QPS, or streams (None when no level passed)."""
    peak: dict[str, Any]
    """What ``peak.json`` holds: every trial (probes, then confirmations) with its run directory's name."""
    confirmation: ServeOutcome | None
    outdir: Path


def probe_passed(o: ServeOutcome) -> bool:
    return o.record.complete and all(c.passed for c in o.record.checks if c.name not in SHORTENED)


def trial_row(o: ServeOutcome, passed: bool, role: str) -> dict[str, Any]:
    """One point of the latency-vs-load chart: the level (target QPS or streams), the achieved rate, p99 TTFT and
    TPOT, the outcome and the failed checks."""
    body = o.record.body
    tok, m = body.get("tokens") or {}, body.get("metrics") or {}
    conc = body.get("concurrency")
    level = ({"streams": conc["streams"]} if conc else
             {"target_qps": float(body["settings"]["effective"]["target_qps"])})
    return {"role": role, **level, "achieved_qps": m.get("completed_samples_per_sec"),
            "p99_latency_ns": (tok.get("ttft") or {}).get("p99") or (body.get("latency") or {}).get("p99"),
            "p99_tpot_ns": (tok.get("tpot") or {}).get("p99"), "passed": passed, "verdict": o.record.verdict.value,
            "reasons": [f"{c.name}: {c.actual} (needs {c.expected})" for c in o.record.checks
                        if not c.passed and (role == "confirmation" or c.name not in SHORTENED)],
            "run": o.outdir.name}


class _Search:
    """The search over Server target QPS, or (``cfg.concurrency`` > 0) over closed-loop streams."""

    def __init__(self, cfg: ServeConfig, search: PeakSearch, observer: events.Observer | None) -> None:
        self.cfg, self.search, self.observer = cfg, search, observer
        self.outdir = Path()
        self.streams = cfg.concurrency > 0
        es = build_settings(replace(cfg, scenario=TestScenario.Server, mode="performance")).settings
        self.base = float(cfg.concurrency if self.streams else es.server_target_qps)
        pct = float(es.server_target_latency_percentile)
        need = needed_queries(0, pct)
        if 0 < search.probe_queries < need and not self.streams:
            raise ServingError(f"--probe-queries {search.probe_queries}: early stopping at p{pct * 100:g} needs at "
                               f"least {need} queries even with none over the bound; give {need} or more")
        self.queries = search.probe_queries or need
        self.probes: list[ServeOutcome] = []
        self.verdicts: dict[float, bool] = {}
        self.confirmations: list[ServeOutcome] = []

    def name(self, level: float) -> str:
        return f"streams-{int(level)}" if self.streams else f"qps-{level:.4g}"

    def _run(self, level: float, name: str, full: bool) -> ServeOutcome:
        settings = dict(self.cfg.settings)
        if self.streams:
            run = replace(self.cfg, mode="performance", concurrency=int(level), output=self.outdir / name, overwrite=False,
                          settings=settings if full else {**settings, "min_duration_ms": self.search.probe_duration_ms})
            return run_serve(run, self.observer)
        settings["server_target_qps"] = level
        if not full:
            settings.update(min_duration_ms=self.search.probe_duration_ms, min_query_count=self.queries)
        run = replace(self.cfg, scenario=TestScenario.Server, mode="performance", concurrency=0,
                      output=self.outdir / name, overwrite=False, settings=settings)
        return run_serve(run, self.observer)

    def probe(self, level: float) -> bool:
        if len(self.probes) >= self.search.max_probes:
            raise _OutOfProbes
        o = self._run(level, f"probe-{len(self.probes) + 1:02d}-{self.name(level)}", full=False)
        self.probes.append(o)
        self.verdicts[level] = probe_passed(o)
        return self.verdicts[level]

    def bracket(self) -> tuple[float | None, float | None]:
        """(highest passing, lowest failing) probed levels, by doubling or halving from the base."""
        q = self.base
        if self.probe(q):
            while self.probe(q * 2):
                q *= 2
            return q, q * 2
        floor = 1.0 if self.streams else self.base / 2**6
        while q > floor:
            q = max(q // 2, 1.0) if self.streams else q / 2
            if self.probe(q):
                return q, q * 2
        return None, q

    def bisect(self, lo: float, hi: float) -> float:
        while (hi - lo > 1) if self.streams else ((hi - lo) / lo > self.search.tolerance):
            mid = (lo + hi) // 2 if self.streams else (lo + hi) / 2
            if self.probe(mid):
                lo = mid
            else:
                hi = mid
        return lo

    def confirm(self, level: float) -> float | None:
        """Full runs from ``level`` down (by the tolerance, or one stream) until one is VALID; that level or None."""
        for k in range(self.search.confirmations):
            run = self._run(level, f"confirm-{k + 1}-{self.name(level)}", full=True)
            self.confirmations.append(run)
            if run.record.verdict.value == "VALID":
                return level
            level = level - 1 if self.streams else level * (1 - self.search.tolerance)
            if level < 1 and self.streams:
                break
        return None


class _OutOfProbes(Exception):
    pass


def _search(s: _Search, obs: events.Observer) -> float | None:
    """Bracket, then bisect: the highest passing probed rate (None when none passed)."""
    try:
        lo, hi = s.bracket()
        return s.bisect(lo, hi) if lo is not None and hi is not None else lo
    except _OutOfProbes:
        obs.on_warning(events.Warning(f"find-peak: stopped after {s.search.max_probes} probes (--max-probes)"))
        passing = [q for q, ok in s.verdicts.items() if ok]
        return max(passing) if passing else None


def _write(s: _Search, lo: float | None, qps: float | None,
           interrupted: bool = False) -> tuple[ServeOutcome | None, dict[str, Any]]:
    """``peak.json``, and the search in the last confirmation's record; that confirmation (None if none ran) and
    the search."""
    confirmation = s.confirmations[-1] if s.confirmations else None
    trials = [trial_row(o, probe_passed(o), "probe") for o in s.probes]
    trials += [trial_row(o, o.record.verdict.value == "VALID", "confirmation") for o in s.confirmations]
    found = ({"streams": int(qps) if qps else None, "probed_streams": int(lo) if lo else None,
              "searched": "concurrency (not an MLPerf scenario)"} if s.streams else
             {"qps": qps, "probed_qps": lo, "searched": "Server target QPS"})
    peak = {**found, "confirmed": qps is not None, "base": s.base,
            "tolerance": s.search.tolerance, "trials": trials, "complete": not interrupted,
            "probe": {"min_duration_ms": s.search.probe_duration_ms, "min_query_count": s.queries,
                      "judged_on": "every check but min_duration and min_queries"}}
    if confirmation is not None and not interrupted:
        r = confirmation.record
        record = new_record("serving", {**r.body, "peak": peak}, checks=r.checks, complete=r.complete,
                            system=r.system, power=r.power)
        write_record(confirmation.outdir / "result.json", record)
        confirmation = replace(confirmation, record=record)
    write_text(s.outdir / "peak.json", json.dumps(peak, indent=1) + "\n")
    return confirmation, peak


def find_peak(
    cfg: ServeConfig, search: PeakSearch | None = None, observer: events.Observer | None = None
) -> PeakOutcome:
    """Search, confirm, and write the search to ``peak.json`` and into the confirmation run's record."""
    search = search or PeakSearch()
    if not 0 < search.tolerance < 1:
        raise ServingError(f"--peak-tolerance {search.tolerance}: expected a fraction between 0 and 1, like 0.05")
    s = _Search(cfg, search, observer)
    check_endpoints(cfg)  # before anything is created on disk
    outdir = s.outdir = fresh_directory(
        cfg.output or Path("mlmeter-serve") / f"{cfg.model}-find-peak",
        given=cfg.output is not None,
        overwrite=cfg.overwrite,
    )
    obs = events.observing(observer)
    try:
        lo = _search(s, obs)
        qps = s.confirm(lo) if lo is not None else None
    except RunInterrupted:
        _write(s, None, None, interrupted=True)  # what was measured stays, marked incomplete
        raise
    confirmation, peak = _write(s, lo, qps)
    return PeakOutcome(qps, peak, confirmation, outdir)
