"""`mlmeter run`, `mlmeter infer` and `mlmeter dataset` from the command line."""

from __future__ import annotations

import pytest

from mlmeter.cli.main import main

from .records import body, record  # noqa: F401

pytest.importorskip("onnxruntime")


def test_run_is_the_embedded_default(tmp_path, capsys):
    code = main(["run", "--seconds", "0.5", "--output", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code in (0, 1), out  # a loaded CI machine may miss a latency bound; the files must be complete
    lines = [ln for ln in out.splitlines() if ln.startswith(("digits ", "digits-int8 "))]
    assert [ln.split()[:3] for ln in lines] == [
        ["digits", "Offline", "performance"], ["digits", "SingleStream", "performance"],
        ["digits", "Server", "performance"], ["digits", "Offline", "accuracy"],
        ["digits-int8", "Offline", "performance"], ["digits-int8", "Offline", "accuracy"],
    ]
    for model in ("digits", "digits-int8"):
        rec = record(tmp_path / model / "Offline" / "accuracy")
        assert rec.verdict.value == "VALID" and rec.body["accuracy"][0]["pass"]
    assert "97.556% (>= 96.580)" in out


def test_infer_runs_several_scenarios_and_exit_code_follows_validity(tmp_path, capsys):
    code = main(["infer", "--backend", "onnxruntime", "--model", "digits", "--scenario", "Offline,SingleStream",
                 "--time", "0.3", "--auto-targets", "--output", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert "digits  Offline" in out and "digits  SingleStream" in out
    verdicts = [record(tmp_path / sc / "performance").verdict.value
                for sc in ("Offline", "SingleStream")]
    assert code == (0 if verdicts == ["VALID", "VALID"] else 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "tensorflow", "--model", "digits"], "valid backends: onnxruntime, pytorch"),
        (["--backend", "onnxruntime", "--model", "bert"], "valid models: digits, digits-int8, resnet50"),
        (["--backend", "onnxruntime", "--model", "digits", "--scenario", "Offline,Batch"],
         "unknown scenario Batch; valid scenarios: SingleStream, MultiStream, Server, Offline"),
        (["--backend", "onnxruntime", "--model", "resnet50"], "needs --dataset-path"),
        (["--backend", "onnxruntime", "--model", "digits", "--model-path", "/nonexistent.onnx"], "file not found"),
        (["--backend", "onnxruntime", "--model", "digits", "--mode", "find-peak", "--scenario", "Offline"],
         "find-peak runs only the Server scenario"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, capsys, argv, message):
    code = main(["infer", *argv, "--output", str(tmp_path), "--quiet"])
    assert code == 2 and message in capsys.readouterr().err


def test_bad_user_conf_names_file_line_and_key(tmp_path, capsys):
    conf = tmp_path / "user.conf"
    conf.write_text("*.Offline.target_qps = 1\ndigits.Offline.min_duration = soon\n")
    code = main(["infer", "--backend", "onnxruntime", "--model", "digits", "--scenario", "Offline",
                 "--user-conf", str(conf), "--output", str(tmp_path), "--quiet"])
    assert code == 2 and f"{conf}:2: digits.Offline.min_duration" in capsys.readouterr().err


def test_dataset_fake_imagenet(tmp_path, capsys):
    pytest.importorskip("cv2")
    assert main(["dataset", "fake-imagenet", str(tmp_path / "fi"), "--count", "3"]) == 0
    assert len((tmp_path / "fi" / "val_map.txt").read_text().splitlines()) == 3
