"""Storage verifies what it measures: datagen's manifest, a run refusing damaged data, free space for checkpoints."""

from __future__ import annotations

import json

from mlmeter.cli.main import main

SMALL = ["--param", "dataset.num_files_train=28", "dataset.record_length_bytes=65536",
         "dataset.record_length_bytes_stdev=0"]


def datagen(d, *extra):
    return main(["storage", "training", "datagen", "-m", "unet3d", "-np", "1", "-dd", str(d), "--quiet", *SMALL,
                 *extra])


def run(d, results, capsys):
    code = main(["storage", "training", "run", "-m", "unet3d", "-g", "h100", "-na", "1", "-cm", "0.001", "-dd", str(d),
                 "--results-dir", str(results), "--quiet", "--allow-invalid-params", *SMALL, "train.epochs=1",
                 "train.computation_time=0", "reader.read_threads=1"])
    return code, capsys.readouterr()


def test_manifest_records_parameters_and_sizes(tmp_path):
    assert datagen(tmp_path / "data") == 0
    doc = json.loads((tmp_path / "data" / "unet3d" / "mlmeter_datagen.json").read_text())
    assert doc["parameters"]["record_length_bytes"] == 65536 and len(doc["files"]) == 28
    assert all(size > 65536 for size in doc["files"].values())


def test_datagen_refuses_a_folder_made_with_other_parameters(tmp_path, capsys):
    assert datagen(tmp_path / "data") == 0
    before = sorted((p.name, p.stat().st_size) for p in (tmp_path / "data").rglob("*.npz"))
    capsys.readouterr()
    assert main(["storage", "training", "datagen", "-m", "unet3d", "-np", "1", "-dd", str(tmp_path / "data"),
                 "--quiet", "--param", "dataset.num_files_train=28", "dataset.record_length_bytes=8192",
                 "dataset.record_length_bytes_stdev=0"]) == 2
    assert "record_length_bytes 65536 -> 8192" in capsys.readouterr().err
    assert sorted((p.name, p.stat().st_size) for p in (tmp_path / "data").rglob("*.npz")) == before


def test_datagen_rewrites_a_truncated_file(tmp_path):
    assert datagen(tmp_path / "data") == 0
    victim = sorted((tmp_path / "data").rglob("*.npz"))[2]
    size = victim.stat().st_size
    victim.write_bytes(victim.read_bytes()[: size // 3])
    assert datagen(tmp_path / "data") == 0
    assert victim.stat().st_size == size


def test_run_refuses_truncated_and_missing_files_before_timing(tmp_path, capsys):
    assert datagen(tmp_path / "data") == 0
    capsys.readouterr()
    code, out = run(tmp_path / "data", tmp_path / "intact", capsys)
    assert code in (0, 1) and "AU" in out.out  # intact data: the run is timed and judged
    victim = sorted((tmp_path / "data").rglob("*.npz"))[1]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    capsys.readouterr()
    code, out = run(tmp_path / "data", tmp_path / "results", capsys)
    assert code == 2 and "differ in size" in out.err and victim.name in out.err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("result.json"))
    victim.unlink()
    code, out = run(tmp_path / "data", tmp_path / "results", capsys)
    assert code == 2 and "27 .npz files found, 28 needed" in out.err


def test_checkpointing_refuses_what_does_not_fit(tmp_path, capsys):
    code = main(["storage", "checkpointing", "run", "-m", "llama3-1t", "-np", "8", "-cf", str(tmp_path / "ck"),
                 "--results-dir", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2 and "GiB free" in err and not (tmp_path / "ck").exists()
