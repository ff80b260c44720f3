"""``mlmeter storage``: the mlpstorage v2.0 workflow (training datasize|datagen|run, checkpointing
datasize|run, report) with its flags' names and meanings."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlmeter.cli import options, repeat
from mlmeter.cli.options import open_meter
from mlmeter.cli.progress import Progress
from mlmeter.storage import launch
from mlmeter.storage.checkpointing import LLAMA3, checkpointing_mpi, checkpointing_run, llm_checkpoint
from mlmeter.storage.comm import under_mpirun
from mlmeter.storage.datagen import data_folder, generate
from mlmeter.storage.report import write_report
from mlmeter.storage.sizing import training_data_size
from mlmeter.storage.training import RunConfig, mpi_rank_main, training_run
from mlmeter.storage.workloads import ACCELERATORS, MODELS, parse_params, training_workload
from mlmeter.verdict import Verdict, exit_code

DEFAULT_RESULTS = Path(tempfile.gettempdir()) / "mlperf_storage_results"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", "-rd", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--param", "--params", "-p", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="workload overrides, e.g. dataset.num_files_train=3500")


def _hosts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hosts", "-s", nargs="+", default=["127.0.0.1"], help="hosts (host or host:slots)")


def _mpi(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("MPI (multi-host)")
    g.add_argument("--mpi-bin", choices=["mpirun", "mpiexec"], default="mpirun")
    g.add_argument("--oversubscribe", action="store_true")
    g.add_argument("--allow-run-as-root", action="store_true")
    g.add_argument("--bind-to", default="none", help="mpirun --bind-to (default none: ranks are not starved)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="storage_program", required=True)
    tr = sub.add_parser("training", help="emulated accelerators reading a training dataset")
    tsub = tr.add_subparsers(dest="storage_command", required=True)

    ds = tsub.add_parser("datasize", help="how many files a valid run needs")
    ds.add_argument("--model", "-m", required=True, choices=MODELS)
    ds.add_argument("--accelerator-type", "-g", required=True, choices=ACCELERATORS)
    ds.add_argument("--client-host-memory-in-gb", "-cm", type=options.number(0, 1e6), required=True, help="per host, in GiB")
    ds.add_argument("--max-accelerators", "-ma", type=options.whole(1, 1_000_000), required=True)
    ds.add_argument("--num-client-hosts", "-nc", type=options.whole(1, 100_000), default=None, help="default: the number of --hosts")
    ds.add_argument("--data-dir", "-dd", type=Path, default=None)
    _hosts(ds)
    _common(ds)
    ds.set_defaults(func=cmd_datasize)

    dg = tsub.add_parser("datagen", help="write the synthetic dataset")
    dg.add_argument("--model", "-m", required=True, choices=MODELS)
    dg.add_argument("--num-processes", "-np", type=options.whole(1, 4096), required=True)
    dg.add_argument("--data-dir", "-dd", type=Path, required=True)
    dg.add_argument("--fsync", action="store_true", help="fsync each file before it is renamed into place")
    dg.add_argument("--quiet", action="store_true")
    _hosts(dg)
    _common(dg)
    dg.set_defaults(func=cmd_datagen)

    rn = tsub.add_parser("run", help="run the emulated accelerators")
    rn.add_argument("--model", "-m", required=True, choices=MODELS)
    rn.add_argument("--accelerator-type", "-g", required=True, choices=ACCELERATORS)
    rn.add_argument("--num-accelerators", "-na", type=options.whole(1, 1_000_000), required=True)
    rn.add_argument("--client-host-memory-in-gb", "-cm", type=options.number(0, 1e6), required=True, help="per host, in GiB")
    rn.add_argument("--num-client-hosts", "-nc", type=options.whole(1, 100_000), default=None, help="default: the number of --hosts")
    rn.add_argument("--data-dir", "-dd", type=Path, required=True)
    rn.add_argument("--checkpoint-folder", "-cf", type=Path, default=None)
    grp = rn.add_mutually_exclusive_group()
    grp.add_argument("--closed", action="store_true", help="refuse to run unless the configuration is CLOSED")
    grp.add_argument("--open", action="store_true", help="allow OPEN overrides; refuse INVALID configurations")
    rn.add_argument("--allow-invalid-params", "-aip", action="store_true")
    rn.add_argument("--drop-caches", action="store_true", help="drop the page cache before the run (root)")
    options.add_repeat(rn, "--loops")  # --loops: the name of DLIO's and the MLPerf Storage tool's option
    options.add_power(rn, "the whole run (local runs)")
    rn.add_argument("--quiet", action="store_true")
    _hosts(rn)
    _mpi(rn)
    _common(rn)
    rn.set_defaults(func=cmd_run)

    ck = sub.add_parser("checkpointing", help="LLM checkpoint writes and reads")
    csub = ck.add_subparsers(dest="storage_command", required=True)
    for name, func in (("datasize", cmd_ckpt_datasize), ("run", cmd_ckpt_run)):
        c = csub.add_parser(name)
        c.add_argument("--model", "-m", required=True, choices=list(LLAMA3))
        c.add_argument("--num-processes", "-np", type=options.whole(1, 1_000_000), required=True)
        c.add_argument("--client-host-memory-in-gb", "-cm", type=options.number(0, 1e6), default=None)
        c.add_argument("--num-checkpoints-read", "-ncr", type=options.whole(0, 1_000_000), default=10)
        c.add_argument("--num-checkpoints-write", "-ncw", type=options.whole(0, 1_000_000), default=10)
        c.add_argument("--checkpoint-folder", "-cf", type=Path, required=name == "run")
        if name == "run":
            options.add_power(c, "the checkpoint writes and reads (local runs)")
            options.add_repeat(c)
            c.add_argument("--quiet", action="store_true", help="no progress lines")
        _hosts(c)
        _common(c)
        c.set_defaults(func=func)

    rp = sub.add_parser("report", help="summarise a results directory (warm-up + 5 runs per result)")
    rp.add_argument("--results-dir", "-rd", type=Path, default=DEFAULT_RESULTS)
    rp.set_defaults(func=cmd_report)


def cmd_datasize(a: argparse.Namespace) -> int:
    w = training_workload(a.model, a.accelerator_type).with_params(parse_params(a.param))
    hosts = launch.split_hosts(a.hosts)
    n_hosts = a.num_client_hosts or len(hosts)
    d = training_data_size(w, a.client_host_memory_in_gb, n_hosts, a.max_accelerators)
    why = ("Minimum file count dictated by dataset size to memory size ratio." if d.dominant == "memory" else
           "Minimum file count dictated by 500 step requirement of given accelerator count and batch size.")
    print(f"RESULT: {why}")
    print(f"RESULT: Number of training files: {d.num_files_train}")
    print("RESULT: Number of training subfolders: 0")
    print(f"RESULT: Total disk space required for training: {d.total_gib:.2f} GB")
    data_dir = a.data_dir or "<INSERT_DATA_DIR>"
    print(f"RESULT: mlmeter storage training datagen --hosts={','.join(hosts)} --model={a.model} "
          f"--param dataset.num_files_train={d.num_files_train} --num-processes={a.max_accelerators} "
          f"--results-dir={a.results_dir} --data-dir={data_dir}")
    print("WARNING: The parameter for --num-processes is the same as --max-accelerators. "
          "Adjust the value according to your system.")
    if d.num_files_train > 10000:
        print(f"WARNING: consider --param dataset.num_subfolders_train={d.num_files_train // 10000}")
    return 0


def cmd_datagen(a: argparse.Namespace) -> int:
    w = training_workload(a.model, "h100").with_params(parse_params(a.param))
    folder = data_folder(a.data_dir, a.model)
    if under_mpirun():
        return _datagen_mpi(w, folder, a.fsync)
    r = generate(w, folder, processes=a.num_processes, fsync=a.fsync, observer=Progress(enabled=not a.quiet))
    print(f"wrote {r.files_written} files ({r.bytes_written / 2**30:.2f} GiB, {r.mb_per_second:,.0f} MB/s), "
          f"kept {r.files_skipped} complete ones, in {folder}")
    return 0


def _datagen_mpi(w: Any, folder: Path, fsync: bool) -> int:
    """Under mpirun: every rank writes its files; rank 0 reports the totals."""
    from mlmeter.storage.comm import MpiComm
    from mlmeter.storage.datagen import generate_mpi

    comm = MpiComm()
    parts = generate_mpi(w, folder, comm, fsync=fsync)
    if parts is not None:
        print(f"{comm.size} ranks wrote {sum(p.files_written for p in parts)} files "
              f"({sum(p.bytes_written for p in parts) / 2**30:.2f} GiB), kept {sum(p.files_skipped for p in parts)} "
              f"complete ones, in {folder}")
    return 0


def _run_config(a: argparse.Namespace) -> RunConfig:
    params = parse_params(a.param)
    if a.checkpoint_folder is not None:
        params.setdefault("checkpoint.checkpoint_folder", str(a.checkpoint_folder))
    w = training_workload(a.model, a.accelerator_type).with_params(params)
    hosts = launch.split_hosts(a.hosts)
    return RunConfig(w, params, data_folder(a.data_dir, a.model), a.results_dir, a.num_accelerators,
                     a.client_host_memory_in_gb, a.num_client_hosts or len(hosts), tuple(hosts), a.closed, a.open,
                     a.allow_invalid_params)


def cmd_run(a: argparse.Namespace) -> int:
    cfg = _run_config(a)
    if under_mpirun():
        r = mpi_rank_main(cfg)
        if r is None:
            return 0
        print(describe(r.document, r.outdir))
        return exit_code([r.record.verdict]) if r.record is not None else 1
    if not launch.is_local(cfg.hosts):
        argv = list(sys.argv[1:])  # the same command, run by every rank under mpirun
        cmd = launch.mpirun_command(cfg.hosts, cfg.num_accelerators, argv, mpi_bin=a.mpi_bin, bind_to=a.bind_to,
                                    oversubscribe=a.oversubscribe, allow_run_as_root=a.allow_run_as_root,
                                    python=sys.executable)
        print("mlmeter: " + " ".join(cmd), file=sys.stderr)
        return launch.run_mpirun(cmd)
    meter = open_meter(a.power)
    verdicts = []

    def once(loop: int) -> list[tuple[str, Path]]:
        if a.drop_caches:
            launch.drop_caches()
        r = training_run(cfg, Progress(enabled=not a.quiet), meter)
        print(describe(r.document, r.outdir) + (f"\n  (run {loop + 1} of {a.repeat})" if a.repeat > 1 else ""))
        verdicts.append(r.record.verdict if r.record is not None else Verdict.INVALID)
        return [("", r.outdir)]

    repeat.repeated(a.repeat, once, lambda _k, runs: runs[0].parent / f"repeat-{runs[0].name}")
    return exit_code(verdicts)


def describe(doc: dict[str, Any], outdir: Path) -> str:
    lines = [f"storage training {doc['model']} ({doc['accelerator']}) x {doc['num_accelerators']}: "
             f"{doc['category']}" + ("" if doc["complete"] else " (a rank failed)")]
    if doc["au"] is not None:
        lines.append(f"  AU {doc['au']:.4f} % (threshold {doc['au_threshold']:g} %: "
                     f"{'pass' if doc['au_pass'] else 'FAIL'}), {doc['samples_per_second']:,.2f} samples/s, "
                     f"{doc['mb_per_second']:,.2f} MB/s")
    for r in doc["reasons"]:
        lines.append(f"  - {r}")
    for w in doc["warnings"]:
        lines.append(f"  warning: {w}")
    lines.append(f"  files: {outdir}")
    return "\n".join(lines)


def cmd_ckpt_datasize(a: argparse.Namespace) -> int:
    c = llm_checkpoint(a.model, parse_params(a.param))
    n = a.num_processes
    for r in range(n):
        print(f"RESULT: Rank {r}: {sum(c.rank_bytes(r)) / 2**30:.2f} GB")
    print(f"RESULT: Total GB required for all ranks: {c.total_bytes(n) / 2**30:.2f}")
    if n < c.world:
        print(f"WARNING: {n} of the {c.world} ranks of the CLOSED configuration: a subset run writes "
              f"{c.total_bytes(n) / 2**30:.2f} of {c.total_bytes() / 2**30:.2f} GB")
    return 0


def cmd_ckpt_run(a: argparse.Namespace) -> int:
    params = parse_params(a.param)
    params.setdefault("num_checkpoints_read", str(a.num_checkpoints_read))
    params.setdefault("num_checkpoints_write", str(a.num_checkpoints_write))
    c = llm_checkpoint(a.model, params)
    if under_mpirun():
        mpi_doc = checkpointing_mpi(c, a.checkpoint_folder, a.results_dir)
        if mpi_doc is None:
            return 0
        _describe_checkpointing(mpi_doc, a.num_processes)
        return exit_code([Verdict(mpi_doc["verdict"])])
    meter = open_meter(a.power)
    verdicts = []

    def once(_i: int) -> list[tuple[str, Path]]:
        doc = checkpointing_run(c, a.num_processes, a.checkpoint_folder, a.results_dir, meter,
                                Progress(enabled=not a.quiet))
        _describe_checkpointing(doc, a.num_processes)
        verdicts.append(Verdict(doc["verdict"]))
        return [("", Path(doc["outdir"]))]

    repeat.repeated(a.repeat, once, lambda _k, runs: runs[0].parent / f"repeat-{runs[0].name}")
    return exit_code(verdicts)


def _describe_checkpointing(doc: dict[str, Any], processes: int) -> None:
    print(f"storage checkpointing {doc['model']} x {processes}: {doc['category']}, "
          f"{doc['checkpoint_size_GiB']:.3f} GiB per checkpoint")
    for kind in ("save", "load"):
        s = doc[kind]
        if s:
            print(f"  {kind}: {s['duration_mean_s']:.3f} s (slowest rank), {s['throughput_mean_GiB_per_s']:.3f} GiB/s")
    for f in doc["failures"]:
        print(f"  - {f}")
    print(f"  files: {doc['outdir']}")


def cmd_report(a: argparse.Namespace) -> int:
    js, cs, report = write_report(a.results_dir)
    for g in report:
        head = f"{g['benchmark']} {g['model']}: {g['category']}, {g['num_runs']} run(s)"
        if g["benchmark"] == "training" and g["samples_per_second_mean"] is not None:
            head += (f", {g['samples_per_second_mean']:,.2f} ± {g['samples_per_second_stdev']:,.2f} samples/s, "
                     f"{g['mb_per_second_mean']:,.2f} MB/s")
        print(head)
        for issue in g.get("issues", []):
            print(f"  - {issue}")
    print(f"written: {js}, {cs}")
    return 0
