"""An LLM benchmark's package from ``mlmeter serve`` runs: llama3.1-8b (datacenter) served by the mock on a
dataset in the official CNN/DailyMail JSON layout with the benchmark's 13,368 samples, Offline and Server
(accuracy, a short performance run, the TEST06 audit), packed and judged by mlmeter's check and by the official
submission checker (v6.1) result by result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlmeter.cli.main import main

from .test_submission import SYSTEM_YAML as EDGE_SYSTEM
from .test_submission import _agree

pytestmark = pytest.mark.oracle
pytest.importorskip("aiohttp")

from mlmeter.serving.mock import MockServer, MockSettings  # noqa: E402

SAMPLES = 13368
SYSTEM_YAML = EDGE_SYSTEM.replace("system_type: edge", "system_type: datacenter") + """\
  input_data_types: text
  starting_weights_filename: none (a mock server)
"""


def _dataset(path: Path) -> Path:
    rows = [{"input": f"Copy the sentence.\nSentence: item{i} of the set, number {i % 97} here",
             "output": f"item{i} of the set, number {i % 97} here"} for i in range(SAMPLES)]
    path.write_text(json.dumps(rows))
    return path


def _serve(url: str, data: Path, out: Path, *extra: str) -> int:
    return main(["serve", "--endpoint", url, "--model", "mock-llm", "--mlperf-model", "llama3_1-8b", "--prompts",
                 str(data), "--max-tokens", "32", "--max-connections", "256", "--output", str(out), "--quiet", *extra])


def _runs(root: Path, settings: MockSettings, name: str, accuracy_from: Path | None = None) -> Path:
    """Each scenario's accuracy run (or a copy of ``accuracy_from``'s) and performance run with its TEST06."""
    data = root / "cnn_eval.json"
    if not data.exists():
        _dataset(data)
    runs = root / name
    with MockServer(settings) as m:
        for scenario, qps in (("Offline", "3000"), ("Server", "150")):
            perf = ["--min-duration-ms", "1000", "--compliance", "TEST06", "--qps", qps]
            if accuracy_from is None and scenario == "Offline":  # both modes and the audit in one command
                assert _serve(m.url, data, runs / scenario, "--scenario", scenario, "--mode", "accuracy,performance",
                              *perf) in (0, 1)
                continue
            if accuracy_from is not None:
                shutil.copytree(accuracy_from / scenario / "accuracy", runs / scenario / "accuracy")
            else:  # the whole dataset, as fast as the mock answers
                assert _serve(m.url, data, runs / scenario / "accuracy", "--scenario", scenario, "--mode",
                              "accuracy", "--qps", "3000") in (0, 1)
            assert _serve(m.url, data, runs / scenario / "performance", "--scenario", scenario, "--mode",
                          "performance", *perf) in (0, 1)
    return runs


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    root = tmp_path_factory.mktemp("llm-submission")
    _runs(root, MockSettings(echo=True, tokens=64), "runs")
    (root / "system.yaml").write_text(SYSTEM_YAML)
    return root


def _pack(root: Path, runs: str, division: str, name: str) -> Path:
    out = root / name
    if not out.exists():
        code = main(["submission", "pack", str(root / runs), "--system", str(root / "system.yaml"), "--division",
                     division, "--org", "mlmeter", "--output", str(out), "--draft"])
        assert code == 1  # packed; the check finds the short runs
    return out


@pytest.mark.parametrize("division", ["open", "closed"])
def test_an_llm_package_is_judged_alike_by_both_checkers(llm, division):
    pkg = _pack(llm, "runs", division, f"pkg-{division}")
    res = pkg / division / "mlmeter" / "results"
    scen = next(res.iterdir()) / "llama3.1-8b"
    assert sorted(p.name for p in scen.iterdir()) == ["Offline", "Server"]
    for sc in ("Offline", "Server"):
        verify = (scen / sc / "TEST06" / "verify_accuracy.txt").read_text()
        assert "TEST06 verification complete" in verify and (scen / sc / "TEST06" / "accuracy").is_dir()
        acc = (scen / sc / "accuracy" / "accuracy.txt").read_text()
        assert "'rouge1': '" in acc and "'gen_len': " in acc and "hash=" in acc
    sysdoc = json.loads(next((pkg / division / "mlmeter" / "systems").iterdir()).read_text())
    assert sysdoc["framework"].startswith("mlmeter-mock ")  # the server's software, as the endpoint told it
    found = _agree(pkg)
    every = set().union(*found.values())
    assert "performance.min_duration" in every and "accuracy.dataset" not in every
    if division == "closed":  # the mock copies short sentences: far fewer characters than the reference's
        assert "accuracy.target" in found[str((scen / "Offline").resolve())]


def test_a_failed_or_missing_test06_fails_both_checkers_alike(llm):
    pkg = llm / "planted-test06"
    if pkg.exists():
        shutil.rmtree(pkg)
    shutil.copytree(_pack(llm, "runs", "closed", "pkg-closed"), pkg)
    scen = next((pkg / "closed" / "mlmeter" / "results").iterdir()) / "llama3.1-8b"
    shutil.rmtree(scen / "Server" / "TEST06")
    verify = scen / "Offline" / "TEST06" / "verify_accuracy.txt"
    verify.write_text(verify.read_text().replace("EOS check pass: True", "EOS check pass: False")
                      .replace("verification complete", "verification failed"))
    found = _agree(pkg)
    assert "compliance.missing" in found[str((scen / "Server").resolve())]
    assert "compliance.TEST06" in found[str((scen / "Offline").resolve())]


def test_a_server_that_fails_test06_is_packed_and_marked(llm):
    """A server that ends its replies in two EOS tokens: the audit fails, the package is built and says so."""
    runs = _runs(llm, MockSettings(echo=True, tokens=64, eos_tail=2), "runs-eos", accuracy_from=llm / "runs")
    out = llm / "pkg-eos"
    code = main(["submission", "pack", str(runs), "--system", str(llm / "system.yaml"), "--division", "closed",
                 "--org", "mlmeter", "--output", str(out), "--draft"])
    assert code == 1
    manifest = json.loads((out / "mlmeter_submission.json").read_text())
    assert sorted(manifest["failed_audits"]) == ["llama3.1-8b Offline TEST06", "llama3.1-8b Server TEST06"]
    found = _agree(out)
    assert all("compliance.TEST06" in rules for rules in found.values())


def test_serving_runs_that_cannot_be_packed_are_refused_saying_why(llm, tmp_path, capsys):
    with MockServer(MockSettings(tokens=4)) as m:
        assert main(["serve", "--endpoint", m.url, "--model", "mock-llm", "--output", str(tmp_path / "plain"),
                     "--quiet", "--scenario", "Offline", "--min-duration-ms", "300"]) in (0, 1)
    code = main(["submission", "pack", str(tmp_path / "plain"), "--system", str(llm / "system.yaml"), "--org", "x",
                 "--division", "open", "--output", str(tmp_path / "pkg")])
    err = capsys.readouterr().err
    assert code == 2 and "without --mlperf-model" in err and not (tmp_path / "pkg").exists()


def test_a_remote_servers_system_is_not_measured_on_the_client(llm):
    from mlmeter.results.record import load_record
    from mlmeter.submission.pack import Run, _on_this_host

    run = llm / "runs" / "Offline" / "performance"
    r = Run(run, load_record(run / "result.json"), "performance", "Offline", "llama3_1-8b")
    assert _on_this_host(r)  # the mock listens on loopback
    r.record.body["serving"]["endpoints"] = ["http://10.1.2.3:8000"]
    assert not _on_this_host(r)


# -- llama2-70b-99.9: the OpenOrca pickle, its accuracy variant, its tokens-per-sample window ------------------

LLAMA2_SAMPLES = 24576


@pytest.fixture(scope="module")
def llama2(tmp_path_factory):
    """Offline runs of llama2-70b-99.9 (accuracy over the benchmark's 24,576 samples, a short performance run and
    TEST06) on the mock, from a dataset in the official OpenOrca pickle layout."""
    pd = pytest.importorskip("pandas")
    root = tmp_path_factory.mktemp("llama2-submission")
    sentences = [f"answer {i} of the set, number {i % 89} here" for i in range(LLAMA2_SAMPLES)]
    pd.DataFrame({"input": [f"Copy the sentence.\nSentence: {s}" for s in sentences],
                  "tok_input": [[1, 2, 3]] * LLAMA2_SAMPLES, "output": sentences}).to_pickle(root / "orca.pkl")
    with MockServer(MockSettings(echo=True, tokens=64)) as m:
        assert main(["serve", "--endpoint", m.url, "--model", "mock-llm", "--mlperf-model", "llama2-70b-99.9",
                     "--prompts", str(root / "orca.pkl"), "--max-tokens", "32", "--max-connections", "256",
                     "--scenario", "Offline", "--mode", "accuracy,performance", "--compliance", "TEST06",
                     "--min-duration-ms", "1000", "--qps", "3000", "--output", str(root / "runs" / "Offline"),
                     "--quiet"]) in (0, 1)
    (root / "system.yaml").write_text(SYSTEM_YAML)
    return root


def test_the_accuracy_variant_takes_its_models_settings_and_its_own_targets(llama2):
    from mlmeter.results.record import load_record

    perf = load_record(llama2 / "runs" / "Offline" / "performance" / "result.json").body
    assert perf["settings"]["effective"]["performance_sample_count"] == LLAMA2_SAMPLES  # llama2-70b's mlperf.conf
    acc = load_record(llama2 / "runs" / "Offline" / "accuracy" / "result.json").body
    by_name = {a["name"]: a for a in acc["accuracy"]}
    assert by_name["ROUGE1"]["threshold"] == pytest.approx(44.4312 * 0.999, abs=1e-4)  # the 99.9 % target
    assert by_name["ROUGE1"]["pass"]  # the mock copies the reference
    assert not by_name["TOKENS_PER_SAMPLE"]["pass"]  # its short copies: far under 294.45 × 0.9


@pytest.mark.parametrize("division", ["open", "closed"])
def test_a_llama2_package_is_judged_alike_by_both_checkers(llama2, division):
    pkg = _pack(llama2, "runs", division, f"pkg-{division}")
    scen = next((pkg / division / "mlmeter" / "results").iterdir()) / "llama2-70b-99.9"
    assert sorted(p.name for p in scen.iterdir()) == ["Offline"]
    assert "'tokens_per_sample': " in (scen / "Offline" / "accuracy" / "accuracy.txt").read_text()
    found = _agree(pkg)
    assert "performance.min_duration" in found[str((scen / "Offline").resolve())]
    if division == "closed":  # the mock's short copies; and a datacenter LLM needs Server or Interactive too
        assert {"accuracy.target", "performance.scenarios"} <= found[str((scen / "Offline").resolve())]


def test_a_benchmark_the_round_does_not_have_is_refused_for_the_closed_division(llama2, tmp_path, capsys):
    """llama2-70b without its variant is llama2-70b-99, which round v6.1 dropped: the message names the fix."""
    runs = tmp_path / "runs"
    shutil.copytree(llama2 / "runs", runs)
    for rec in runs.rglob("result.json"):
        rec.write_text(rec.read_text().replace('"mlperf_model": "llama2-70b-99.9"', '"mlperf_model": "llama2-70b"'))
    code = main(["submission", "pack", str(runs), "--system", str(llama2 / "system.yaml"), "--division", "closed",
                 "--org", "x", "--output", str(tmp_path / "pkg"), "--draft"])
    err = capsys.readouterr().err
    assert code == 2 and "llama2-70b-99, not a benchmark of round v6.1" in err and "llama2-70b-99.9" in err
    assert not (tmp_path / "pkg").exists()


def test_an_mlperf_model_mlperf_conf_does_not_know_is_one_line(tmp_path, capsys):
    code = main(["serve", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--mlperf-model", "llama9-1t",
                 "--output", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--mlperf-model llama9-1t: not a model of the built-in mlperf.conf" in err
    assert "llama2-70b" in err and len(err.strip().splitlines()) == 1
