"""The run record: one envelope for every kind, one verdict, version-1 files migrated, damage named, and a new
kind added by one adapter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlmeter.cli.main import main
from mlmeter.results.kinds import KindAdapter, register
from mlmeter.results.record import Metric, RecordError, load_record, new_record, parse_record, write_record
from mlmeter.verdict import Check, Verdict, exit_code, failure, judge

V1 = Path(__file__).parent / "data" / "v1"

# What the version-1 files (written by mlmeter before the envelope) said, and what the migration must keep.
EXPECTED_V1 = {
    "loadgen-server": ("loadgen", Verdict.INVALID, "scheduled samples/s", "Reduce target QPS to improve latency."),
    "loadgen-accuracy": ("loadgen", Verdict.NOT_JUDGED, None, None),
    "inference": ("inference", Verdict.INVALID, "samples/s", "Increase expected QPS"),
    "storage": ("storage", Verdict.INVALID, "samples/s", "Insufficient number of training files"),
    "checkpointing": ("checkpointing", Verdict.VALID, "save GiB/s", None),
    "training": ("training", Verdict.INVALID, None, "needs exactly 5"),
    "repeat": ("repeat", Verdict.VALID, "p90 latency", None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_V1))
def test_version_1_files_load_with_their_verdict_and_headline(name, tmp_path):
    kind, verdict, headline, reason = EXPECTED_V1[name]
    (tmp_path / "result.json").write_bytes((V1 / f"{name}.json").read_bytes())
    rec = load_record(tmp_path)
    assert rec.kind == kind and rec.verdict == verdict, rec.reasons
    assert (rec.headline.name if rec.headline else None) == headline
    if reason:
        assert any(reason in r for r in rec.reasons), rec.reasons
    else:
        assert rec.reasons == []
    old = json.loads((V1 / f"{name}.json").read_text())
    assert rec.system == old.get("system") and rec.power == old.get("power")
    for gone in ("schema", "verdict", "result_validity", "valid"):
        assert gone not in rec.body  # one verdict: the envelope's
    again = parse_record(json.loads(json.dumps(rec.as_dict())))  # a migrated record round-trips as version 2
    assert again == rec


def test_a_version_1_sut_failure_stays_decisive(tmp_path):
    doc = json.loads((V1 / "loadgen-server.json").read_text())
    doc["checks"] = [{**c, "passed": True} for c in doc["checks"]]
    doc["reasons"] = ["SUT raised in issue: RuntimeError: boom"]
    rec = parse_record(doc)
    assert rec.verdict == Verdict.INVALID and [c.name for c in rec.checks if not c.passed] == ["sut"]
    assert rec.checks[-1].decisive and "boom" in rec.reasons[0]


def test_every_kind_written_today_loads_back_equal(tmp_path):
    code = main(["loadgen", "--scenario", "Offline", "--sut", "null", "--qps", "2000", "--min-duration-ms", "300",
                 "--output", str(tmp_path / "lg"), "--quiet"])
    rec = load_record(tmp_path / "lg")
    assert exit_code([rec.verdict]) == code and rec.kind == "loadgen" and rec.metrics[0].name == "samples/s"
    assert rec.identity["scenario"] == "Offline" and rec.environment["host"] and rec.system
    raw = json.loads((tmp_path / "lg" / "result.json").read_text())
    assert raw["schema"] == "mlmeter.run" and raw["schema_version"] == 2 and raw["verdict"] == rec.verdict.value
    assert parse_record(raw) == rec


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d.pop("metrics"), "damaged run record, missing metrics"),
    (lambda d: d.update(schema_version=3), "version 3 is newer than this mlmeter reads"),
    (lambda d: d.update(kind="quantum"), "unknown kind of run 'quantum'"),
    (lambda d: d.update(kind_version=7), "loadgen body version 7 is newer"),
    (lambda d: d.update(verdict="GREAT"), "damaged run record (ValueError"),
    (lambda d: d["checks"].append({"passed": True}), "damaged run record (KeyError"),
])
def test_a_damaged_record_names_what_is_wrong(tmp_path, damage, message):
    rec = new_record("loadgen", {"scenario": "Offline", "mode": "PerformanceOnly"}, checks=[Check("x", True)])
    doc = rec.as_dict()
    damage(doc)
    (tmp_path / "result.json").write_text(json.dumps(doc))
    with pytest.raises(RecordError, match=message.replace("(", r"\(")) as err:
        load_record(tmp_path)
    assert str(tmp_path / "result.json") in str(err.value)


def test_the_verdict_comes_from_the_checks_alone():
    ok, bad, crash = Check("a", True), Check("b", False, "x", "y"), failure("SUT raised")
    assert judge([ok]) == Verdict.VALID and judge([]) == Verdict.NOT_JUDGED
    assert judge([ok, bad]) == Verdict.INVALID
    assert judge([ok, bad], complete=False) == Verdict.INCOMPLETE  # an interrupted run's misses are not judged
    assert judge([ok, crash], complete=False) == Verdict.INVALID  # but a crash is
    assert judge([], complete=False) == Verdict.INCOMPLETE
    assert exit_code([Verdict.VALID, Verdict.NOT_JUDGED]) == 0
    assert exit_code([Verdict.VALID, Verdict.INVALID]) == 1
    assert exit_code([Verdict.INVALID, Verdict.INCOMPLETE]) == 130


class _Echo(KindAdapter):
    """A whole new kind of run: an echo benchmark that measured round trips."""

    name = "echo"

    def checks(self, body):
        return [Check("round_trip", body["p99_ms"] <= body["bound_ms"], f"<= {body['bound_ms']} ms",
                      f"{body['p99_ms']} ms", advice="a faster echo server")]

    def metrics(self, body, power):
        return [Metric("echoes/s", body["rate"], "echoes/s", True, replicates=tuple(body["per_second"]),
                       replicated_by="seconds"), Metric("p99 latency", body["p99_ms"], "ms", False, True)]

    def identity(self, body):
        return {"benchmark": "echo", "bound_ms": body["bound_ms"]}


def test_a_new_kind_is_one_adapter_and_every_reader_handles_it(tmp_path, capsys):
    register(_Echo())
    for name, rate, p99 in (("a", 100.0, 2.0), ("b", 140.0, 9.0)):
        (tmp_path / name).mkdir()
        write_record(tmp_path / name / "result.json", new_record("echo", {
            "rate": rate, "p99_ms": p99, "bound_ms": 5.0, "per_second": [rate - 3, rate, rate + 3, rate + 1]}))
    a, b = load_record(tmp_path / "a"), load_record(tmp_path / "b")
    assert a.verdict == Verdict.VALID and b.verdict == Verdict.INVALID and b.reasons == [
        "round_trip: required <= 5.0 ms, measured 9.0 ms"]
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "echo: echo" in html and "a faster echo server" in html and "echoes/s" in html
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "echoes/s" in out and "yes, B better" in out
    shutil.copytree(tmp_path / "a", tmp_path / "runs" / "a")
    assert main(["runs", "rebuild", str(tmp_path / "runs")]) == 0
    assert main(["runs", "list"]) == 0
    assert "echoes/s 100" in capsys.readouterr().out
