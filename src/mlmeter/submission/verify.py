"""Verifying the compliance audits the way MLPerf's ``run_verification.py`` scripts judge them.

Each verification reads the same files as the official script (the accuracy log of the accuracy run and of the
audit run for TEST01; detail logs for TEST01's performance part, summary logs for TEST04; the audit run's
accuracy log for TEST06), reaches the same verdict from the same figures, and writes them to the files the
results tree holds (``verify_accuracy.txt``, ``verify_performance.txt``) with the lines the submission checker
reads (``TEST PASS``; TEST06's ``… check pass: True``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.errors import MlmeterError
from mlmeter.submission.rules import RESULT_KEY
from mlmeter.training.logfile import read_log

DTYPES = {"byte": np.byte, "int16": np.int16, "int32": np.int32, "int64": np.int64, "float32": np.float32}



class VerifyError(MlmeterError):
    """A file a verification needs is missing or unreadable; the message names it."""


@dataclass
class Verification:
    """One audit's verdict, the figures it rests on and the text of the files it writes."""

    test: str
    passed: bool
    figures: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """File name (``verify_accuracy.txt``, ``verify_performance.txt``) -> contents."""
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"test": self.test, "passed": self.passed, "figures": self.figures, "reasons": self.reasons}


def load_accuracy_log(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerifyError(f"{path}: not found (the verification needs this accuracy log)") from None
    except (OSError, ValueError) as exc:
        raise VerifyError(f"{path}: not a readable accuracy log ({exc})") from None
    if not isinstance(data, list):
        raise VerifyError(f"{path}: not an accuracy log (a JSON list of entries)")
    return data


def _first(hex_data: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(hex_data), dtype)


def _same_first_value(a: np.ndarray, b: np.ndarray) -> bool:
    if a.size == 0 or b.size == 0:
        return bool(a.size == b.size)
    return bool(a[0] == b[0])


def compare_accuracy_logs(reference: list[dict[str, Any]], test: list[dict[str, Any]],
                          dtype: str) -> dict[str, int | str]:
    """TEST01's accuracy figures: each response logged by the audit run against the accuracy run's response for
    the same sample (its first value in ``dtype``, as officially); a later audit response for the same sample is
    compared with the earlier one."""
    seen: dict[int, str] = {}
    dup = dup_mismatch = matched = mismatched = missing = 0
    for entry in reference:
        idx, data = entry["qsl_idx"], entry["data"]
        if idx in seen:
            dup += 1
            dup_mismatch += seen[idx] != data
        else:
            seen[idx] = data
    for entry in test:
        idx = entry["qsl_idx"]
        try:
            mine = _first(entry["data"], DTYPES[dtype])
            if idx in seen:
                matched += 1
                mismatched += not _same_first_value(mine, _first(seen[idx], DTYPES[dtype]))
            else:
                missing += 1
        except ValueError as exc:
            return {"error": f"qsl_idx {idx}: its data is not whole {dtype} values ({exc})"}
        seen[idx] = entry["data"]
    return {"num_acc_log_entries": len(reference), "num_acc_log_duplicate_keys": dup,
            "num_acc_log_data_mismatch": dup_mismatch, "num_perf_log_entries": len(test),
            "num_perf_log_qsl_idx_match": matched, "num_perf_log_data_mismatch": mismatched,
            "num_missing_qsl_idxs": missing}


def verify_test01_accuracy(reference_log: Path, audit_log: Path, dtype: str) -> tuple[bool, dict[str, Any], str]:
    figures = compare_accuracy_logs(load_accuracy_log(reference_log), load_accuracy_log(audit_log), dtype)
    lines = [f"Responses of {audit_log} against the accuracy run's {reference_log} (first {dtype} value)."]
    if "error" in figures:
        return False, figures, "\n".join(lines + [f"Error: {figures['error']}", "TEST FAIL", ""])
    lines += [f"{k} = {v}" for k, v in figures.items()]
    passed = figures["num_perf_log_data_mismatch"] == 0 and int(figures["num_perf_log_qsl_idx_match"]) > 0
    return passed, figures, "\n".join(lines + ["TEST PASS" if passed else "TEST FAIL", ""])


def _detail_score(path: Path) -> tuple[str, float, Any, bool]:
    """(scenario, score, Server target latency, VALID) from a detail log, by the keys TEST01 reads."""
    if not path.is_file():
        raise VerifyError(f"{path}: not found (the verification needs this detail log)")
    log = read_log(path)
    values = {r.key: r.value for r in reversed(log.records)}  # the first record of a key wins
    scenario = str(values.get("effective_scenario"))
    if scenario not in RESULT_KEY or RESULT_KEY[scenario] not in values:
        raise VerifyError(f"{path}: no {RESULT_KEY.get(scenario, 'result')} in this detail log")
    latency = values.get("effective_target_latency_ns") if scenario == "Server" else None
    return scenario, float(values[RESULT_KEY[scenario]]), latency, values.get("result_validity") == "VALID"


def _threshold(scenario: str, ref_score: float) -> float:
    small = (scenario == "SingleStream" and ref_score <= 200_000) or (scenario == "MultiStream"
                                                                      and ref_score <= 1_600_000)
    return 0.20 if small else 0.10


def verify_test01_performance(reference: Path, audit: Path) -> tuple[bool, dict[str, Any], str]:
    """The audit run's score within 10 % (20 % for short latencies) of the performance run's, both VALID."""
    ref_sc, ref, ref_lat, ref_valid = _detail_score(reference)
    test_sc, test, test_lat, test_valid = _detail_score(audit)
    figures: dict[str, Any] = {"reference_score": ref, "test_score": test, "scenario": ref_sc}
    fail = None
    if not ref_valid or not test_valid:
        fail = f"invalid results in {reference if not ref_valid else audit}"
    elif test_sc != ref_sc:
        fail = f"scenarios differ ({ref_sc} vs {test_sc})"
    elif ref_sc == "Server" and test_lat != ref_lat:
        fail = f"Server target latencies differ ({ref_lat} vs {test_lat} ns)"
    return _score_verdict(f"Performance of {audit} against {reference}.", fail, figures, ("Reference score", "Test score"),
                          lambda thr: ref * (1 - thr) <= test <= ref * (1 + thr),
                          lambda thr: f"test score {test} is outside {ref} ± {thr:.0%}")


def _score_verdict(header: str, fail: str | None, figures: dict[str, Any], labels: tuple[str, str],
                   accept: Callable[[float], bool], why: Callable[[float], str]) -> tuple[bool, dict[str, Any], str]:
    """The verdict on two scores (``figures``) with the scenario's threshold, unless ``fail`` already holds one."""
    lines = [header]
    if fail is None:
        thr = _threshold(figures["scenario"], figures["reference_score"])
        figures["threshold"] = thr
        lines += [f"{labels[0]} = {figures['reference_score']}", f"{labels[1]} = {figures['test_score']}"]
        if not accept(thr):
            fail = why(thr)
    figures["reason"] = fail
    lines.append("TEST PASS" if fail is None else f"TEST FAIL: {fail}")
    return fail is None, figures, "\n".join(lines + [""])


_SUMMARY_SCORE = {"SingleStream": re.compile(r".*Early stopping (90th|90\.0th|99\.9th) percentile estimate"),
                  "MultiStream": re.compile(r".*Early stopping (99th|99\.0th) percentile estimate"),
                  "Server": re.compile(r"Completed samples per second"),
                  "Offline": re.compile(r"Samples per second")}


def _summary_score(path: Path) -> tuple[str, float, bool]:
    """(scenario, score, VALID) as TEST04 reads a summary log: a rate, 1e9 / the early-stopping latency estimate
    for SingleStream and MultiStream."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise VerifyError(f"{path}: not found (the verification needs this summary log)") from None
    scenario, score, valid = "", 0.0, True
    for line in text.splitlines():
        if line.startswith("Scenario"):
            scenario = line.split(": ", 1)[1].strip()
        elif scenario in _SUMMARY_SCORE and _SUMMARY_SCORE[scenario].match(line):
            value = float(line.split(": ", 1)[1].strip())
            score = 1e9 / value if scenario in ("SingleStream", "MultiStream") else value
        elif line.startswith("Result is"):
            valid = line.split(": ", 1)[1].strip() != "INVALID"
    return scenario, score, valid


def verify_test04(reference_summary: Path, audit_summary: Path) -> tuple[bool, dict[str, Any], str]:
    """The same-sample run may not be more than 10 % (20 % for short latencies) faster than the real one."""
    ref_sc, ref, ref_valid = _summary_score(reference_summary)
    test_sc, test, test_valid = _summary_score(audit_summary)
    figures: dict[str, Any] = {"reference_score": ref, "test_score": test, "scenario": ref_sc}
    fail = None
    if not ref_valid:
        fail = f"the reference results are INVALID ({reference_summary})"
    elif not test_valid:
        fail = f"the audit results are INVALID ({audit_summary})"
    elif test_sc != ref_sc:
        fail = f"scenarios differ ({ref_sc} vs {test_sc})"
    return _score_verdict(f"Same-sample performance of {audit_summary} against {reference_summary}.", fail, figures,
                          ("reference score", "test score"), lambda thr: test < ref * (1 + thr),
                          lambda thr: f"test score {test} is not below {ref} × {1 + thr:.2f}: repeated samples run "
                                      "faster")


def _eos_ok(entries: list[dict[str, Any]], dtype: Any, eos: int) -> bool:
    """No reply ends in two or more EOS tokens (the official walk back from the last token)."""
    for entry in entries:
        tail = _first(entry["data"], dtype)[1:][::-1]  # the official walk stops before the first token
        trailing = int(np.argmax(tail != eos)) if bool(np.any(tail != eos)) else len(tail)
        if trailing >= 2:
            return False
    return True


def verify_test06(audit_log: Path, scenario: str, *, eos_token_id: int = 2,
                  dtype: str = "int32") -> tuple[bool, dict[str, Any], str]:
    """First token (not Offline) equals the reply's start, at most one trailing EOS, token_count = tokens."""
    entries = load_accuracy_log(audit_log)
    dt = DTYPES[dtype]
    try:
        eos_ok = _eos_ok(entries, dt, eos_token_id)
    except (ValueError, KeyError):
        eos_ok = False
    first: bool | None = None
    if scenario != "Offline":
        try:
            first = all(bool(np.all(a == b)) for e in entries
                        for a, b in [_pair(_first(e["data"], dt), _first(e["token_data"], dt))])
        except (ValueError, KeyError):
            first = False
    try:
        length_ok = all(len(_first(e["data"], dt)) == int(e["token_count"]) for e in entries)
    except (ValueError, KeyError):
        length_ok = False
    passed = eos_ok and first is not False and length_ok
    figures = {"first_token": first, "eos": eos_ok, "sample_length": length_ok, "entries": len(entries)}
    lines = [f"First token check pass: {'Skipped' if first is None else first}", f"EOS check pass: {eos_ok}",
             f"Sample length check pass: {length_ok}",
             "TEST06 verification complete" if passed else "TEST06 verification failed", ""]
    return passed, figures, "\n".join(lines)


def _pair(data: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(data), len(first))
    return data[:n], first[:n]
