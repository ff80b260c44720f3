"""Side by side with the official DLIO (``dlio-benchmark`` from PyPI, in a scratch virtual environment that
this script creates): data generation MB/s, then AU and samples/s of the same training config on the same
files, and the two install sizes.

The PyPI wheel declares CUDA-only dependencies (DALI, torchvision); the script installs it without them,
with what DLIO imports for the npz/PyTorch path: its own small dependencies, PyTorch (the CPU build on this
machine) and ``tensorflow-cpu``. Usage::

    python benchmarks/storage_vs_dlio.py                      # 56 files of ~8 MiB, unet3d h100, 3 epochs
    python benchmarks/storage_vs_dlio.py --venv /tmp/dlio/venv --files 112
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path

from mlmeter.storage.datagen import data_folder, generate
from mlmeter.storage.training import RunConfig, training_run
from mlmeter.storage.workloads import training_workload

DLIO_DEPS = ["hydra-core", "omegaconf", "pandas", "psutil", "h5py", "mpi4py", "pydftracer==1.0.2", "Pillow", "PyYAML",
             "numpy", "torch==2.13.0", "tensorflow-cpu"]


def ensure_dlio(venv: Path) -> Path:
    exe = venv / "bin" / "dlio_benchmark"
    if exe.exists():
        return exe
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q"]
    subprocess.run([*pip, *DLIO_DEPS], check=True)
    subprocess.run([*pip, "--no-deps", "dlio-benchmark==2.0.0"], check=True)
    return exe


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mlmeter_install_bytes() -> int:
    """Installed size of mlmeter[storage]'s runtime: mlmeter, numpy and crc32c."""
    total = 0
    for dist in ("mlmeter", "numpy", "crc32c"):
        for f in metadata.distribution(dist).files or []:
            p = Path(str(f.locate()))
            if p.is_file():
                total += p.stat().st_size
    return total


def dlio_args(folder: Path, a: argparse.Namespace, extra: list[str]) -> list[str]:
    return ["workload=unet3d_h100", f"++workload.dataset.data_folder={folder}",
            f"++workload.dataset.num_files_train={a.files}",
            f"++workload.dataset.record_length={a.record}", f"++workload.dataset.record_length_stdev={a.stdev}",
            "++workload.workflow.checkpoint=False", f"++workload.train.epochs={a.epochs}", *extra]


def run_dlio(exe: Path, args: list[str], cwd: Path) -> float:
    """Run DLIO under mpirun; returns the process wall time in seconds."""
    cwd.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["mpirun", "-n", "1", "--allow-run-as-root", "--bind-to", "none", str(exe), *args,
                    f"++hydra.run.dir={cwd}"], cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def generation_seconds(log: Path) -> float:
    """DLIO's own generation time: from "Starting data generation" to "Generation done" in dlio.log."""
    stamps = {}
    for line in log.read_text().splitlines():
        for key in ("Starting data generation", "Generation done"):
            if key in line:
                stamps[key] = datetime.fromisoformat(re.search(r"\d{4}-\d\d-\d\dT[\d:.]+", line).group(0))  # type: ignore[union-attr]
    return (stamps["Generation done"] - stamps["Starting data generation"]).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "mlmeter-dlio-venv")
    ap.add_argument("--files", type=int, default=56)
    ap.add_argument("--record", type=int, default=8 << 20)
    ap.add_argument("--stdev", type=int, default=2 << 20)
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    exe = ensure_dlio(a.venv)
    work = Path(tempfile.mkdtemp(prefix="mlmeter-vs-dlio-"))
    params = {"dataset.num_files_train": str(a.files), "dataset.record_length_bytes": str(a.record),
              "dataset.record_length_bytes_stdev": str(a.stdev), "train.epochs": str(a.epochs)}
    w = training_workload("unet3d", "h100").with_params(params)

    # 1. data generation, one process each
    dlio_wall = run_dlio(exe, dlio_args(work / "dlio-data", a, ["++workload.workflow.generate_data=True",
                                                               "++workload.workflow.train=False"]), work / "dlio-gen")
    dlio_gen = generation_seconds(work / "dlio-gen" / "dlio.log")
    dlio_files = sorted((work / "dlio-data" / "train").glob("*.npz"))
    r = generate(w, data_folder(work / "data", "unet3d"), processes=1)
    ours = sorted((work / "data" / "unet3d" / "train").glob("*.npz"))
    same_sizes = [p.stat().st_size for p in ours] == [p.stat().st_size for p in dlio_files]
    dlio_bytes = sum(p.stat().st_size for p in dlio_files)

    # 2. the same training config on the same (mlmeter-generated) files
    run_dlio(exe, dlio_args(work / "data" / "unet3d", a, []), work / "dlio-run")
    dlio_metric = json.loads((work / "dlio-run" / "summary.json").read_text())["metric"]
    res = training_run(RunConfig(w, params, data_folder(work / "data", "unet3d"), work / "results", 1, 1.0))

    print(f"\nunet3d h100, {a.files} files (~{a.record >> 20} MiB ± {a.stdev >> 20}), 1 accelerator, {a.epochs} epochs")
    print(f"file names and sizes identical to DLIO's: {same_sizes}")
    print(f"datagen  : DLIO {dlio_bytes / 2**20 / dlio_gen:8.1f} MiB/s (its logged generation time; "
          f"{dlio_wall:.1f} s with start-up)   mlmeter {r.mb_per_second:8.1f} MiB/s   "
          f"ratio {r.mb_per_second / (dlio_bytes / 2**20 / dlio_gen):.2f} (target >= 2)")
    d_au, d_sps = dlio_metric["train_au_mean_percentage"], dlio_metric["train_throughput_mean_samples_per_second"]
    m_au, m_sps = res.document["au"], res.document["samples_per_second"]
    print(f"AU       : DLIO {d_au:8.3f} %   mlmeter {m_au:8.3f} %   difference {m_au - d_au:+.3f} pp (target ±2)")
    print(f"samples/s: DLIO {d_sps:8.3f}     mlmeter {m_sps:8.3f}     ratio {m_sps / d_sps:.3f} (target 0.95–1.05)")
    print(f"install  : DLIO venv {du(a.venv) / 2**30:.2f} GiB   mlmeter[storage] {mlmeter_install_bytes() / 2**20:.1f} MiB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
