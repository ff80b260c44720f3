"""Running MLCommons' official submission tools (unmodified, from ``shared/oracles``) on files the tests made."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_CANDIDATES = (os.environ.get("MLMETER_ORACLES", ""),
               str(Path(__file__).resolve().parents[2] / "shared" / "oracles" / "mlperf-inference"),
               "/work/shared/oracles/mlperf-inference")


def oracle_root() -> Path:
    """The official tools' directory; the test is skipped without it (failed with MLMETER_REQUIRE_ORACLES=1)."""
    for c in _CANDIDATES:
        if c and (Path(c) / "tools" / "submission" / "submission_checker" / "main.py").is_file():
            return Path(c)
    if os.environ.get("MLMETER_REQUIRE_ORACLES"):
        pytest.fail("the official MLPerf Inference tools are required (MLMETER_ORACLES)")
    pytest.skip("the official MLPerf Inference tools (shared/oracles/mlperf-inference) are not on this machine")


# The official checker's error messages -> mlmeter's rule names (the rules both apply to mlmeter's benchmarks).
_RULES = (
    (r"Test duration less than 600s", "performance.min_duration"),
    (r"does not have all required scenarios|has all unknown scenarios", "performance.scenarios"),
    (r"accurcy run does not cover all dataset", "accuracy.dataset"),
    (r"accuracy not met: expected", "accuracy.target"),
    (r"not hash value for accuracy.txt", "accuracy.hash"),
    (r"mlperf_log_accuracy\.json is (not truncated|missing)", "accuracy.log"),
    (r"(qsl|sample_index|schedule)_rng_seed is wrong", "performance.seeds"),
    (r"Missing TEST0\d in compliance dir|Missing (performance|perfomance|accuracy) file in compliance dir"
     r"|verify_\w+\.txt is missing in|Running (performance|accuracy)_check in ComplianceCheck", "compliance.missing"),
    (r"Compliance test performance check in .*(TEST0\d) failed", "compliance.{0}.performance"),
    (r"Compliance test accuracy check \(non-deterministic mode\)|has no accuracy directory",
     "compliance.TEST01.accuracy"),
    (r"measurements\.json, field \S+ is missing", "measurements.fields"),
    (r"field \S+ is missing$|requires a meaningful response", "system.required_fields"),
    (r"has invalid status", "system.status"),
    (r"has invalid system type", "system.type"),
    (r"Early stopping condition was not met", "performance.early_stopping"),
    (r"performance_sample_count, found", "performance.sample_count"),
    (r"Required minimum samples per query not met", "performance.samples_per_query"),
    (r"Required minimum Query Count not met", "performance.min_query_count"),
    (r"Latency constraint", "performance.latency"),
    (r"measurements json file not found", "measurements.missing"),
    (r"use_token_latencies flag needs to be enabled", "performance.token_latencies"),
    (r"Failed extra check for TTFT and TPOT|TTFT or TPOT percentile data missing", "performance.token_latency"),
    (r"TEST06 accuracy check failed", "compliance.TEST06"),
    (r"is missing (user\.conf|README\.md)|is having empty", "measurements.files"),
    (r"measurements\.json, field \S+ is missing meaningful value", "measurements.fields"),
)
_SUMMARY_LINES = r"checks? failed for|Checks failed for|NoResults|SUMMARY|contains errors|has loadgen errors"
_LOADING = re.compile(r"Loading Performance log from (.*)/performance/run_1/mlperf_log_detail\.txt")


def _rule_of(message: str) -> str | None:
    """The rule an official error message names (the first pattern that matches), None for a summary line."""
    for pattern, rule in _RULES:
        m = re.search(pattern, message)
        if m:
            return rule.format(*m.groups()) if "{0}" in rule else rule
    return None


def official_check(package: Path, version: str = "v6.1") -> tuple[int, dict[str, bool], dict[str, set[str]], str]:
    """(exit code, result dir -> passed, result dir -> the rules its errors name, the log)."""
    tools = oracle_root() / "tools" / "submission"
    proc = subprocess.run([sys.executable, "-m", "submission_checker.main", "--input", str(package.resolve()),
                           "--version", version, "--csv", str(package.parent / f"{package.name}-summary.csv")],
                          cwd=tools, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    passed: dict[str, bool] = {}
    found: dict[str, set[str]] = {}
    current = None
    for line in log.splitlines():
        m = _LOADING.search(line)
        if m and not re.search(r"/TEST0\d$", m.group(1)):
            current = m.group(1)
            found.setdefault(current, set())
        m = re.search(r"\b(NoResults|Results) (\S+)/performance/run_1/mlperf_log_detail\.txt", line)
        if m:
            passed[m.group(2)] = m.group(1) == "Results"
        elif current and (" ERROR" in line or ("accuracy not met" in line and "/open/" not in current)):
            # (a missed target is a warning there, and fails only a closed-division result)
            rule = _rule_of(line)
            if rule:
                found[current].add(rule)
            elif not re.search(_SUMMARY_LINES, line):
                found[current].add(f"unmapped: {line}")
    return proc.returncode, passed, found, log


def run_official_verification(test: str, results_dir: Path, audit_dir: Path, workdir: Path,
                              *extra: str) -> str:
    """Run ``compliance/<test>/run_verification.py`` in ``workdir``; its output directory's text files."""
    script = oracle_root() / "compliance" / test / "run_verification.py"
    out = workdir / "out"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    args = ["-c", str(audit_dir), "-o", str(out), *extra] if test == "TEST06" else \
        ["-r", str(results_dir), "-c", str(audit_dir), "-o", str(out), *extra]
    proc = subprocess.run([sys.executable, str(script), *args], cwd=workdir, capture_output=True, text=True,
                          timeout=300)
    return proc.stdout + proc.stderr
