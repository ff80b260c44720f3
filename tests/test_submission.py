"""MLPerf submissions: the compliance audits and their verification, the package, the check, the results table —
each held against the official tools (run unmodified from shared/oracles) on the same files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mlmeter.cli.main import main
from mlmeter.submission.check import check_package
from mlmeter.submission.verify import verify_test06
from tests.inference_oracles import official_check, oracle_root, run_official_verification
from tests.models import imagenet_classifier

pytestmark = pytest.mark.oracle

SYSTEM_YAML = """\
status: available
system_type: edge
cooling: air
host_memory_configuration: 1x 24 GB (virtual)
host_networking_topology: N/A
hw_notes: a 2-core virtual machine
measurements:
  retraining: "no"
  weight_data_types: fp32
  weight_transformations: none
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """ResNet-50's signature (a tiny random network) on 64 generated images: Offline and SingleStream, accuracy
    and performance runs, TEST01 and TEST04 — short runs (1 s), so every result misses the 600 s rule."""
    root = tmp_path_factory.mktemp("submission")
    model = imagenet_classifier(root / "tiny.onnx")
    assert main(["dataset", "fake-imagenet", str(root / "fake"), "--count", "64"]) == 0
    code = main(["infer", "--backend", "onnxruntime", "--model", "resnet50", "--model-path", str(model),
                 "--dataset-path", str(root / "fake"), "--scenario", "Offline,SingleStream",
                 "--mode", "accuracy,performance", "--compliance", "TEST01,TEST04", "--duration", "1",
                 "--auto-targets", "--output", str(root / "runs"), "--quiet"])
    assert code in (0, 1)  # the random network misses the quality target; an audit may miss by noise
    (root / "system.yaml").write_text(SYSTEM_YAML)
    return root


def _pack(runs: Path, division: str, name: str) -> Path:
    out = runs / name
    if not out.exists():
        code = main(["submission", "pack", str(runs / "runs"), "--system", str(runs / "system.yaml"),
                     "--division", division, "--org", "mlmeter", "--output", str(out), "--draft"])
        assert code == 1  # packed, and the check finds the short runs
    return out


def _results(pkg: Path) -> dict[str, tuple[bool, set[str]]]:
    report = check_package(pkg)
    return {str(r.path.resolve()): (r.passed, {p.rule for p in r.problems if p.severity == "error"})
            for r in report.results}


MLMETER_ONLY = {"performance.validity"}
"""A rule the official checker applies only through the audits' verification files (and not at all in the open
division, where mlmeter warns); every other rule must fail the same results on both sides."""


def _agree(pkg: Path) -> dict[str, set[str]]:
    """mlmeter's check and the official checker agree on every result: pass/fail, and the rules that fail it."""
    code, passed, found, log = official_check(pkg)
    mine = _results(pkg)
    assert set(passed) == set(mine), log[-3000:]
    for path, (ok, rules) in mine.items():
        assert passed[path] == ok, (path, rules, found.get(path), log[-3000:])
        assert rules - MLMETER_ONLY == found.get(path, set()), (path, rules, found.get(path))
    assert (code == 0) == all(ok for ok, _ in mine.values())
    return {p: r for p, (_, r) in mine.items()}


# -- the audits -------------------------------------------------------------------------------------------------

def _reference_layout(scenario_dir: Path, into: Path) -> Path:
    """The results directory run_verification.py expects: accuracy/ and performance/run_1/ of the scenario."""
    ref = into / "ref"
    shutil.copytree(scenario_dir / "accuracy", ref / "accuracy")
    (ref / "performance" / "run_1").mkdir(parents=True)
    for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt"):
        shutil.copy(scenario_dir / "performance" / name, ref / "performance" / "run_1" / name)
    return ref


def _figures(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(num_\w+) = (\d+)$", text, re.M))


def _verdict(text: str) -> bool:
    return any(line.strip() == "TEST PASS" or line.startswith("TEST PASS") for line in text.splitlines())


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_audit_verifications_equal_run_verification_py(runs, tmp_path, scenario):
    sc = runs / "runs" / scenario
    ref = _reference_layout(sc, tmp_path)
    run_official_verification("TEST01", ref, sc / "TEST01", tmp_path / "t1", "--dtype", "float32")
    official = (tmp_path / "t1" / "out" / "TEST01")
    mine_acc = (sc / "TEST01" / "verify_accuracy.txt").read_text()
    theirs_acc = (official / "verify_accuracy.txt").read_text()
    assert _figures(mine_acc) == _figures(theirs_acc) and _figures(mine_acc)
    assert _verdict(mine_acc) == _verdict(theirs_acc)
    for test in ("TEST01", "TEST04"):
        if test == "TEST04":
            run_official_verification("TEST04", ref, sc / "TEST04", tmp_path / "t4")
        mine = (sc / test / "verify_performance.txt").read_text()
        theirs = (tmp_path / ("t1" if test == "TEST01" else "t4") / "out" / test / "verify_performance.txt").read_text()
        assert _verdict(mine) == _verdict(theirs), (mine, theirs)
        scores = [re.findall(r"(?i)^(?:reference|test) score = ([\d.e+-]+)", t, re.M) for t in (mine, theirs)]
        assert [float(x) for x in scores[0]] == pytest.approx([float(x) for x in scores[1]], rel=1e-6)
        record = json.loads((sc / test / "result.json").read_text())
        assert record["body"]["compliance"]["passed"] == _verdict(mine)


def test_a_changed_response_fails_test01_as_officially(runs, tmp_path):
    sc = runs / "runs" / "Offline"
    audit = tmp_path / "audit"
    shutil.copytree(sc / "TEST01", audit)
    entries = json.loads((audit / "mlperf_log_accuracy.json").read_text())
    value = np.frombuffer(bytes.fromhex(entries[0]["data"]), np.float32)
    entries[0]["data"] = (value + 1).astype(np.float32).tobytes().hex().upper()
    (audit / "mlperf_log_accuracy.json").write_text(json.dumps(entries))
    from mlmeter.submission.verify import verify_test01_accuracy

    ok, figures, text = verify_test01_accuracy(sc / "accuracy" / "mlperf_log_accuracy.json",
                                               audit / "mlperf_log_accuracy.json", "float32")
    run_official_verification("TEST01", _reference_layout(sc, tmp_path), audit, tmp_path / "t1", "--dtype", "float32")
    theirs = (tmp_path / "t1" / "out" / "TEST01" / "verify_accuracy.txt").read_text()
    assert not ok and not _verdict(theirs)
    assert figures["num_perf_log_data_mismatch"] >= 1 and _figures(text) == _figures(theirs)


def _token_log(path: Path, rows: list[tuple[list[int], list[int], int]]) -> Path:
    entries = [{"seq_id": i, "qsl_idx": i, "data": np.array(d, np.int32).tobytes().hex().upper(),
                "token_data": np.array(f, np.int32).tobytes().hex().upper(), "token_count": n}
               for i, (d, f, n) in enumerate(rows)]
    path.mkdir(parents=True, exist_ok=True)
    (path / "mlperf_log_accuracy.json").write_text(json.dumps(entries))
    return path


@pytest.mark.parametrize("case", ["good", "double_eos", "first_token", "count"])
@pytest.mark.parametrize("scenario", ["Server", "Offline"])
def test_test06_equals_the_official_verification(tmp_path, case, scenario):
    rows = [([5, 6, 7, 2], [5], 4), ([9, 8], [9], 2)]
    if case == "double_eos":
        rows[1] = ([9, 8, 2, 2], [9], 4)
    elif case == "first_token":
        rows[0] = ([5, 6, 7, 2], [4], 4)
    elif case == "count":
        rows[1] = ([9, 8], [9], 3)
    audit = _token_log(tmp_path / "audit", rows)
    ok, figures, text = verify_test06(audit / "mlperf_log_accuracy.json", scenario)
    run_official_verification("TEST06", audit, audit, tmp_path / "w", "--scenario", scenario)
    theirs = (tmp_path / "w" / "out" / "TEST06" / "verify_accuracy.txt").read_text()
    assert text.splitlines()[:3] == theirs.splitlines()[:3]
    assert ok == ("verification complete" in theirs)
    assert ok == (case == "good" or (case == "first_token" and scenario == "Offline"))


# -- the package and the check ------------------------------------------------------------------------------------

def test_the_package_has_the_official_layout(runs):
    pkg = _pack(runs, "open", "pkg-open")
    sc = pkg / "open" / "mlmeter" / "results"
    system = next(sc.iterdir()).name
    res = sc / system / "resnet" / "Offline"
    for rel in ("performance/run_1/mlperf_log_detail.txt", "performance/run_1/mlperf_log_summary.txt",
                "accuracy/mlperf_log_accuracy.json", "accuracy/accuracy.txt", "accuracy/mlperf_log_detail.txt",
                "TEST01/verify_accuracy.txt", "TEST01/verify_performance.txt", "TEST01/performance/run_1/"
                "mlperf_log_detail.txt", "TEST04/verify_performance.txt", "measurements.json", "user.conf",
                "mlperf.conf", "README.md"):
        assert (res / rel).is_file(), rel
    assert (pkg / "open" / "mlmeter" / "src" / "README.md").is_file()
    doc = json.loads((pkg / "open" / "mlmeter" / "systems" / f"{system}.json").read_text())
    assert doc["division"] == "open" and doc["submitter"] == "mlmeter" and doc["cooling"] == "air"
    assert doc["framework"].startswith("onnxruntime ") and doc["accelerators_per_node"] == "0"
    original = runs / "runs" / "Offline" / "accuracy" / "mlperf_log_accuracy.json"
    text = (res / "accuracy" / "accuracy.txt").read_text()
    import hashlib

    assert f"hash={hashlib.sha256(original.read_bytes()).hexdigest()}" in text
    assert (res / "accuracy" / "mlperf_log_accuracy.json").read_bytes() == original.read_bytes()  # under 4 KiB
    packed = (res / "TEST01" / "accuracy" / "mlperf_log_accuracy.json").read_text()
    whole = (runs / "runs" / "Offline" / "TEST01" / "mlperf_log_accuracy.json").read_text()
    assert len(whole) > 8192 and packed == whole[:4096] + "\n\n...\n\n" + whole[-4096:]
    m = json.loads((res / "measurements.json").read_text())
    assert m["input_data_types"] == "fp32" and m["starting_weights_filename"] == "tiny.onnx"
    assert "resnet50.Offline.min_duration = 1000" in (res / "user.conf").read_text()


def test_truncation_equals_truncate_accuracy_log_py(runs, tmp_path):
    """The official script on the unpacked tree gives the same truncated log and hash line as mlmeter's pack."""
    import subprocess
    import sys

    pkg = _pack(runs, "open", "pkg-open")
    src = tmp_path / "src"
    shutil.copytree(pkg, src)
    for res in (src / "open").rglob("accuracy"):
        if res.parent.name == "TEST01" or not (res / "accuracy.txt").is_file():
            continue
        run = runs / "runs" / res.parent.name / "accuracy"
        shutil.copy(run / "mlperf_log_accuracy.json", res / "mlperf_log_accuracy.json")
        shutil.copy(run / "accuracy.txt", res / "accuracy.txt")
    script = oracle_root() / "tools" / "submission" / "truncate_accuracy_log.py"
    subprocess.run([sys.executable, str(script), "--input", str(src), "--submitter", "mlmeter", "--output",
                    str(tmp_path / "out")], check=True, capture_output=True)
    for res in (tmp_path / "out" / "open").rglob("accuracy/accuracy.txt"):
        if res.parent.parent.name == "TEST01":
            continue
        mine = pkg / res.relative_to(tmp_path / "out")
        assert (mine.parent / "mlperf_log_accuracy.json").read_text() == \
            (res.parent / "mlperf_log_accuracy.json").read_text()
        assert mine.read_text().split() == res.read_text().split()


@pytest.mark.parametrize("division", ["open", "closed"])
def test_check_agrees_with_the_official_checker(runs, division):
    found = _agree(_pack(runs, division, f"pkg-{division}"))
    every = set().union(*found.values())
    assert {"performance.min_duration", "accuracy.dataset"} <= every
    if division == "closed":
        assert {"performance.scenarios", "accuracy.target"} <= every  # no MultiStream; a random network


def _plant(runs: Path, name: str, division: str = "closed") -> tuple[Path, Path]:
    pkg = runs / f"planted-{name}"
    if pkg.exists():
        shutil.rmtree(pkg)
    shutil.copytree(_pack(runs, division, f"pkg-{division}"), pkg)
    res = next((pkg / division / "mlmeter" / "results").iterdir()) / "resnet" / "Offline"
    return pkg, res


def _edit_log(path: Path, key: str, value) -> None:
    lines = []
    for line in path.read_text().splitlines():
        if f'"key": "{key}"' in line:
            rec = json.loads(line.split(":::MLLOG ", 1)[1])
            rec["value"] = value
            line = ":::MLLOG " + json.dumps(rec)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")


def test_planted_defects_fail_both_checkers_alike(runs):
    pkg, res = _plant(runs, "seeds")
    _edit_log(res / "performance" / "run_1" / "mlperf_log_detail.txt", "effective_qsl_rng_seed", 12345)
    assert "performance.seeds" in _agree(pkg)[str(res.resolve())]
    pkg, res = _plant(runs, "audit")
    shutil.rmtree(res / "TEST04")
    assert "compliance.missing" in _agree(pkg)[str(res.resolve())]
    pkg, res = _plant(runs, "system-field")
    sysjson = next((pkg / "closed" / "mlmeter" / "systems").iterdir())
    doc = json.loads(sysjson.read_text())
    del doc["cooling"]
    sysjson.write_text(json.dumps(doc))
    assert all("system.required_fields" in r for r in _agree(pkg).values())
    pkg, res = _plant(runs, "measurements")
    m = json.loads((res / "measurements.json").read_text())
    m["weight_data_types"] = ""
    (res / "measurements.json").write_text(json.dumps(m))
    assert "measurements.fields" in _agree(pkg)[str(res.resolve())]
    pkg, res = _plant(runs, "untruncated")
    (res / "accuracy" / "mlperf_log_accuracy.json").write_text("[" + " " * 20000 + "]")
    assert "accuracy.log" in _agree(pkg)[str(res.resolve())]
    pkg, res = _plant(runs, "failed-audit")
    (res / "TEST04" / "verify_performance.txt").write_text("reference score = 100.0\ntest score = 150.0\n"
                                                           "TEST FAIL: Test score invalid\n")
    assert "compliance.TEST04.performance" in _agree(pkg)[str(res.resolve())]
    pkg, res = _plant(runs, "early-stopping")
    ss = res.parent / "SingleStream"
    _edit_log(ss / "performance" / "run_1" / "mlperf_log_detail.txt", "early_stopping_met", False)
    assert "performance.early_stopping" in _agree(pkg)[str(ss.resolve())]


def test_an_invalid_run_fails_both_checkers_through_its_audits(runs, tmp_path):
    """A performance run made INVALID, its audits verified against it (as run_verification.py does)."""
    pkg, res = _plant(runs, "invalid")
    perf = res / "performance" / "run_1"
    _edit_log(perf / "mlperf_log_detail.txt", "result_validity", "INVALID")
    (perf / "mlperf_log_summary.txt").write_text((perf / "mlperf_log_summary.txt").read_text().replace(
        "Result is : VALID", "Result is : INVALID"))
    for test, extra in (("TEST01", ("--dtype", "float32")), ("TEST04", ())):
        audit = tmp_path / test
        shutil.copytree(res / test / "performance" / "run_1", audit)
        shutil.copy(runs / "runs" / "Offline" / test / "mlperf_log_accuracy.json", audit)
        ref = tmp_path / f"ref-{test}"
        shutil.copytree(res / "accuracy", ref / "accuracy")
        shutil.copy(runs / "runs" / "Offline" / "accuracy" / "mlperf_log_accuracy.json", ref / "accuracy")
        shutil.copytree(perf, ref / "performance" / "run_1")
        run_official_verification(test, ref, audit, tmp_path / f"w-{test}", *extra)
        shutil.copy(tmp_path / f"w-{test}" / "out" / test / "verify_performance.txt", res / test)
    rules = _agree(pkg)[str(res.resolve())]
    assert {"performance.validity", "compliance.TEST01.performance", "compliance.TEST04.performance"} <= rules


def test_table_and_html_of_a_package(runs, tmp_path):
    pkg = _pack(runs, "open", "pkg-open")
    out = tmp_path / "table.csv"
    assert main(["submission", "table", str(pkg), "--all", "--output", str(out)]) == 0
    import csv

    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 1 and rows[0]["Submitter"] == "mlmeter" and rows[0]["Category"] == "open"
    assert float(rows[0]["resnet Offline (Samples/s)"]) > 0 and float(rows[0]["resnet SingleStream (Latency (ms))"]) > 0
    assert rows[0]["UsedModel"] == "resnet" and rows[0]["Accuracy"].startswith("acc: ")
    assert main(["submission", "table", str(pkg), "--output", str(tmp_path / "t.csv")]) == 0
    assert (tmp_path / "t.csv").read_text().count("\n") == 1  # only results that pass: none here
    assert main(["submission", "table", str(pkg), "--output", str(tmp_path / "t.html")]) == 0
    page = (tmp_path / "t.html").read_text()
    assert "performance.min_duration" in page and "accuracy.dataset" in page
    assert main(["report", str(pkg), "-o", str(tmp_path / "r.html")]) == 0  # the HTML report of a package
    assert (tmp_path / "r.html").read_text().count("accuracy.dataset") == page.count("accuracy.dataset") == 2


def test_mlperf_sysinfo_validates_mlmeters_system_description(runs):
    import os
    import subprocess

    tool = os.environ.get("MLMETER_SYSINFO") or shutil.which("mlperf-sysinfo")
    if not tool:
        if os.environ.get("MLMETER_REQUIRE_SYSINFO"):
            pytest.fail("mlperf-sysinfo is required (MLMETER_SYSINFO)")
        pytest.skip("mlperf-sysinfo is not installed")
    pkg = _pack(runs, "open", "pkg-open")
    sysjson = next((pkg / "open" / "mlmeter" / "systems").iterdir())
    doc = json.loads(sysjson.read_text())
    doc["submitter_contact"] = "bench@example.org"  # its profile asks for a contact; the rules do not
    checked = runs / "sysdesc.json"
    checked.write_text(json.dumps(doc))
    proc = subprocess.run([tool, "validate", str(checked), "--profile", "inference"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # every field mlperf-sysinfo fills, mlmeter fills too
    theirs = {"system_size", "host_processor_vcpu_count", "host_processor_caches", "host_processor_interconnect",
              "host_network_card_count", "host_networking", "host_storage_type", "host_storage_capacity",
              "operating_system", "host_memory_capacity"}
    assert all(doc.get(k) not in ("", None) for k in theirs), {k: doc.get(k) for k in theirs}


def _copy_runs(runs: Path, into: Path) -> Path:
    dst = into / "runs"
    shutil.copytree(runs / "runs", dst)
    return dst


def _edit_record(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def _pack_refused(runs_dir: Path, out: Path, capsys, *extra: str) -> str:
    code = main(["submission", "pack", str(runs_dir), "--division", "open", "--org", "mlmeter", "--output", str(out),
                 "--draft", *extra])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists() and not list(out.parent.glob(f".{out.name}.*")), err
    return err


def test_pack_refuses_runs_that_cannot_be_one_package(runs, tmp_path, capsys):
    copy = _copy_runs(runs, tmp_path)
    _edit_record(copy / "SingleStream" / "performance" / "result.json",
                 lambda d: d["system"].update(hostname="another-machine"))
    err = _pack_refused(copy, tmp_path / "p1", capsys)
    assert "ran on different systems (host " in err and "another-machine" in err
    copy2 = _copy_runs(runs, tmp_path / "b")

    def invalid(d):
        d["verdict"] = "INVALID"
        d["checks"].append({"name": "min_duration", "passed": False, "expected": ">= 600000 ms", "actual": "5 ms"})
    _edit_record(copy2 / "Offline" / "performance" / "result.json", invalid)
    err = _pack_refused(copy2, tmp_path / "p2", capsys)
    assert "Offline/performance: the performance run is INVALID (min_duration" in err
    shutil.rmtree(copy2 / "Offline" / "performance")
    err = _pack_refused(copy2, tmp_path / "p3", capsys)
    assert "resnet50 Offline: no performance run" in err


def test_check_names_what_a_damaged_package_lacks(runs, capsys):
    pkg, res = _plant(runs, "damaged", "open")
    shutil.rmtree(res / "performance")
    ss = res.parent / "SingleStream"
    with open(ss / "accuracy" / "mlperf_log_detail.txt", "a") as f:
        f.write(':::MLLOG {"key": cut short\n')
    (ss / "user.conf").write_text("")
    assert main(["submission", "check", str(pkg)]) == 1
    out = capsys.readouterr().out
    assert "[performance.missing]" in out and "[log.corrupt]" in out and "mlperf_log_detail.txt:" in out
    assert f"[measurements.files] {ss / 'user.conf'}: found empty" in out
    assert main(["submission", "check", str(pkg), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["passed"] and {p["rule"] for r in doc["results"] for p in r["problems"]} >= {
        "performance.missing", "log.corrupt", "measurements.files"}


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream", "MultiStream", "Server"])
def test_user_conf_lines_read_back_as_the_settings_they_came_from(scenario):
    """pack's user.conf: the fields a run changed, written as conf lines, set the same fields when read back."""
    from mlmeter.loadgen import TestScenario, TestSettings
    from mlmeter.loadgen import config as conf

    fields = {"min_duration_ms": 1234, "min_query_count": 77, "offline_expected_qps": 956507.25,
              "server_target_qps": 12.5, "server_target_latency_ns": 15_000_000,
              "single_stream_expected_latency_ns": 8_880_000, "multi_stream_expected_latency_ns": 64_000_000,
              "multi_stream_samples_per_query": 8, "server_coalesce_queries": True,
              "performance_sample_count_override": 1024}
    text = "\n".join(conf.conf_lines("resnet50", scenario, fields)) + "\n"
    s = TestSettings(scenario=TestScenario[scenario])
    conf.apply(s, conf.parse_text(text, "user.conf"), "resnet50", scenario, conf.ConfKind.USER)
    expected = TestSettings(scenario=TestScenario[scenario])
    for key in conf._KEYS:  # the fields a user.conf may set for this scenario
        if key.field in fields and (key.scenario or scenario) == scenario and not key.mlperf_only:
            setattr(expected, key.field, fields[key.field])
    assert s == expected and "seed" not in text
