"""``mlmeter run``: the embedded default benchmark, its table and its HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlmeter import __version__
from mlmeter.cli import infer_cmd, options, repeat
from mlmeter.cli.progress import Progress
from mlmeter.inference.default import run_default
from mlmeter.report import load_runs, render
from mlmeter.util.atomic import write_text
from mlmeter.util.rundir import fresh_directory
from mlmeter.verdict import exit_code


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("--seconds", type=options.number(0, 86_400), default=10,
                   help="duration of each performance run (default 10)")
    r.add_argument("--output", type=Path, default=None, help="base directory (default output/onnxruntime-cpu)")
    options.add_overwrite(r)
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(func=cmd_run)


def cmd_run(a: argparse.Namespace) -> int:
    base = fresh_directory(a.output or Path("output") / "onnxruntime-cpu", given=a.output is not None,
                           overwrite=a.overwrite)
    print(f"mlmeter {__version__}: embedded default -- handwritten digits, 64-48-10 MLP, ONNX Runtime CPU")
    outcomes = run_default(base, a.seconds, Progress(enabled=not a.quiet))
    repeat.register_runs([o.outdir for o in outcomes])
    print(infer_cmd.table(outcomes))
    page = base / "report.html"
    write_text(page, render(load_runs([o.outdir for o in outcomes])))
    print(f"files: {base}\nreport: {page} (open it in a browser)")
    return exit_code(o.record.verdict for o in outcomes)
