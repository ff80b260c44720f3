"""MLPerf Storage: sizing formula, DLIO-compatible data, the emulation metrics, failures, checkpoints, reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlmeter.cli.main import main
from mlmeter.storage import datagen as datagen_module
from mlmeter.storage import launch, tfrecord
from mlmeter.storage.checkpointing import LLAMA3, checkpointing_run, llm_checkpoint
from mlmeter.storage.datagen import DatagenError, data_folder, file_dims, generate, plan
from mlmeter.storage.metrics import EpochRecord, block_metrics
from mlmeter.storage.report import write_report
from mlmeter.storage.sizing import training_data_size
from mlmeter.storage.training import RunConfig, training_run
from mlmeter.storage.workloads import StorageConfigError, training_workload

from .records import body, record  # noqa: F401

pytest.importorskip("crc32c")

# spec §3.3, computed with the official tool (identical for a100 and h100)
SIZES = [
    ("unet3d", 32, 1, 1, 3500, "477.86"), ("unet3d", 64, 4, 1, 14000, "1911.45"),
    ("unet3d", 256, 8, 1, 28000, "3822.91"), ("unet3d", 256, 80, 2, 280000, "38229.09"),
    ("resnet50", 32, 1, 1, 1197, "159.91"), ("resnet50", 64, 4, 1, 2395, "319.94"),
    ("resnet50", 256, 8, 1, 9581, "1279.91"), ("resnet50", 256, 80, 2, 19163, "2559.96"),
    ("cosmoflow", 32, 1, 1, 60738, "160.00"), ("cosmoflow", 64, 4, 1, 121477, "320.00"),
    ("cosmoflow", 256, 8, 1, 485909, "1280.00"), ("cosmoflow", 256, 80, 2, 971819, "2560.00"),
]


@pytest.mark.parametrize(("model", "mem", "acc", "hosts", "files", "gb"), SIZES)
@pytest.mark.parametrize("accel", ["a100", "h100"])
def test_datasize_table(model, mem, acc, hosts, files, gb, accel):
    d = training_data_size(training_workload(model, accel), mem, hosts, acc)
    assert d.num_files_train == files and f"{d.total_gib:.2f}" == gb


def test_datasize_cli_lines(capsys):
    assert main(["storage", "training", "datasize", "--model", "unet3d", "--client-host-memory-in-gb", "32",
                 "--max-accelerators", "1", "--num-client-hosts", "1", "--accelerator-type", "h100"]) == 0
    out = capsys.readouterr().out
    assert "RESULT: Minimum file count dictated by 500 step requirement" in out
    assert "RESULT: Number of training files: 3500\n" in out
    assert "RESULT: Total disk space required for training: 477.86 GB\n" in out
    assert "--param dataset.num_files_train=3500 --num-processes=1" in out


def test_unknown_names_list_valid_ones():
    with pytest.raises(StorageConfigError, match="valid models: unet3d, resnet50, cosmoflow"):
        training_workload("bert", "h100")
    with pytest.raises(StorageConfigError, match="valid accelerator types: a100, h100"):
        training_workload("unet3d", "b200")
    with pytest.raises(StorageConfigError, match="--param reader.batchsize: unknown parameter"):
        training_workload("unet3d", "h100").with_params({"reader.batchsize": "3"})
    with pytest.raises(StorageConfigError, match="valid checkpointing models"):
        llm_checkpoint("llama2-7b", {})


def test_file_sizes_follow_dlio_seeded_distribution():
    w = training_workload("unet3d", "h100").with_params({"dataset.num_files_train": "28"})
    dims = file_dims(w, 28)
    state = np.random.RandomState(10)  # DLIO: np.random.seed(10), then 2 × files normal draws
    raw = state.normal(int(np.sqrt(146600628)), 68341808 / 2 / np.sqrt(146600628), 56)
    assert dims.reshape(-1).tolist() == [max(int(d), 1) for d in raw]
    sizes = dims[:, 0] * dims[:, 1]
    # spec §4.2, observed on the official tool over these 28 files: mean 155.7 MB, min 46.9 MB, max 257 MB
    assert round(sizes.mean() / 1e6, 1) == 155.7 and round(sizes.min() / 1e6, 1) == 46.9
    assert round(sizes.max() / 1e6) == 257


def test_resnet50_tfrecord_is_byte_compatible_in_size(tmp_path):
    w = training_workload("resnet50", "a100").with_params({"dataset.num_files_train": "1"})
    r = generate(w, data_folder(tmp_path, "resnet50"), processes=1)
    f = tmp_path / "resnet50" / "train" / "img_0_of_1.tfrecord"
    assert r.files_written == 1 and f.stat().st_size == 142_993_053  # the official generator's size
    with f.open("rb") as fh:
        records = list(tfrecord.read_records(fh, str(f)))
    assert len(records) == 1251 and all(len(x) == 114_287 for x in records)
    idx = (tmp_path / "resnet50" / "index" / "train" / "img_0_of_1.tfrecord.idx").read_text().splitlines()
    assert idx[0] == "0 114303" and idx[1] == "114303 114303" and len(idx) == 1251


def test_npz_naming_subfolders_and_resume(tmp_path):
    params = {"dataset.num_files_train": "12", "dataset.record_length_bytes": "65536",
              "dataset.record_length_bytes_stdev": "16384", "dataset.num_subfolders_train": "3"}
    w = training_workload("unet3d", "h100").with_params(params)
    folder = data_folder(tmp_path / "unet3d", "unet3d")  # already ends with the model: nothing appended
    assert folder == tmp_path / "unet3d"
    r = generate(w, folder, processes=2)
    names = sorted(p.relative_to(folder / "train").as_posix() for p in (folder / "train").rglob("*.npz"))
    assert r.files_written == 12 and names[:2] == ["0/img_00_of_12.npz", "0/img_03_of_12.npz"]
    with np.load(folder / "train" / "1" / "img_01_of_12.npz") as z:
        assert z["x"].dtype == np.uint8 and z["x"].shape == (*file_dims(w, 12)[1], 1) and z["y"].tolist() == [0]
    (folder / "train" / "2" / "img_05_of_12.npz").unlink()
    again = generate(w, folder, processes=2)
    assert (again.files_written, again.files_skipped) == (1, 11)
    assert not list(folder.rglob("*.part"))


def test_disk_full_leaves_nothing_partial(tmp_path, monkeypatch):
    import errno

    w = training_workload("unet3d", "h100").with_params({"dataset.num_files_train": "2",
                                                          "dataset.record_length_bytes": "4096",
                                                          "dataset.record_length_bytes_stdev": "0"})

    def full(p, fmt, index_dir, fsync):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(datagen_module, "write_file", full)
    monkeypatch.setattr(datagen_module, "ProcessPoolExecutor", _InlineExecutor)
    with pytest.raises(DatagenError, match="disk full while writing .* GiB more is needed"):
        generate(w, data_folder(tmp_path, "unet3d"), processes=1)
    assert not list((tmp_path / "unet3d" / "train").iterdir())


def test_not_enough_space_is_refused_before_writing(tmp_path):
    w = training_workload("unet3d", "h100").with_params({"dataset.num_files_train": "3500"})
    with pytest.raises(DatagenError, match=r"3500 files need about 4\d\d.\d\d GiB, only .* GiB is free"):
        generate(w, data_folder(tmp_path, "unet3d"), processes=1)


class _InlineExecutor:
    """Runs submitted calls in this process (so a monkeypatched writer is used)."""

    def __init__(self, max_workers=1, initializer=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001
            f.set_exception(exc)
        return f


def test_block_metrics_reproduce_dlio_on_the_spec_example():
    # spec §11 hand check: 4 steps of 0.3232 s compute, a 5.78 s block whose first step took 4.805 s
    r = EpochRecord(load=(4.48, 0.001, 0.001, 0.001), proc=(4.805, 0.3242, 0.3242, 0.3242),
                    compute=(0.3232,) * 4, wall=5.78, bytes_read=0)
    au, thr = block_metrics(r, expected_steps=4, batch=7)
    assert au == pytest.approx(100 * 3 * 0.3232 / (5.78 - 4.805))
    assert round(au, 1) == 99.4 and round(thr, 1) == 14.4  # (n - 2) / window × batch, as DLIO


def _small_unet3d(tmp_path, files=28):
    params = {"dataset.num_files_train": str(files), "dataset.record_length_bytes": "262144",
              "dataset.record_length_bytes_stdev": "65536", "train.computation_time": "0.02", "train.epochs": "2"}
    w = training_workload("unet3d", "h100").with_params(params)
    folder = data_folder(tmp_path / "data", "unet3d")
    generate(w, folder, processes=2)
    return w, params, folder


def test_training_run_writes_results(tmp_path):
    w, params, folder = _small_unet3d(tmp_path)
    r = training_run(RunConfig(w, params, folder, tmp_path / "results", 2, 1.0))
    doc = body(r.outdir)
    assert doc["complete"] and doc["steps_per_epoch"] == 2 and len(doc["per_epoch"]["au"]) == 2
    for key in ("au", "au_threshold", "au_pass", "samples_per_second", "mb_per_second", "category", "checks"):
        assert key in doc
    assert doc["au_threshold"] == 90.0 and 0 < doc["au"] <= 100
    assert doc["category"] == "INVALID"  # 28 files is far below the datasize rule, and the overrides are not allowed
    assert any("Insufficient number of training files" in x for x in doc["reasons"])
    summary = json.loads((r.outdir / "summary.json").read_text())
    assert summary["metric"]["train_au_mean_percentage"] == pytest.approx(doc["au"])
    for rank in (0, 1):
        epochs = json.loads((r.outdir / f"{rank}_output.json").read_text())["epochs"]
        assert len(epochs) == 2 and len(epochs[0]["compute"]) == 2 and epochs[0]["bytes_read"] > 0


def test_corrupt_file_names_the_file_and_the_rank(tmp_path, capsys):
    w, params, folder = _small_unet3d(tmp_path)
    victim = sorted((folder / "train").iterdir())[20]  # in rank 1's contiguous block
    victim.write_bytes(victim.read_bytes().replace(b"PK", b"XX"))  # same size: past the manifest, caught reading
    argv = ["storage", "training", "run", "--model", "unet3d", "--accelerator-type", "h100", "--num-accelerators", "2",
            "--client-host-memory-in-gb", "1", "--data-dir", str(folder), "--results-dir", str(tmp_path / "r"),
            "--quiet", "--param", *[f"{k}={v}" for k, v in params.items()]]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert f"rank 1 failed: {victim}: not an npz file" in out and "(a rank failed)" in out


def test_too_few_files_says_how_many(tmp_path):
    w, params, folder = _small_unet3d(tmp_path, files=14)
    w2 = w.with_params({"dataset.num_files_train": "20"})
    from mlmeter.storage.readers import ReadError

    with pytest.raises(ReadError, match="14 .npz files found, 20 needed"):
        training_run(RunConfig(w2, params, folder, tmp_path / "results", 1, 1.0))


def test_a_dying_rank_ends_the_run_and_is_named(tmp_path, monkeypatch):
    import os

    from mlmeter.storage import training

    w, params, folder = _small_unet3d(tmp_path)
    real = training.run_rank

    def flaky(job, comm, tick=None):
        if comm.rank == 1:
            os._exit(7)
        return real(job, comm, tick)

    monkeypatch.setattr(training, "run_rank", flaky)  # the ranks are forked, so they see the patch
    r = training_run(RunConfig(w, params, folder, tmp_path / "results", 2, 1.0, barrier_timeout_s=30))
    assert not r.ok and any("rank 1 died (exit code 7)" in f for f in r.failures)
    assert body(r.outdir)["category"] == "INVALID"


def test_closed_refuses_an_invalid_configuration(tmp_path, capsys):
    w, params, folder = _small_unet3d(tmp_path)
    argv = ["storage", "training", "run", "--model", "unet3d", "--accelerator-type", "h100", "--num-accelerators", "1",
            "--client-host-memory-in-gb", "1", "--data-dir", str(folder), "--closed", "--results-dir",
            str(tmp_path / "r"), "--param", *[f"{k}={v}" for k, v in params.items()]]
    assert main(argv) == 2
    assert "not CLOSED" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_checkpoint_sizes_match_the_spec():
    gib = {m: round(c.total_bytes() / 2**30, 2) for m, c in LLAMA3.items()}
    assert gib["llama3-8b"] == 104.70 and gib["llama3-70b"] == 911.21
    assert round(gib["llama3-405b"]) == 5292 and round(gib["llama3-1t"]) == 15427


def test_checkpointing_run_writes_reads_and_reports_slowest_rank(tmp_path):
    params = {"num_layers": "2", "hidden_size": "256", "ffn_hidden_size": "512", "num_attention_heads": "4",
              "num_kv_heads": "2", "vocab_size": "1000", "time_between_checkpoints": "0",
              "num_checkpoints_write": "2", "num_checkpoints_read": "2"}
    c = llm_checkpoint("llama3-8b", params)
    doc = checkpointing_run(c, 2, tmp_path / "ckpt", tmp_path / "results")
    assert doc["complete"] and doc["subset"] and doc["category"] == "OPEN"
    shards = sorted((tmp_path / "ckpt" / "llama3-8b" / "global_epoch1_step1").iterdir())
    assert sum(p.stat().st_size for p in shards) == c.total_bytes(2)
    for kind in ("save", "load"):
        s = doc[kind]
        assert len(s["duration_per_checkpoint_max_over_ranks_s"]) == 2
        assert s["duration_mean_s"] >= s["rank0_duration_mean_s"] * 0.999  # the slowest rank, not rank 0


def test_report_groups_warmup_and_five_runs(tmp_path):
    base = {"schema": "mlmeter.storage.result", "schema_version": 1, "benchmark": "training", "model": "unet3d", "accelerator": "h100",
            "num_accelerators": 2, "num_files_train": 3500, "category": "CLOSED", "au_pass": True, "au": 95.0,
            "reasons": [], "complete": True}
    for k, sps in enumerate([50.0, 100.0, 101.0, 99.0, 100.0, 100.0]):
        d = tmp_path / "training" / "unet3d" / "run" / f"run{k}"
        d.mkdir(parents=True)
        doc = dict(base, started_at=f"2026-11-22T10:0{k}:00", samples_per_second=sps, mb_per_second=sps * 140)
        (d / "result.json").write_text(json.dumps(doc))
    js, cs, report = write_report(tmp_path)
    (g,) = report
    assert g["num_runs"] == 5 and g["warmup_run"].endswith("run0")
    assert g["samples_per_second_mean"] == pytest.approx(100.0) and g["category"] == "CLOSED"
    assert g["samples_per_second_stdev"] == pytest.approx(np.std([100, 101, 99, 100, 100]))
    assert "samples_per_second_mean" in cs.read_text().splitlines()[0]


def test_slot_distribution_and_mpirun_command():
    assert launch.slots(["a", "b", "c"], 8) == [("a", 3), ("b", 3), ("c", 2)]
    assert launch.slots(["a:4", "b:4"], 6) == [("a", 4), ("b", 4)]
    with pytest.raises(StorageConfigError, match="not sufficient"):
        launch.slots(["a:1", "b:1"], 3)
    if shutil.which("mpirun"):
        cmd = launch.mpirun_command(["a", "b"], 3, ["storage"], python="py")
        assert cmd[1:7] == ["-n", "3", "-host", "a:2,b:1", "--bind-to", "none"]


def test_plan_rejects_an_empty_dataset():
    assert len(plan(training_workload("unet3d", "h100"), Path("/x"))) == 168  # the YAML's default
    with pytest.raises(StorageConfigError, match="num_files_train must be at least 1"):
        plan(training_workload("unet3d", "h100").with_params({"dataset.num_files_train": "0"}), Path("/x"))


@pytest.mark.skipif(not shutil.which("mpirun"), reason="Open MPI not installed")
def test_mpi_ranks_give_the_same_kind_of_result(tmp_path):
    pytest.importorskip("mpi4py")
    w, params, folder = _small_unet3d(tmp_path)
    cmd = ["mpirun", "-n", "2", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none", sys.executable, "-m",
           "mlmeter.cli.main", "storage", "training", "run", "--model", "unet3d", "--accelerator-type", "h100",
           "--num-accelerators", "2", "--client-host-memory-in-gb", "1", "--data-dir", str(folder),
           "--results-dir", str(tmp_path / "mpi"), "--quiet", "--param", *[f"{k}={v}" for k, v in params.items()]]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    (result,) = list((tmp_path / "mpi").rglob("result.json"))
    doc = body(result.parent)
    assert doc["complete"] and doc["steps_per_epoch"] == 2 and doc["num_accelerators"] == 2, done.stderr
    assert 0 < doc["au"] <= 100


def test_hdf5_dataset_generates_and_runs(tmp_path):
    h5py = pytest.importorskip("h5py")
    params = {"dataset.format": "hdf5", "dataset.num_files_train": "14", "dataset.record_length_bytes": "65536",
              "dataset.record_length_bytes_stdev": "8192", "train.computation_time": "0.01", "train.epochs": "2"}
    w = training_workload("unet3d", "h100").with_params(params)
    folder = data_folder(tmp_path / "data", "unet3d")
    generate(w, folder, processes=2)
    with h5py.File(folder / "train" / "img_03_of_14.hdf5") as h:
        assert h["records"].shape == (1, *file_dims(w, 14)[3]) and h["records"].dtype == np.uint8
    r = training_run(RunConfig(w, params, folder, tmp_path / "results", 1, 1.0))
    assert r.ok and r.document["steps_per_epoch"] == 2
    assert any("Open parameter override allowed: dataset.format = hdf5" in c["message"] for c in r.document["checks"])


def test_loader_and_format_must_match(tmp_path):
    params = {"dataset.format": "tfrecord", "dataset.num_files_train": "14"}
    w = training_workload("unet3d", "h100").with_params(params)
    with pytest.raises(StorageConfigError, match="reader.data_loader=pytorch cannot read dataset.format=tfrecord"):
        training_run(RunConfig(w, params, tmp_path, tmp_path / "r", 1, 1.0))


@pytest.mark.skipif(not shutil.which("mpirun"), reason="Open MPI not installed")
def test_mpi_datagen_and_checkpointing(tmp_path):
    pytest.importorskip("mpi4py")
    mpi = ["mpirun", "-n", "2", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none", sys.executable, "-m",
           "mlmeter.cli.main", "storage"]
    gen = subprocess.run([*mpi, "training", "datagen", "--model", "unet3d", "--num-processes", "2", "--data-dir",
                          str(tmp_path / "d"), "--param", "dataset.num_files_train=6",
                          "dataset.record_length_bytes=65536", "dataset.record_length_bytes_stdev=0"],
                         capture_output=True, text=True, timeout=120)
    assert "2 ranks wrote 6 files" in gen.stdout, gen.stderr
    assert len(list((tmp_path / "d" / "unet3d" / "train").glob("*.npz"))) == 6
    manifest = json.loads((tmp_path / "d" / "unet3d" / "mlmeter_datagen.json").read_text())
    assert len(manifest["files"]) == 6  # rank 0 records what every rank wrote, as local datagen does
    ck = subprocess.run([*mpi, "checkpointing", "run", "--model", "llama3-8b", "--num-processes", "2",
                         "--checkpoint-folder", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r"),
                         "--num-checkpoints-write", "1", "--num-checkpoints-read", "1", "--param", "num_layers=1",
                         "hidden_size=128", "ffn_hidden_size=256", "num_attention_heads=4", "num_kv_heads=2",
                         "vocab_size=500", "time_between_checkpoints=0"], capture_output=True, text=True, timeout=120)
    (res,) = list((tmp_path / "r").rglob("result.json"))
    doc = body(res.parent)
    assert doc["num_processes"] == 2 and doc["complete"] and doc["save"] and doc["load"], ck.stderr


def test_reads_served_by_the_page_cache_are_measured(tmp_path):
    from mlmeter.storage.emulate import device_read_bytes

    if device_read_bytes() is None:
        pytest.skip("no /proc/self/io here")
    w, params, folder = _small_unet3d(tmp_path)  # just written: every file is in the page cache
    r = training_run(RunConfig(w, params, folder, tmp_path / "results", 1, 1.0))
    shares = r.document["page_cache"]["per_epoch"]
    assert len(shares) == 2 and all(s is not None and s > 0.5 for s in shares)
    assert any("came from the page cache" in x for x in r.document["warnings"])


def test_unet3d_training_checkpoints_are_written_and_timed(tmp_path):
    w, params, folder = _small_unet3d(tmp_path)
    extra = {"train.epochs": "3", "checkpoint.checkpoint_after_epoch": "2", "checkpoint.epochs_between_checkpoints": "1",
             "checkpoint.model_size_bytes": str(1 << 20), "checkpoint.checkpoint_folder": str(tmp_path / "ck")}
    w2 = w.with_params(extra)
    r = training_run(RunConfig(w2, {**params, **extra}, folder, tmp_path / "results", 2, 1.0))
    assert [c["epoch"] for c in r.document["checkpoints"]] == [2, 3]
    written = sorted((tmp_path / "ck").rglob("model_states-*.bin"))
    assert len(written) == 4 and all(p.stat().st_size == 1 << 20 for p in written)
    assert r.document["checkpoints"][0]["size_GiB"] == pytest.approx(2 / 1024)
