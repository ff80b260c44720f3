"""``mlmeter`` entry point: subcommands, error mapping and exit codes.

Exit codes: 0 the run completed VALID, 1 it completed INVALID, 2 bad input (a flag, a config file, a path,
a model or data file: one line says what and what to do), 3 an internal error (a bug: one line and the path
of the saved traceback), 130 interrupted (files written, result marked incomplete).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from mlmeter import __version__
from mlmeter.cli import infer_cmd, loadgen_cmd, options, repeat, report_cmd, runs_cmd, storage_cmd, train_cmd
from mlmeter.cli.crash import save_traceback
from mlmeter.cli.progress import Progress
from mlmeter.errors import MlmeterError, described_os_error
from mlmeter.inference import InferConfig, ScenarioOutcome, prepare, run_inference, run_scenario
from mlmeter.loadgen import RunInterrupted, TestResult, TestScenario
from mlmeter.report import load_runs, render
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import fresh_directory
from mlmeter.workloads.fake_imagenet import make_fake_imagenet

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _exit_code(r: TestResult) -> int:
    return EXIT_VALID if r.valid in (True, None) else EXIT_INVALID


def cmd_loadgen(a: argparse.Namespace) -> int:
    if a.repeat == 1:
        r, outdir = loadgen_cmd.run(a)
        repeat.finish([outdir])
        print(loadgen_cmd.describe(r))
        return _exit_code(r)
    base = Path(a.output) if a.output else loadgen_cmd.default_outdir(f"loadgen-{a.scenario}-{a.mode}")
    members, worst = [], EXIT_VALID
    for i in range(a.repeat):
        r, outdir = loadgen_cmd.run(argparse.Namespace(**{**vars(a), "output": base / f"repeat-{i + 1}"}))
        members.append(outdir)
        print(loadgen_cmd.describe(r))
        worst = max(worst, _exit_code(r))
    repeat.finish(members, {base: members})
    return worst


def cmd_infer(a: argparse.Namespace) -> int:
    cfg = infer_cmd.build_config(a)
    progress = Progress(enabled=not a.quiet)
    if a.repeat == 1:
        outcomes = run_inference(cfg, progress)
        repeat.finish([o.outdir for o in outcomes])
    else:
        outcomes = _repeat_inference(cfg, a.repeat, progress)
    print(infer_cmd.table(outcomes))
    print(f"files: {outcomes[0].outdir.parent.parent}")
    return EXIT_VALID if all(o.verdict == "VALID" for o in outcomes) else EXIT_INVALID


def _repeat_inference(cfg: InferConfig, n: int, progress: Progress) -> list[ScenarioOutcome]:
    """Load and pre-process once, then run every scenario ``n`` times; one summary per scenario."""
    base = cfg.output or Path("output") / f"{cfg.backend}-{cfg.device}" / cfg.model
    p = prepare(cfg, progress)
    outcomes: list[ScenarioOutcome] = []
    try:
        for i in range(n):
            p.cfg = dataclasses.replace(cfg, output=base / f"repeat-{i + 1}")
            outcomes += [run_scenario(p, sc, progress) for sc in cfg.scenarios]
    finally:
        p.close()
    groups = {base / "repeat" / sc.name / cfg.mode: [o.outdir for o in outcomes if o.scenario == sc]
              for sc in cfg.scenarios}
    repeat.finish([o.outdir for o in outcomes], groups)
    return outcomes


def cmd_run(a: argparse.Namespace) -> int:
    """The embedded default: the digits MLP on ONNX Runtime CPU, FP32 and INT8, performance and accuracy."""
    base = fresh_directory(a.output or Path("output") / "onnxruntime-cpu", given=a.output is not None,
                           overwrite=a.overwrite)
    print(f"mlmeter {__version__}: embedded default -- handwritten digits, 64-48-10 MLP, ONNX Runtime CPU")
    progress = Progress(enabled=not a.quiet)
    outcomes: list[ScenarioOutcome] = []
    plan = (("digits", (TestScenario.Offline, TestScenario.SingleStream, TestScenario.Server)),
            ("digits-int8", (TestScenario.Offline,)))
    for model, scenarios in plan:
        # A 100 ms Server bound: the model takes microseconds, but a small VM's timer hiccups do not.
        cfg = InferConfig(backend="onnxruntime", model=model, scenarios=scenarios, duration_s=a.seconds,
                          max_latency_s=0.1, auto_targets=True, output=base / model, max_batchsize=32,
                          power=("auto",))
        p = prepare(cfg, progress)
        try:
            for sc in scenarios:
                outcomes.append(run_scenario(p, sc, progress))
            p.cfg = dataclasses.replace(cfg, mode="accuracy")
            outcomes.append(run_scenario(p, TestScenario.Offline, progress))
        finally:
            p.close()
    repeat.finish([o.outdir for o in outcomes])
    print(infer_cmd.table(outcomes))
    page = base / "report.html"
    write_text(page, render(load_runs([o.outdir for o in outcomes])))
    print(f"files: {base}\nreport: {page} (open it in a browser)")
    return EXIT_VALID if all(o.verdict == "VALID" for o in outcomes) else EXIT_INVALID


def cmd_sysinfo(a: argparse.Namespace) -> int:
    import json

    from mlmeter.system import describe_host

    if a.path is not None and not Path(a.path).exists():
        raise MlmeterError(f"--path {a.path}: no such file or directory")
    d = describe_host(a.path)
    if a.json:
        print(json.dumps(d, indent=2))
        return EXIT_VALID
    cpu = d["cpu"]
    print(f"host      {d['hostname']}  ({', '.join(d['virtualization']['hints']) or 'bare metal or undetected'})")
    print(f"cpu       {cpu['model']}: {cpu['sockets']} socket(s), {cpu['physical_cores']} cores, "
          f"{cpu['logical_cpus']} threads ({cpu['usable_cpus']} usable), {cpu['max_mhz'] or '?'} MHz")
    print(f"          caches {', '.join(cpu['caches']) or '?'}; flags {' '.join(cpu['flags'])}")
    print(f"memory    {(d['memory_bytes'] or 0) / 2**30:.1f} GiB")
    print(f"os        {d['operating_system']['distribution'] or ''} (kernel {d['operating_system']['kernel']})")
    accel = d["accelerators"]
    print(f"accel     {', '.join(x['name'] for x in accel) if accel else 'none visible'}")
    if "storage" in d:
        st = d["storage"]
        print(f"storage   {st['path']}: {st.get('filesystem')} on {st.get('device', st.get('source'))}"
              f"{' (rotational)' if st.get('rotational') else ''}")
    sw = d["software"]
    print(f"software  mlmeter {sw['mlmeter']} ({(sw['mlmeter_git_commit'] or 'no git')[:12]}), {sw['python']}; "
          + ", ".join(f"{k} {v}" for k, v in sw["packages"].items()))
    return EXIT_VALID


def cmd_fake_imagenet(a: argparse.Namespace) -> int:
    listed = make_fake_imagenet(a.directory, a.count, seed=a.seed)
    print(f"wrote {listed} images and val_map.txt to {a.directory}")
    return EXIT_VALID


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what is wrong and where the help is), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mlmeter", description="MLPerf-faithful benchmarking of ML systems.")
    p.add_argument("--version", action="version", version=f"mlmeter {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the embedded default benchmark: runs offline, with real accuracy")
    r.add_argument("--seconds", type=float, default=10, help="duration of each performance run (default 10)")
    r.add_argument("--output", type=Path, default=None, help="base directory (default output/onnxruntime-cpu)")
    options.add_overwrite(r)
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(func=cmd_run)
    inf = sub.add_parser("infer", help="benchmark a model on a backend in MLPerf scenarios (run_local.sh)")
    infer_cmd.add_arguments(inf)
    inf.set_defaults(func=cmd_infer)
    rn = sub.add_parser("runs", help="the local index of run directories (list, show, rm, add, rebuild)")
    runs_cmd.add_arguments(rn)
    rp = sub.add_parser("report", help="a self-contained HTML report (or JSON/CSV/Markdown) of run directories")
    report_cmd.add_report_arguments(rp)
    rp.set_defaults(func=report_cmd.cmd_report)
    cp = sub.add_parser("compare", help="two runs side by side: differences, 95%% intervals, what differs")
    report_cmd.add_compare_arguments(cp)
    cp.set_defaults(func=report_cmd.cmd_compare)
    si = sub.add_parser("sysinfo", help="describe this machine (as recorded in every result.json)")
    si.add_argument("--json", action="store_true", help="the full description, with the MLPerf system fields")
    si.add_argument("--path", default=None, help="also describe the storage holding this path")
    si.set_defaults(func=cmd_sysinfo)
    ds = sub.add_parser("dataset", help="make datasets")
    dsub = ds.add_subparsers(dest="dataset_command", required=True)
    fi = dsub.add_parser("fake-imagenet", help="an ImageNet-layout directory of generated JPEG images")
    fi.add_argument("directory", type=Path)
    fi.add_argument("--count", type=options.whole(1, 10_000_000), default=8)
    fi.add_argument("--seed", type=int, default=0)
    fi.set_defaults(func=cmd_fake_imagenet)
    tr = sub.add_parser("train", help="time-to-train runs, MLLOG scoring, compliance rules")
    train_cmd.add_arguments(tr)
    st = sub.add_parser("storage", help="MLPerf Storage: dataset sizing, datagen, emulated accelerators, checkpoints")
    storage_cmd.add_arguments(st)
    lg = sub.add_parser("loadgen", help="run the LoadGen against a simulated SUT and explain the verdict")
    loadgen_cmd.add_arguments(lg)
    lg.set_defaults(func=cmd_loadgen)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return int(a.func(a))
    except MlmeterError as exc:
        print(f"mlmeter: {' '.join(line.strip() for line in str(exc).splitlines())}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a path the user gave: missing, not a directory, not writable, disk full
        print(f"mlmeter: {described_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except RunInterrupted as exc:
        print(loadgen_cmd.describe(exc.result), file=sys.stderr)
        print("mlmeter: interrupted; the files hold what was measured.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("mlmeter: interrupted; what was finished is kept, the rest is marked incomplete.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 -- a bug in mlmeter: one line, the traceback in a file
        print(f"mlmeter: internal error ({exc.__class__.__name__}: {exc}); this is a bug in mlmeter. "
              f"The traceback is in {save_traceback(exc)}; please report it.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
