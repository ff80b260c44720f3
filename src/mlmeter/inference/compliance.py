"""``--compliance TEST01,TEST04``: the audit runs after a scenario's own runs, each verified against them.

An audit run is a performance run with the audit's settings (its ``audit.config`` written into the run's own
directory, ``<output>/<scenario>/<TEST>``, and passed to the LoadGen). Its verification reads the scenario's
performance run and, for TEST01, its accuracy run — from this invocation, else the newest earlier one in the same
output directory — and becomes a decisive check of the audit run's record, with the files the results tree
needs (``verify_accuracy.txt``, ``verify_performance.txt``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlmeter.inference.accuracy import read_accuracy_log
from mlmeter.submission.audits import Audit, audit, checker_model
from mlmeter.submission.rules import ACCURACY_LOG, DETAIL_LOG, SUMMARY_LOG
from mlmeter.submission.verify import (
    Verification,
    VerifyError,
    verify_test01_accuracy,
    verify_test01_performance,
    verify_test04,
    verify_test06,
)
from mlmeter.verdict import Check


@dataclass(frozen=True)
class AuditRun:
    audit: Audit
    verify: Callable[[Path], Verification]
    """The audit run's directory -> its verification."""

    def check(self, v: Verification) -> Check:
        return Check(f"compliance {v.test}", v.passed, "TEST PASS", "TEST PASS" if v.passed else "; ".join(v.reasons),
                     advice="" if v.passed else f"see {v.test}'s verify_*.txt in the audit run's directory",
                     decisive=True)


def newest_run(scenario_dir: Path, mode: str) -> Path | None:
    """The newest run directory of ``mode`` with a result (``accuracy``, ``accuracy-2``, …)."""
    found = [d for d in scenario_dir.glob(f"{mode}*") if (d / "result.json").is_file()
             and (d.name == mode or d.name.removeprefix(mode + "-").isdigit())]
    return max(found, key=lambda d: int(d.name.removeprefix(mode + "-")) if d.name != mode else 1, default=None)


def _reference(runs: dict[str, Path], scenario_dir: Path, mode: str, test: str) -> Path:
    ref = runs.get(mode) or newest_run(scenario_dir, mode)
    if ref is None:
        raise VerifyError(f"{test} needs this scenario's {mode} run: add {mode} to --mode (e.g. --mode "
                          f"accuracy,performance) or run it first with the same --output")
    return ref


Score = Callable[[dict[int, bytes]], str]
"""Responses -> the workload's ``accuracy.txt`` text."""


def _scores(acc_log: Path, audit_log: Path, score: Score) -> dict[str, str]:
    """TEST01's quality comparison (the official Part III): the accuracy run's responses to the samples the audit
    logged, and the audit's own, each scored."""
    base, _ = read_accuracy_log(acc_log)
    test, _ = read_accuracy_log(audit_log)
    subset = {i: base[i] for i in test if i in base}
    return {"baseline_accuracy.txt": score(subset), "compliance_accuracy.txt": score(test)}


def verifier(name: str, dtype: str, runs: dict[str, Path], scenario_dir: Path,
             score: Score | None = None) -> Callable[[Path], Verification]:
    """How an audit run is verified against the scenario's reference runs (``score``: TEST01 also scores the
    audit's responses and the accuracy run's for the same samples)."""

    def verify(audit_dir: Path) -> Verification:
        v = Verification(name, False)
        try:
            perf = _reference(runs, scenario_dir, "performance", name)
            if name == "TEST01":
                acc = _reference(runs, scenario_dir, "accuracy", name)
                ok_acc, fig_acc, text_acc = verify_test01_accuracy(acc / ACCURACY_LOG, audit_dir / ACCURACY_LOG,
                                                                   dtype)
                ok_perf, fig_perf, text_perf = verify_test01_performance(perf / DETAIL_LOG, audit_dir / DETAIL_LOG)
                v.files = {"verify_accuracy.txt": text_acc, "verify_performance.txt": text_perf}
                if score is not None:
                    v.files |= _scores(acc / ACCURACY_LOG, audit_dir / ACCURACY_LOG, score)
                v.figures = {"accuracy": fig_acc, "performance": fig_perf, "reference": {"accuracy": str(acc),
                                                                                         "performance": str(perf)}}
                v.passed = ok_acc and ok_perf
                v.reasons = ([] if ok_acc else ["the responses logged in the audit run differ from the accuracy "
                                                 "run's"]) + ([] if ok_perf else [str(fig_perf.get("reason"))])
            elif name == "TEST04":
                ok, fig, text = verify_test04(perf / SUMMARY_LOG, audit_dir / SUMMARY_LOG)
                v.files = {"verify_performance.txt": text}
                v.figures = {"performance": fig, "reference": {"performance": str(perf)}}
                v.passed, v.reasons = ok, [] if ok else [str(fig.get("reason"))]
            else:
                v.reasons = [f"{name} applies to LLM runs (mlmeter serve), not to mlmeter infer"]
        except VerifyError as exc:
            v.reasons = [str(exc)]
        return v

    return verify


def test06_run(benchmark: str, scenario: str, eos_token_id: int) -> AuditRun:
    """TEST06 on an LLM run (``mlmeter serve``): the audit run's own accuracy log (token IDs, int32) is judged
    alone, as the official script judges it."""

    def verify(audit_dir: Path) -> Verification:
        v = Verification("TEST06", False)
        try:
            v.passed, v.figures, text = verify_test06(audit_dir / ACCURACY_LOG, scenario, eos_token_id=eos_token_id)
        except VerifyError as exc:
            v.reasons = [str(exc)]
            return v
        v.files = {"verify_accuracy.txt": text}
        why = {"first_token": "a first token differs from its reply's start", "eos": "a reply ends in two or more "
               f"EOS tokens ({eos_token_id})", "sample_length": "a token count differs from its reply's token IDs"}
        v.reasons = [why[k] for k in why if v.figures.get(k) is False]
        return v

    return AuditRun(audit("TEST06", benchmark), verify)


def audit_runs(names: tuple[str, ...], loadgen_model: str, dtype: str, runs: dict[str, Path],
               scenario_dir: Path, score: Score | None = None) -> list[AuditRun]:
    bench = checker_model(loadgen_model)
    return [AuditRun(audit(n, bench), verifier(n, dtype, runs, scenario_dir, score)) for n in names]


__all__ = ["AuditRun", "audit_runs", "newest_run", "test06_run", "verifier"]
