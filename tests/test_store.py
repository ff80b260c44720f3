"""The run store: registration by the commands, list/show/rm/rebuild, immutability, bad directories."""

from __future__ import annotations

import json

import pytest

from mlmeter.cli.main import main
from mlmeter.results import RunStore, StoreError, read_result, register


def _inference_run(tmp_path):
    pytest.importorskip("onnxruntime")
    assert main(["infer", "--backend", "onnxruntime", "--model", "digits", "--scenario", "Offline", "--mode",
                 "accuracy", "--output", str(tmp_path / "out"), "--quiet"]) == 0
    return tmp_path / "out" / "Offline" / "accuracy"


def test_commands_register_their_runs(tmp_path, capsys):
    run = _inference_run(tmp_path)
    capsys.readouterr()
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert "inference" in out and "digits" in out and str(run.resolve()) in out
    (rid,) = [r.id for r in RunStore().runs()]
    assert main(["runs", "show", str(rid)]) == 0
    assert json.loads(capsys.readouterr().out)["body"]["benchmark"] == "digits"


def test_changed_runs_are_flagged_and_rm_keeps_the_directory(tmp_path, capsys):
    run = _inference_run(tmp_path)
    rs = RunStore()
    (r,) = rs.runs()
    assert not rs.changed(r)
    doc = json.loads((run / "result.json").read_text())
    doc["result_validity"] = "VALID!"
    (run / "result.json").write_text(json.dumps(doc))
    assert rs.changed(r)
    capsys.readouterr()
    main(["runs", "list"])
    assert "CHANGED since registered" in capsys.readouterr().out
    assert main(["runs", "rm", str(r.id)]) == 0 and run.is_dir() and RunStore().runs() == []


def test_rebuild_from_directories(tmp_path, capsys):
    run = _inference_run(tmp_path)
    (tmp_path / "out" / "broken").mkdir()
    (tmp_path / "out" / "broken" / "result.json").write_text("{not json")
    assert main(["runs", "rebuild", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "1 runs registered" in out and "not valid JSON" in out
    assert [r.path for r in RunStore().runs()] == [str(run.resolve())]


def test_bad_run_directories_say_what_is_wrong(tmp_path):
    with pytest.raises(StoreError, match="no result.json"):
        read_result(tmp_path)
    (tmp_path / "result.json").write_text(json.dumps({"schema": "mlmeter.inference.result", "schema_version": 9}))
    with pytest.raises(StoreError, match="version 9 is newer than this mlmeter reads"):
        read_result(tmp_path)


def test_unwritable_store_location_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    problems = register([tmp_path], blocker / "store")  # a store path below a regular file
    assert problems and problems[0].startswith("runs not registered") and "choose one with --store" in problems[0]
