"""``mlmeter submission pack``: mlmeter infer's (and mlmeter serve's) run directories -> the official MLPerf
Inference results tree.

``<output>/<division>/<org>/results/<system>/<benchmark>/<scenario>/`` holds ``performance/run_1`` and
``accuracy`` (its accuracy log truncated as ``truncate_accuracy_log.py`` does, the hash of the whole log added
to ``accuracy.txt``), the audit directories (``TEST01``, ``TEST04``: verification files, the audit run's logs;
``TEST06``: its verification and its truncated accuracy log),
``measurements.json``, ``user.conf`` and ``mlperf.conf`` as used and a ``README.md``; ``systems/<system>.json``
is the system description; ``src/`` points to the code. The tree is built in a temporary directory next to
``output`` and renamed into place, so a failed pack leaves nothing behind and an existing directory is never
merged into.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlmeter import __version__
from mlmeter.errors import MlmeterError
from mlmeter.loadgen.config import builtin_mlperf_conf_text, conf_lines
from mlmeter.results.record import RunRecord, load_record
from mlmeter.serving.server_info import label
from mlmeter.submission import rules
from mlmeter.submission.audits import checker_model
from mlmeter.submission.sysdesc import MEASUREMENTS, SystemFile, measured_fields, missing_fields, system_description
from mlmeter.util.atomic import current_umask

DETAIL, SUMMARY, ACCURACY_LOG = rules.DETAIL_LOG, rules.SUMMARY_LOG, rules.ACCURACY_LOG
VIEWABLE = 4096
"""Bytes kept from each end of a truncated accuracy log (the official truncation)."""
MANIFEST = "mlmeter_submission.json"
ROLES = ("performance", "accuracy", "TEST01", "TEST04", "TEST06")
_SERVING_ROLES = {"PerformanceOnly": "performance", "AccuracyOnly": "accuracy", "TEST06": "TEST06"}


class PackError(MlmeterError):
    """Runs that cannot make one package; the message names each run and why."""


@dataclass
class Run:
    path: Path
    record: RunRecord
    role: str
    scenario: str
    model: str
    """mlmeter's workload name (``resnet50``), or a serving run's ``--mlperf-model`` (``llama3_1-8b``)."""

    @property
    def body(self) -> dict[str, Any]:
        return self.record.body

    @property
    def loadgen(self) -> dict[str, Any]:
        """The LoadGen's part of the record (a serving run's body is the LoadGen's, with the client's figures)."""
        return self.body if self.record.kind == "serving" else self.body["loadgen"]

    @property
    def benchmark_rules(self) -> rules.Benchmark | None:
        """The benchmark rules the run is held to: a reference model's (infer), the named benchmark's (serve)."""
        if self.record.kind == "serving":
            return rules.BENCHMARKS.get(checker_model(self.model))
        return rules.BENCHMARKS.get(rules.BENCHMARK_OF_MODEL.get(self.model, ""))

    def software(self) -> tuple[Any, ...]:
        """What ran the model: the backend (name, version, device), or the endpoints' servers and model."""
        if self.record.kind == "serving":
            s = self.body.get("serving") or {}
            return "endpoint", ", ".join(sorted({label(i) for i in s.get("servers") or []})), s.get("model")
        b = self.body.get("backend", {})
        return b.get("name"), b.get("version"), b.get("device")

    def framework(self) -> str:
        """The system description's ``framework``: the runtime and its version, or the servers' software."""
        name, version, _ = self.software()
        return str(version) if self.record.kind == "serving" else f"{name} {version}"


@dataclass
class Plan:
    division: str
    org: str
    system_id: str
    benchmark_dir: dict[str, str]
    """Workload name -> its directory name in the tree (the benchmark's name where it is one)."""
    groups: dict[tuple[str, str], dict[str, Run]]
    """(workload, scenario) -> role -> run."""
    draft: bool
    problems: list[str] = field(default_factory=list)


def _runs_under(path: Path) -> list[Path]:
    if (path / "result.json").is_file():
        return [path]
    if not path.is_dir():
        raise PackError(f"{path}: not a directory")
    found = sorted(p.parent for p in path.rglob("result.json") if "repeat" not in p.parent.parts[len(path.parts):])
    if not found:
        raise PackError(f"{path}: holds no run (no result.json); give the directories mlmeter infer wrote")
    return found


def _serving_run(d: Path, record: RunRecord) -> Run:
    body = record.body
    if body.get("concurrency") or "scenario" not in body:
        raise PackError(f"{d}: a concurrency run is not an MLPerf scenario and cannot be packed; run mlmeter serve "
                        "--scenario Offline|Server|SingleStream")
    if not body.get("mlperf_model"):
        raise PackError(f"{d}: a serving run made without --mlperf-model; a package names the MLPerf benchmark it "
                        "ran: rerun it with mlmeter serve … --mlperf-model llama3_1-8b (or another LLM benchmark)")
    role = _SERVING_ROLES.get(str(body.get("mode")))
    if role is None:
        raise PackError(f"{d}: a {body.get('mode')} run cannot be packed; run mlmeter serve --mode accuracy and "
                        "--mode performance apart, with --compliance TEST06")
    return Run(d, record, role, body["scenario"], body["mlperf_model"])


def collect(paths: Sequence[Path]) -> list[Run]:
    """Every run under the given directories; a run that is neither mlmeter infer's nor serve's is refused."""
    runs = []
    for given in paths:
        for d in _runs_under(given):
            record = load_record(d / "result.json")
            if record.kind == "serving":
                runs.append(_serving_run(d, record))
                continue
            if record.kind != "inference":
                raise PackError(f"{d}: a {record.kind} run; a package is made of mlmeter infer and serve runs "
                                "(LoadGen runs of a model with its accuracy), e.g. mlmeter infer --mode "
                                "accuracy,performance")
            body = record.body
            role = body.get("mode", "")
            if role not in ROLES:
                raise PackError(f"{d}: a {role} run cannot be packed; run --mode accuracy,performance (the "
                                "performance and the accuracy run apart) and --compliance TEST01,TEST04")
            runs.append(Run(d, record, role, body["scenario"], body["benchmark"]))
    return runs


def _machine(r: Run) -> tuple[Any, ...]:
    s = r.record.system or {}
    return (s.get("hostname"), s.get("cpu_model"), s.get("logical_cores"), s.get("memory_bytes"),
            tuple(a.get("name") for a in s.get("accelerators", [])), *r.software())


def _one_system(runs: list[Run]) -> None:
    first = runs[0]
    for r in runs[1:]:
        if _machine(r) != _machine(first):
            a, b = _machine(first), _machine(r)
            names = ("host", "CPU", "logical CPUs", "memory", "accelerators", "backend", "backend version", "device")
            diff = ", ".join(f"{n} {x} vs {y}" for n, x, y in zip(names, a, b, strict=True) if x != y)
            raise PackError(f"{first.path} and {r.path} ran on different systems ({diff}); one package describes one "
                            "system: pack them separately")


def _settings_problems(r: Run, division: str) -> list[str]:
    """What in a run's effective settings the rules of ``division`` do not allow."""
    eff = r.loadgen["settings"]["effective"]
    bench = r.benchmark_rules
    if r.role == "accuracy":  # the rules judge the performance logs' settings (the accuracy run covers the dataset)
        return []
    out = [f"{r.path}: {k} is {eff.get(k)}, the rules need {v}" for k, v in rules.SEEDS.items() if eff.get(k) != v]
    if eff.get("min_duration_ms", 0) < rules.MIN_DURATION_MS:
        out.append(f"{r.path}: min duration {eff.get('min_duration_ms')} ms, the rules need at least "
                   f"{rules.MIN_DURATION_MS}")
    if bench is not None and eff.get("performance_sample_count", 0) < bench.performance_sample_count:
        out.append(f"{r.path}: performance sample count {eff.get('performance_sample_count')}, {bench.name} needs "
                   f"at least {bench.performance_sample_count}")
    if (division == "closed" and bench is not None and r.scenario == "Offline"
            and eff.get("samples_per_query", 0) < bench.offline_min_samples_per_query):
        out.append(f"{r.path}: {eff.get('samples_per_query')} samples per Offline query, the closed division needs "
                   f"at least {bench.offline_min_samples_per_query}")
    return out


def _failed_checks(r: Run) -> list[str]:
    """Why a performance or accuracy run cannot be packed: its failed checks, except a missed quality target
    (the open division allows it; the check reports it for the closed one)."""
    if r.role not in ("performance", "accuracy"):
        return []
    metrics = {m["name"] for m in r.body.get("accuracy") or []}
    failed = [c.reason() for c in r.record.checks if not c.passed and c.name not in metrics]
    if not r.record.complete:
        failed.append("interrupted")
    return failed


def plan(runs: list[Run], *, division: str, org: str, system_id: str, draft: bool) -> Plan:
    """Group the runs by workload and scenario and refuse what cannot be one package (with every reason)."""
    if not runs:
        raise PackError("no runs given")
    _one_system(runs)
    groups: dict[tuple[str, str], dict[str, Run]] = {}
    problems: list[str] = []
    for r in runs:
        roles = groups.setdefault((r.model, r.scenario), {})
        if r.role in roles:
            problems.append(f"two {r.role} runs of {r.model} {r.scenario}: {roles[r.role].path} and {r.path}; "
                            "give only one")
        roles[r.role] = r
        failed = _failed_checks(r)
        if failed:
            problems.append(f"{r.path}: the {r.role} run is {r.record.verdict.value} ({'; '.join(failed)})")
    for model, kind in sorted({(r.model, r.record.kind) for r in runs
                               if division == "closed" and r.benchmark_rules is None}):
        if kind == "serving":
            llms = ", ".join(k for k, b in rules.BENCHMARKS.items() if b.llm)
            problems.append(f"--mlperf-model {model} is {checker_model(model)}, not a benchmark of round "
                            f"{rules.ROUND} that mlmeter packs ({llms}): rerun with one of those, or --division open")
        else:
            problems.append(f"{model} is not an MLPerf benchmark's reference model, so its runs can only be in the "
                            "open division (--division open)")
    for (model, scenario), roles in groups.items():
        for role in ("performance", "accuracy"):
            if role not in roles:
                problems.append(f"{model} {scenario}: no {role} run (run mlmeter infer --mode accuracy,performance)")
    setting_problems = [p for r in runs for p in _settings_problems(r, division)]
    if not draft:
        problems += setting_problems
    if problems:
        hint = " (to try the flow with short runs anyway: --draft)" if setting_problems and not draft else ""
        raise PackError("cannot pack these runs: " + " | ".join(problems) + hint)
    names = {r.model: checker_model(r.model) for r in runs}
    return Plan(division, org, system_id, names, groups, draft, setting_problems)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def truncate_accuracy_log(src: Path, dst: Path) -> str:
    """Copy an accuracy log, keeping 4 KiB from each end of a longer one; the SHA-256 of the whole log."""
    digest = _sha256(src)
    size = src.stat().st_size
    if size < VIEWABLE:
        shutil.copyfile(src, dst)
        return digest
    with open(src, encoding="utf-8", errors="replace") as f:
        head = f.read(VIEWABLE)
        f.seek(size - VIEWABLE)
        tail = f.read(VIEWABLE)
    dst.write_text(head + "\n\n...\n\n" + tail, encoding="utf-8")
    return digest


def _copy(src_dir: Path, dst_dir: Path, names: Iterable[str]) -> None:
    dst_dir.mkdir(parents=True, exist_ok=True)
    for n in names:
        if not (src_dir / n).is_file():
            raise PackError(f"{src_dir / n}: missing (the run directory is incomplete)")
        shutil.copyfile(src_dir / n, dst_dir / n)


def _accuracy_dir(run: Run, dst: Path, score_file: str = "accuracy.txt") -> None:
    """Logs, the truncated accuracy log and ``accuracy.txt`` with the whole log's hash."""
    dst.mkdir(parents=True, exist_ok=True)
    digest = truncate_accuracy_log(run.path / ACCURACY_LOG, dst / ACCURACY_LOG)
    score = (run.path / score_file).read_text(encoding="utf-8") if (run.path / score_file).is_file() else ""
    (dst / "accuracy.txt").write_text(score.rstrip("\n") + f"\n\nhash={digest}\n", encoding="utf-8")


def _user_conf(run: Run, loadgen_model: str) -> str:
    """The settings the runs changed after mlperf.conf (auto targets, user.conf, options, flags) as user.conf."""
    fields: dict[str, Any] = {}
    sources = []
    for layer in run.loadgen["settings"]["layers"]:
        if layer["name"] in ("mlperf.conf", "audit.config"):
            continue
        fields.update(layer["fields"])
        if layer["fields"]:
            sources.append(f"{layer['name']} ({layer['source']})")
    lines = conf_lines(loadgen_model, run.scenario, fields)
    head = [f"# The settings of {run.path.name} that are not mlperf.conf's, written by mlmeter {__version__}",
            f"# from: {', '.join(sources) or 'nothing: every setting is mlperf.conf' + chr(39) + 's'}"]
    return "\n".join(head + lines) + "\n"


def _mlperf_conf(run: Run) -> str:
    source = next((ly["source"] for ly in run.loadgen["settings"]["layers"] if ly["name"] == "mlperf.conf"),
                  "")
    path = Path(source)
    if source and path.is_file():
        return path.read_text(encoding="utf-8")
    return builtin_mlperf_conf_text()


_DTYPE = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "int8": "int8", "uint8": "uint8"}


def measurements(run: Run, given: dict[str, Any]) -> dict[str, Any]:
    """``measurements.json``: the model's input types and file from the run, the rest from the system file."""
    model = run.body.get("model", {})
    inputs = sorted({_DTYPE.get(t[1], t[1]) for t in model.get("inputs", [])})
    out = {"input_data_types": ", ".join(inputs), "retraining": "", "starting_weights_filename":
           Path(str(model.get("path", ""))).name, "weight_data_types": "", "weight_transformations": ""}
    out.update({k: str(v) for k, v in given.items()})
    return out


def _readme(roles: dict[str, Run], bench_dir: str) -> str:
    perf = roles["performance"]
    lines = [f"# {bench_dir} {perf.scenario}", "", f"Measured with mlmeter {__version__}.", ""]
    for role in ROLES:
        r = roles.get(role)
        if r is None:
            continue
        lines += [f"## {role}", "", f"- run: `{r.path}` ({r.record.verdict.value})",
                  f"- command: `{r.body.get('command') or 'not recorded'}`", f"- summary: {r.body.get('summary', '')}",
                  ""]
    return "\n".join(lines)


def _audit_dir(run: Run, dst: Path) -> None:
    if run.role == "TEST06":  # judged by its verification and its own log (what run_verification.py copies)
        _copy(run.path, dst, ["verify_accuracy.txt"])
        (dst / "accuracy").mkdir()
        truncate_accuracy_log(run.path / ACCURACY_LOG, dst / "accuracy" / ACCURACY_LOG)
        return
    names = ["verify_accuracy.txt", "verify_performance.txt"] if run.role == "TEST01" else ["verify_performance.txt"]
    present = [n for n in names if (run.path / n).is_file()]
    _copy(run.path, dst, present)
    _copy(run.path, dst / "performance" / "run_1", (DETAIL, SUMMARY))
    if run.role == "TEST01":
        _accuracy_dir(run, dst / "accuracy", "compliance_accuracy.txt")
        _copy(run.path, dst / "accuracy", [n for n in ("baseline_accuracy.txt", "compliance_accuracy.txt")
                                           if (run.path / n).is_file()])


def _scenario_dir(p: Plan, roles: dict[str, Run], dst: Path, measured: dict[str, Any]) -> None:
    perf, acc = roles["performance"], roles["accuracy"]
    _copy(perf.path, dst / "performance" / "run_1", (DETAIL, SUMMARY))
    _copy(acc.path, dst / "accuracy", (DETAIL, SUMMARY))
    _accuracy_dir(acc, dst / "accuracy")
    for test in ("TEST01", "TEST04", "TEST06"):
        if test in roles:
            _audit_dir(roles[test], dst / test)
    loadgen_model = perf.body.get("loadgen_model") or perf.model
    (dst / "user.conf").write_text(_user_conf(perf, loadgen_model), encoding="utf-8")
    (dst / "mlperf.conf").write_text(_mlperf_conf(perf), encoding="utf-8")
    (dst / "measurements.json").write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    (dst / "README.md").write_text(_readme(roles, p.benchmark_dir[perf.model]), encoding="utf-8")


def _code_pointer(runs: Iterable[Run]) -> str:
    commands = sorted({r.body.get("command") or "" for r in runs} - {""})
    return "\n".join([f"# Code: mlmeter {__version__}", "",
                      "The runs were made with mlmeter (pip install mlmeter), a re-implementation of the MLPerf "
                      "Inference LoadGen and reference harness; its source is the package itself.", "",
                      "Commands:", "", *[f"    {c}" for c in commands], ""])


def _on_this_host(r: Run) -> bool:
    """Whether the run's system is the machine mlmeter measured: a serving run's is its servers' machine, known
    only when every endpoint is on this one (loopback); else the --system file describes it."""
    if r.record.kind != "serving":
        return True
    hosts = {urlsplit(u).hostname for u in (r.body.get("serving") or {}).get("endpoints") or []}
    return bool(hosts) and hosts <= {"127.0.0.1", "localhost", "::1"}


def write_package(p: Plan, sysfile: SystemFile | None, output: Path) -> dict[str, Any]:
    """Build the tree in a temporary directory beside ``output``, then rename it into place."""
    if output.exists():
        raise PackError(f"--output {output} already exists; a package is never merged into an existing "
                        "directory: choose a new one")
    output.parent.mkdir(parents=True, exist_ok=True)
    all_runs = [r for roles in p.groups.values() for r in roles.values()]
    first = all_runs[0]
    frameworks = sorted({r.framework() for r in all_runs})
    host = (first.record.system or {}) if all(_on_this_host(r) for r in all_runs) else {}
    sysdoc = system_description(measured_fields(host, frameworks), sysfile, org=p.org, division=p.division)
    given_measurements = sysfile.measurements if sysfile else {}
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        root = tmp / p.division / p.org
        (root / "systems").mkdir(parents=True)
        (root / "systems" / f"{p.system_id}.json").write_text(json.dumps(sysdoc, indent=2) + "\n", encoding="utf-8")
        (root / "src").mkdir()
        (root / "src" / "README.md").write_text(_code_pointer(all_runs), encoding="utf-8")
        missing_measurements: set[str] = set()
        for (model, scenario), roles in sorted(p.groups.items()):
            measured = measurements(roles["performance"], given_measurements)
            missing_measurements |= {k for k in MEASUREMENTS if not measured.get(k)}
            dst = root / "results" / p.system_id / p.benchmark_dir[model] / scenario
            _scenario_dir(p, roles, dst, measured)
        manifest = _manifest(p, sysdoc, sorted(missing_measurements))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _manifest(p: Plan, sysdoc: dict[str, Any], missing_measurements: list[str]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for (model, scenario), roles in sorted(p.groups.items()):
        audits: dict[str, bool] = {t: roles[t].body.get("compliance", {}).get("passed", False)
                                   for t in ("TEST01", "TEST04", "TEST06") if t in roles}
        results.append({"benchmark": p.benchmark_dir[model], "model": model, "scenario": scenario,
                        "runs": {role: str(r.path) for role, r in roles.items()}, "audits": audits})
    return {"tool": f"mlmeter {__version__}", "round": rules.ROUND, "division": p.division, "org": p.org,
            "system": p.system_id, "draft": p.draft, "results": results,
            "missing_system_fields": missing_fields(sysdoc), "missing_measurements": missing_measurements,
            "rule_problems": p.problems,
            "failed_audits": [f"{r['benchmark']} {r['scenario']} {t}" for r in results
                              for t, ok in r["audits"].items() if not ok]}
