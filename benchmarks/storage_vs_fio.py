"""Read throughput: mlmeter's emulated accelerators (compute time 0) against fio on the same files.

Both read the same generated npz files once per pass, with the same request size and the same parallelism
(mlmeter: ``reader.read_threads`` workers of one accelerator; fio: that many jobs, each reading its share of the
files sequentially). Each pass is preceded by dropping the page cache when that is permitted (root), so both read
from the device; the warm (cached) figures are printed too. Target: mlmeter ≥ 90 % of fio. Usage::

    python benchmarks/storage_vs_fio.py                  # 48 files of ~24 MiB, 4 threads, 1 MiB requests
    python benchmarks/storage_vs_fio.py --files 96 --threads 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from mlmeter.storage.datagen import data_folder, generate
from mlmeter.storage.launch import drop_caches
from mlmeter.storage.training import RunConfig, training_run
from mlmeter.storage.workloads import StorageConfigError, training_workload


def try_drop() -> bool:
    try:
        drop_caches()
        return True
    except StorageConfigError:
        return False


def fio_mb_per_s(files: list[Path], threads: int, bs: int) -> float:
    jobs = []
    for k in range(threads):
        mine = files[k::threads]
        jobs.append(f"[r{k}]\nfilename={':'.join(str(p) for p in mine)}\nfile_service_type=sequential\n"
                    f"size={sum(p.stat().st_size for p in mine)}\n")
    job = "[global]\nrw=read\nioengine=psync\ninvalidate=0\n" + f"bs={bs}\ngroup_reporting=1\n" + "".join(jobs)
    out = subprocess.run(["fio", "--output-format=json", "-"], input=job, capture_output=True, text=True, check=True)
    read = json.loads(out.stdout)["jobs"][0]["read"]
    return float(read["io_bytes"]) / 2**20 / (float(read["runtime"]) / 1000)


def mlmeter_mb_per_s(w, params, folder: Path, results: Path) -> float:  # type: ignore[no-untyped-def]
    r = training_run(RunConfig(w, params, folder, results, 1, 1.0))
    epochs = json.loads((r.outdir / "0_output.json").read_text())["epochs"]
    return sum(e["bytes_read"] for e in epochs) / 2**20 / sum(e["wall"] for e in epochs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=48)
    ap.add_argument("--record-mib", type=float, default=24)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--bs", type=int, default=1 << 20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    a = ap.parse_args()
    if shutil.which("fio") is None:
        raise SystemExit("fio not found: apt-get install fio")
    work = a.dir or Path(tempfile.mkdtemp(prefix="mlmeter-fio-"))
    rec = int(a.record_mib * 2**20)
    params = {"dataset.num_files_train": str(a.files), "dataset.record_length_bytes": str(rec),
              "dataset.record_length_bytes_stdev": "0", "reader.read_threads": str(a.threads),
              "reader.batch_size": "1", "reader.transfer_size": str(a.bs), "train.computation_time": "0",
              "train.epochs": "1", "reader.prefetch_size": str(2 * a.threads)}
    w = training_workload("unet3d", "h100").with_params(params)
    folder = data_folder(work / "data", "unet3d")
    generate(w, folder, processes=2)
    files = sorted((folder / "train").glob("*.npz"))
    cold = try_drop()
    rows: dict[str, list[float]] = {"fio": [], "mlmeter": []}
    for _ in range(a.rounds):
        for name in ("fio", "mlmeter"):
            if cold:
                drop_caches()
            rows[name].append(fio_mb_per_s(files, a.threads, a.bs) if name == "fio"
                              else mlmeter_mb_per_s(w, params, folder, work / "results"))
            print(f"  {name}: {rows[name][-1]:,.0f} MiB/s", flush=True)
    warm = {"fio": fio_mb_per_s(files, a.threads, a.bs), "mlmeter": mlmeter_mb_per_s(w, params, folder, work / "r2")}
    f, m = statistics.median(rows["fio"]), statistics.median(rows["mlmeter"])
    total = sum(p.stat().st_size for p in files) / 2**20
    print(f"\n{len(files)} files, {total:,.0f} MiB, {a.threads} threads, {a.bs // 1024} KiB requests, "
          f"{'page cache dropped before each pass' if cold else 'page cache NOT dropped (not root)'}")
    print(f"fio      : {f:10,.0f} MiB/s   (warm {warm['fio']:,.0f})")
    print(f"mlmeter  : {m:10,.0f} MiB/s   (warm {warm['mlmeter']:,.0f})")
    print(f"ratio    : {m / f:10.3f}   (target >= 0.90; warm {warm['mlmeter'] / warm['fio']:.3f})")


if __name__ == "__main__":
    main()
