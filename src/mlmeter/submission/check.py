"""``mlmeter submission check``: the rules the official submission checker applies, each problem explained.

Every result (``<division>/<org>/results/<system>/<benchmark>/<scenario>``) is held to the checker's rules in
its order — performance, accuracy, system, measurements, compliance — and each problem names the file, the
rule, what was found, what the rule needs and what to run to fix it. A result passes when it has no error;
warnings are what the official checker lets through (mlmeter says so). The pass/fail of every result is meant
to equal the official checker's (``--version v6.1``) on the benchmarks mlmeter runs; the tests hold it to that.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlmeter.submission import rules
from mlmeter.submission.audits import REQUIRED as AUDITS_REQUIRED
from mlmeter.submission.sysdesc import MEANINGFUL, MEASUREMENTS, REQUIRED
from mlmeter.training.logfile import read_log

DIVISIONS = ("closed", "open", "network")
_INFERRED = {("singlestream", "multistream"), ("multistream", "offline"), ("singlestream", "offline")}
_RERUN = ("rerun it with the settings of mlperf.conf: mlmeter infer … --mode accuracy,performance --compliance "
          "TEST01,TEST04 (no --duration, --time or seed changes), then mlmeter submission pack again")
_RERUN_SERVE = ("rerun it with --mlperf-model's settings: mlmeter serve … --mlperf-model MODEL --mode performance "
                "--compliance TEST06 (no --min-duration-ms or seed changes), then mlmeter submission pack again")


@dataclass(frozen=True)
class Problem:
    rule: str
    file: str
    found: str
    needs: str
    fix: str
    severity: str = "error"

    def line(self) -> str:
        tag = "ERROR" if self.severity == "error" else "warning"
        return f"{tag} [{self.rule}] {self.file}: found {self.found}; needs {self.needs}. Fix: {self.fix}"


@dataclass
class Result:
    division: str
    org: str
    system: str
    benchmark: str
    scenario: str
    path: Path
    problems: list[Problem] = field(default_factory=list)
    value: float | None = None
    accuracy: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def perf_path(self) -> Path:
        return self.path / "performance" / "run_1" / rules.DETAIL_LOG

    def add(self, rule: str, file: Path | str, found: Any, needs: Any, fix: str, severity: str = "error") -> None:
        self.problems.append(Problem(rule, str(file), str(found), str(needs), fix, severity))


@dataclass
class Report:
    root: Path
    results: list[Result]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "round": rules.ROUND, "passed": self.passed,
                "results": [{"division": r.division, "org": r.org, "system": r.system, "benchmark": r.benchmark,
                             "scenario": r.scenario, "path": str(r.path), "passed": r.passed, "result": r.value,
                             "accuracy": r.accuracy, "problems": [asdict(p) for p in r.problems]}
                            for r in self.results]}


def _log(path: Path) -> dict[str, Any] | None:
    """The first value of each key of a detail log; None when the file is missing."""
    if not path.is_file():
        return None
    values: dict[str, Any] = {}
    errors = []
    log = read_log(path)
    for rec in log.records:
        values.setdefault(rec.key, rec.value)
        if rec.metadata.get("is_error"):
            errors.append(str(rec.value))
    values["__errors__"] = errors
    values["__corrupt__"] = log.errors
    return values


def _corrupt(r: Result, log: dict[str, Any], path: Path) -> None:
    if log["__corrupt__"]:
        r.add("log.corrupt", path, log["__corrupt__"][0], "every :::MLLOG line one JSON record (the official "
              "checker stops at such a line)", "the file was edited or cut short: copy it again from the run "
              "directory (mlmeter submission pack)")


def _dirs(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def _files(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []


def read_system(root: Path, division: str, org: str, system: str) -> dict[str, Any] | None:
    """A package's ``systems/<system>.json``; None when it is missing or not a JSON object."""
    path = root / division / org / "systems" / f"{system}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def performance_rules(r: Result, log: dict[str, Any], where: Path, bench: rules.Benchmark | None,
                      sysdoc: dict[str, Any] | None, audit: bool = False) -> None:
    """Seeds, sample count, latency and early stopping, query count, duration, network, the scenario."""
    scenario = str(log.get("effective_scenario"))
    for key, value in rules.SEEDS.items():
        if log.get(f"effective_{key}") != value:
            r.add("performance.seeds", where, f"{key} {log.get(f'effective_{key}')}", value,
                  "keep mlperf.conf's seeds (remove them from user.conf); " + _RERUN)
    if bench is None:
        r.add("performance.benchmark", where, f"benchmark {r.benchmark!r}", f"one of {', '.join(rules.BENCHMARKS)}",
              "name the directory after the benchmark (mlmeter submission pack does), or map a custom model "
              "with open/<org>/model_mapping.json")
        return
    if int(log.get("effective_performance_sample_count") or 0) < bench.performance_sample_count:
        r.add("performance.sample_count", where, log.get("effective_performance_sample_count"),
              f">= {bench.performance_sample_count}", "drop --performance-sample-count; " + _RERUN)
    _latency_rules(r, log, where, bench, scenario)
    if bench.llm:
        _token_rules(r, log, where, bench, scenario)
    if scenario not in rules.EARLY_STOPPING:
        need = bench.min_queries.get(scenario)
        if need and int(log.get("effective_min_query_count") or 0) < need:
            r.add("performance.min_query_count", where, log.get("effective_min_query_count"), f">= {need}", _RERUN)
    if scenario == "Offline" and r.division == "closed" and \
            int(log.get("effective_samples_per_query") or 0) < bench.offline_min_samples_per_query:
        r.add("performance.samples_per_query", where, log.get("effective_samples_per_query"),
              f">= {bench.offline_min_samples_per_query} samples per Offline query",
              "raise the Offline expected QPS (user.conf target_qps) so one query holds enough samples; " + _RERUN)
    if int(log.get("effective_min_duration_ms") or 0) < rules.MIN_DURATION_MS:
        r.add("performance.min_duration", where, f"min_duration {log.get('effective_min_duration_ms')} ms",
              f">= {rules.MIN_DURATION_MS} ms", _RERUN)
    _system_mode_rules(r, log, where, sysdoc, scenario, audit)


def _latency_rules(r: Result, log: dict[str, Any], where: Path, bench: rules.Benchmark, scenario: str) -> None:
    bound = bench.latency_ns.get(scenario)
    if scenario in rules.EARLY_STOPPING:
        if not log.get("early_stopping_met"):
            r.add("performance.early_stopping", where, "early stopping not met", "early stopping met",
                  "run longer (more queries) or lower the load; " + _RERUN)
        elif bound and int(log.get("effective_target_latency_ns") or 0) > bound:
            r.add("performance.latency", where, f"target latency {log.get('effective_target_latency_ns')} ns",
                  f"<= {bound} ns", "remove the latency override from user.conf; " + _RERUN)
    elif bound and int(log.get("result_99.00_percentile_latency_ns") or 0) > bound:
        r.add("performance.latency", where, f"p99 {log.get('result_99.00_percentile_latency_ns')} ns",
              f"<= {bound} ns", "lower the load")


def _token_rules(r: Result, log: dict[str, Any], where: Path, bench: rules.Benchmark, scenario: str) -> None:
    """An LLM's token latencies: on, and within the benchmark's p99 TTFT and TPOT limits (Server, Interactive)."""
    if not log.get("requested_use_token_latencies"):
        r.add("performance.token_latencies", where, "use_token_latencies off", "use_token_latencies on (an LLM "
              "benchmark)", "keep mlperf.conf's use_token_latencies; " + _RERUN_SERVE)
        return
    fixed = "Interactive" if r.scenario.lower() == "interactive" else scenario
    limits = bench.token_latency_ns.get(fixed) if fixed in ("Server", "Interactive") else None
    if limits is None:
        return
    ttft = log.get("result_first_token_99.00_percentile_latency_ns")
    tpot = log.get("result_time_per_output_token_99.00_percentile_ns")
    if ttft is None or tpot is None or not (int(ttft) < limits[0] and int(tpot) < limits[1]):
        r.add("performance.token_latency", where, f"p99 TTFT {ttft} ns, TPOT {tpot} ns",
              f"< {limits[0]} ns and < {limits[1]} ns", "lower the load (--qps) or make the server faster; "
              + _RERUN_SERVE)


def _system_mode_rules(r: Result, log: dict[str, Any], where: Path, sysdoc: dict[str, Any] | None, scenario: str,
                       audit: bool) -> None:
    if sysdoc is None:
        r.add("performance.system", where, "no system description", f"systems/{r.system}.json",
              "mlmeter submission pack writes it")
        return
    network = str(sysdoc.get("is_network", "")).lower() == "true"
    if r.division in ("closed", "network") and network != (r.division == "network"):
        r.add("performance.network", where, f"is_network {network}", f"is_network {r.division == 'network'}",
              "set is_network in the --system file")
    if network and "Network SUT" not in str(log.get("sut_name", "")):
        r.add("performance.network", where, f"SUT name {log.get('sut_name')!r}", "'Network SUT' in it",
              "name the SUT for the network division")
    if audit or scenario.lower() == r.scenario.lower():
        return
    if "edge" not in str(sysdoc.get("system_type", "")).lower() or \
            (scenario.lower(), r.scenario.lower()) not in _INFERRED:
        r.add("performance.scenario", where, f"a {scenario} run in the {r.scenario} directory",
              "the directory's scenario (or, on edge systems, SingleStream->MultiStream/Offline, "
              "MultiStream->Offline)", "put each run in its own scenario's directory")


def result_value(log: dict[str, Any], bench: rules.Benchmark | None = None) -> float | None:
    scenario = str(log.get("effective_scenario"))
    key = (bench.result_keys if bench else {}).get(scenario) or rules.RESULT_KEY.get(scenario)
    if key is None or log.get(key) is None:
        return None
    value = float(log[key])
    return value / 1e6 if scenario in ("SingleStream", "MultiStream") else value


def accuracy_rules(r: Result, bench: rules.Benchmark | None) -> None:
    """accuracy.txt over the target with the log's hash (closed), the truncated log, errors, the whole dataset."""
    acc_dir = r.path / "accuracy"
    log = _log(acc_dir / "mlperf_log_detail.txt")
    if log is None:
        r.add("accuracy.missing", acc_dir / "mlperf_log_detail.txt", "no accuracy run", "the accuracy run's logs",
              "run mlmeter infer --mode accuracy with the same --output, then pack again")
        return
    _corrupt(r, log, acc_dir / "mlperf_log_detail.txt")
    text = acc_dir / "accuracy.txt"
    lines = text.read_text(encoding="utf-8", errors="replace").splitlines() if text.is_file() else None
    if lines is None:
        r.add("accuracy.result", text, "no accuracy.txt", "the accuracy script's output", "mlmeter submission pack "
              "writes it from the accuracy run")
    elif bench is not None:
        _accuracy_value(r, lines, text, bench)
    json_log = acc_dir / "mlperf_log_accuracy.json"
    if not json_log.is_file():
        r.add("accuracy.log", json_log, "no accuracy log", "the truncated mlperf_log_accuracy.json",
              "mlmeter submission pack copies and truncates it")
    elif json_log.stat().st_size > rules.MAX_ACCURACY_LOG_BYTES:
        r.add("accuracy.log", json_log, f"{json_log.stat().st_size} bytes", f"<= {rules.MAX_ACCURACY_LOG_BYTES} "
              "(truncated)", "mlmeter submission pack truncates it (4 KiB from each end)")
    if log["__errors__"]:
        r.add("accuracy.loadgen_errors", acc_dir / "mlperf_log_detail.txt", "; ".join(log["__errors__"])[:200],
              "no LoadGen error", "fix what the error names and rerun the accuracy run")
    if bench is not None:
        count = log.get("effective_accuracy_sample_count", log.get("qsl_reported_total_count"))
        if count != bench.dataset_size:
            r.add("accuracy.dataset", acc_dir / "mlperf_log_detail.txt", f"{count} samples",
                  f"the whole dataset ({bench.dataset_size} samples)", "run the accuracy pass on the whole "
                  "dataset (no --count)")


def _accuracy_value(r: Result, lines: list[str], text: Path, bench: rules.Benchmark) -> None:
    has_hash = any(re.match(r"^hash=([\w\d]+)$", line) for line in lines)
    for metric in bench.metrics:
        value = next((m.group(1) for line in lines if (m := re.match(metric.pattern, line))), None)
        if value is not None:
            r.accuracy[metric.name] = value
        if r.division == "closed":
            _metric_rules(r, text, metric, value)
    if r.division == "closed" and not has_hash:
        r.add("accuracy.hash", text, "no hash= line", "the SHA-256 of the whole accuracy log",
              "mlmeter submission pack adds it when it truncates the log")


def _metric_rules(r: Result, text: Path, metric: rules.Metric, value: str | None) -> None:
    window = f">= {metric.target:.3f}" + (f" and <= {metric.upper:.3f}" if metric.upper is not None else "")
    if value is None:
        r.add("accuracy.result", text, f"no {metric.name} figure", f"{metric.name} {window}",
              "mlmeter submission pack copies the accuracy run's accuracy.txt")
    elif float(value) < metric.target or (metric.upper is not None and float(value) > metric.upper):
        r.add("accuracy.target", text, f"{metric.name} {value}", window,
              "the model misses the closed division's quality target: fix the model, or submit it to the open "
              "division (mlmeter submission pack --division open)")


def system_rules(r: Result, sysdoc: dict[str, Any] | None, where: Path) -> None:
    if sysdoc is None:
        r.add("system.missing", where, "no readable system description", "a JSON object",
              "mlmeter submission pack --system FILE writes it")
        return
    if str(sysdoc.get("status", "")).lower() not in rules.STATUSES:
        r.add("system.status", where, f"status {sysdoc.get('status')!r}", "available, preview or rdi",
              "set status: in the --system file")
    if sysdoc.get("system_type") not in rules.SYSTEM_TYPES:
        r.add("system.type", where, f"system_type {sysdoc.get('system_type')!r}", ", ".join(rules.SYSTEM_TYPES),
              "set system_type: in the --system file")
    for key in REQUIRED:
        if key not in sysdoc:
            r.add("system.required_fields", where, f"no {key}", f"{key} ({REQUIRED[key]})",
                  f"add '{key}: …' to the --system file and pack again")
        elif key in MEANINGFUL and not sysdoc[key]:
            r.add("system.required_fields", where, f"{key} empty", f"{key} ({REQUIRED[key]})",
                  f"add '{key}: …' to the --system file and pack again")
    if str(sysdoc.get("submitter", "")).lower() != r.org.lower():
        r.add("system.submitter", where, f"submitter {sysdoc.get('submitter')!r}", f"{r.org!r} (the directory)",
              "pack again with --org")
    if str(sysdoc.get("division", "")).lower() != r.division.lower():
        r.add("system.division", where, f"division {sysdoc.get('division')!r}", f"{r.division!r} (the directory)",
              "pack again with --division")


def measurement_rules(r: Result, root: Path) -> None:
    path = r.path / "measurements.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        r.add("measurements.missing", path, "no readable measurements.json", "a JSON object",
              "mlmeter submission pack writes it")
        doc = {}
    src = root / r.division / r.org / "src"
    if not src.is_dir():
        r.add("measurements.src", src, "no src directory", "the code (or a pointer to it)",
              "mlmeter submission pack writes src/README.md")
    for name in ("user.conf", "README.md"):
        f = r.path / name
        if not f.is_file() or f.stat().st_size == 0:
            r.add("measurements.files", f, "missing" if not f.is_file() else "empty", f"a non-empty {name}",
                  "mlmeter submission pack writes it")
    for key in MEASUREMENTS:
        if not doc.get(key) and path.is_file():
            r.add("measurements.fields", path, f"{key} {'missing' if key not in doc else 'empty'}",
                  f"{key} ({MEASUREMENTS[key]})", f"add measurements: {{{key}: …}} to the --system file and pack "
                  "again")


_TEST01_ACCURACY_FILES = {"mlperf_log_accuracy.json", "accuracy.txt", "baseline_accuracy.txt",
                          "compliance_accuracy.txt"}
_OPTIONAL_FILES = {rules.ACCURACY_LOG, "mlperf_log_trace.json", "results.json", ".gitkeep"}


def _lines(path: Path) -> list[str] | None:
    return [s.strip() for s in path.read_text(encoding="utf-8", errors="replace").splitlines()] \
        if path.is_file() else None


def _audit_fix(test: str) -> str:
    return (f"run the audit: mlmeter infer … --compliance {test} --output <the runs' directory> (it is verified "
            "against the scenario's runs there), then mlmeter submission pack again")


def _test01_quality(r: Result, test_dir: Path, bench: rules.Benchmark) -> None:
    """The responses differ: the audit's quality must be within 1 % of the accuracy run's on the same samples."""
    acc = test_dir / "accuracy"
    if set(_files(acc)) != _TEST01_ACCURACY_FILES:
        r.add("compliance.TEST01.accuracy", test_dir / "verify_accuracy.txt", "no TEST PASS", "TEST PASS, or the "
              f"quality comparison files ({', '.join(sorted(_TEST01_ACCURACY_FILES))})", _audit_fix("TEST01"))
        return
    scores = []
    for name in ("baseline_accuracy.txt", "compliance_accuracy.txt"):
        text = (acc / name).read_text(encoding="utf-8", errors="replace")
        m = next((m for line in text.splitlines() if (m := re.match(bench.metrics[0].pattern, line))), None)
        scores.append(float(m.group(1)) if m else 0.0)
    base, comp = scores
    delta = abs(1 - base / comp) * 100 if base and comp else None
    if delta is None or delta > 1:
        r.add("compliance.TEST01.accuracy", acc, f"baseline {base}, audit {comp}", "within 1 % of each other",
              "the audit run's responses are worse than the accuracy run's: make the model deterministic")


_TEST06_LINES = (("first token", ("First token check pass: True", "First token check pass: Skipped")),
                 ("EOS", ("EOS check pass: True",)), ("sample length", ("Sample length check pass: True",)))


def _test06_rules(r: Result, d: Path) -> None:
    """TEST06 is judged by its verification's three lines alone (no performance logs)."""
    lines = _lines(d / "verify_accuracy.txt")
    fix = ("run the audit: mlmeter serve … --compliance TEST06 --output <the run's directory>, then mlmeter "
           "submission pack again")
    if lines is None:
        r.add("compliance.missing", d / "verify_accuracy.txt", "missing", "its verification", fix)
        return
    failed = [name for name, passing in _TEST06_LINES if not any(p in lines for p in passing)]
    if failed:
        r.add("compliance.TEST06", d / "verify_accuracy.txt", f"the {', '.join(failed)} check failed",
              "every check passing", "the server's replies break the audit (a first token that is not the "
              "reply's, replies ending in several EOS tokens, or token counts that are not the replies'): fix the "
              "server or the client settings; " + fix)


def compliance_rules(r: Result, bench: rules.Benchmark | None, sysdoc: dict[str, Any] | None) -> None:
    """Closed division: every audit the benchmark needs, verified (TEST PASS), its run held to the rules too."""
    if r.division == "open" or bench is None:
        return
    for test in (t for t in ("TEST01", "TEST04", "TEST06") if bench.name in AUDITS_REQUIRED[t]):
        d = r.path / test
        if not d.is_dir():
            r.add("compliance.missing", d, f"no {test}", f"the {test} audit", _audit_fix(test))
            continue
        if test == "TEST06":
            _test06_rules(r, d)
            continue
        if test == "TEST01":
            lines = _lines(d / "verify_accuracy.txt")
            if lines is None:
                r.add("compliance.missing", d / "verify_accuracy.txt", "missing", "its verification",
                      _audit_fix(test))
            elif "TEST PASS" not in lines:
                _test01_quality(r, d, bench)
        perf_log = _log(d / "performance" / "run_1" / "mlperf_log_detail.txt")
        if perf_log is None:
            r.add("compliance.missing", d / "performance" / "run_1", "no mlperf_log_detail.txt",
                  "the audit run's logs", _audit_fix(test))
        else:
            performance_rules(r, perf_log, d / "performance" / "run_1" / "mlperf_log_detail.txt", bench, sysdoc)
        verify = _lines(d / "verify_performance.txt")
        if verify is None:
            r.add("compliance.missing", d / "verify_performance.txt", "missing", "its verification", _audit_fix(test))
        elif not any("TEST PASS" in line for line in verify):
            r.add(f"compliance.{test}.performance", d / "verify_performance.txt",
                  next((x for x in verify if "TEST FAIL" in x), "no TEST PASS"), "TEST PASS", _audit_fix(test))
        extra = set(_files(d / "performance" / "run_1")) ^ {rules.SUMMARY_LOG, rules.DETAIL_LOG}
        if extra - _OPTIONAL_FILES:
            r.add("compliance.files", d / "performance" / "run_1", f"files {sorted(extra - _OPTIONAL_FILES)}",
                  "exactly the summary and detail logs", "remove the extra files (pack again)")


def _scenario_coverage(division: str, bench: rules.Benchmark | None, present: list[str],
                       system_type: str) -> tuple[list[str], list[str]] | None:
    """(missing, unknown) scenarios of a closed or network result set; None when it is complete."""
    if division == "open" or bench is None:
        return None
    need = rules.required_scenarios(bench, system_type)
    if need is None:
        return [f"({bench.name} is not a {system_type} benchmark)"], []
    have = {s.lower() for s in present}
    missing = [s for s in need if s.lower() not in have]
    optional = rules.optional_scenarios(bench, system_type)
    if {"Interactive", "Server"} <= set(optional) and not have & {"interactive", "server"}:
        missing.append("(one of) Interactive or Server")  # an LLM's datacenter result needs a latency-bound one
    allowed = {n.lower() for n in (*need, *optional)}
    unknown = [s for s in present if s.lower() not in allowed]
    return (missing, unknown) if missing or unknown else None


def check_result(root: Path, r: Result, sysdoc: dict[str, Any] | None, coverage: tuple[list[str], list[str]] | None
                 ) -> None:
    bench = rules.BENCHMARKS.get(r.benchmark)
    log = _log(r.perf_path)
    if log is None:
        r.add("performance.missing", r.perf_path, "no performance run", "performance/run_1's logs",
              "run mlmeter infer --mode performance with the same --output, then pack again")
    else:
        _corrupt(r, log, r.perf_path)
        if coverage is not None:
            missing, unknown = coverage
            tool = "serve" if bench is not None and bench.llm else "infer"
            r.add("performance.scenarios", r.path.parent, f"missing {missing}, unknown {unknown}",
                  "every scenario the benchmark requires of this system type", f"run the missing scenarios "
                  f"(mlmeter {tool} --scenario …) and pack them together, or submit to the open division")
        performance_rules(r, log, r.perf_path, bench, sysdoc)
        if log["__errors__"]:
            r.add("performance.loadgen_errors", r.perf_path, "; ".join(log["__errors__"])[:200], "no LoadGen error",
                  "fix what the error names (the official checker lets this pass unless --submission-exceptions)",
                  severity="warning")
        if log.get("result_validity") != "VALID":
            r.add("performance.validity", r.perf_path, f"result {log.get('result_validity')}", "VALID",
                  "fix what the summary log's recommendations name and rerun (the official checker catches this "
                  "through the audits' verification, in the closed division)",
                  severity="error" if r.division == "closed" else "warning")
        r.value = result_value(log, bench)
    accuracy_rules(r, bench)
    system_rules(r, sysdoc, root / r.division / r.org / "systems" / f"{r.system}.json")
    measurement_rules(r, root)
    compliance_rules(r, bench, sysdoc)


def is_package(path: Path) -> bool:
    """A directory holding a division (``closed``, ``open``, ``network``) with results."""
    return path.is_dir() and any((path / d).is_dir() for d in DIVISIONS)


def check_package(root: Path) -> Report:
    """Every result under ``root`` (which holds ``closed``, ``open`` or ``network``)."""
    results = []
    for division in (d for d in _dirs(root) if d in DIVISIONS):
        for org in _dirs(root / division):
            for system in _dirs(root / division / org / "results"):
                sysdoc = read_system(root, division, org, system)
                for benchmark in _dirs(root / division / org / "results" / system):
                    bdir = root / division / org / "results" / system / benchmark
                    scenarios = _dirs(bdir)
                    coverage = _scenario_coverage(division, rules.BENCHMARKS.get(benchmark), scenarios,
                                                  str((sysdoc or {}).get("system_type", "")))
                    for scenario in scenarios:
                        r = Result(division, org, system, benchmark, scenario, bdir / scenario)
                        check_result(root, r, sysdoc, coverage)
                        results.append(r)
    return Report(root, results)
