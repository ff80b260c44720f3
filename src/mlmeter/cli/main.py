"""``mlmeter`` entry point: the subcommands, error mapping and exit codes.

Each subcommand is a module of ``mlmeter.cli`` (arguments, then one library entry point, then rendering).
Exit codes: 0 the run completed VALID (or had nothing to judge), 1 it completed INVALID, 2 bad input (a flag,
a config file, a path, a model or data file: one line says what and what to do), 3 an internal error (a bug:
one line and the path of the saved traceback), 130 interrupted (files written, result marked incomplete).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

from mlmeter import __version__
from mlmeter.cli import (
    dataset_cmd,
    infer_cmd,
    knobs,
    loadgen_cmd,
    report_cmd,
    run_cmd,
    runs_cmd,
    serve_cmd,
    storage_cmd,
    submission_cmd,
    sysinfo_cmd,
    train_cmd,
)
from mlmeter.cli.crash import save_traceback
from mlmeter.errors import MlmeterError, described_os_error
from mlmeter.loadgen import RunInterrupted, SettingsError

EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what is wrong and where the help is), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


_COMMANDS = (
    ("run", run_cmd, "the embedded default benchmark: runs offline, with real accuracy"),
    ("infer", infer_cmd, "benchmark a model on a backend in MLPerf scenarios (run_local.sh)"),
    ("runs", runs_cmd, "the local index of run directories (list, show, rm, add, rebuild)"),
    ("report", report_cmd, "a self-contained HTML report (or JSON/CSV/Markdown) of run directories"),
    ("compare", report_cmd, "two runs side by side: differences, 95%% intervals, what differs"),
    ("sysinfo", sysinfo_cmd, "describe this machine (as recorded in every result.json)"),
    ("dataset", dataset_cmd, "make datasets"),
    ("train", train_cmd, "time-to-train runs, MLLOG scoring, compliance rules"),
    ("storage", storage_cmd, "MLPerf Storage: dataset sizing, datagen, emulated accelerators, checkpoints"),
    ("loadgen", loadgen_cmd, "run the LoadGen against a simulated SUT and explain the verdict"),
    ("serve", serve_cmd, "benchmark an OpenAI-compatible server under MLPerf's rules (serve mock: a mock server)"),
    ("submission", submission_cmd, "MLPerf submission: pack runs as the results tree, check it, its results table"),
)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mlmeter", description="MLPerf-faithful benchmarking of ML systems.")
    p.add_argument("--version", action="version", version=f"mlmeter {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, module, text in _COMMANDS:
        sp = sub.add_parser(name, help=text)
        if name == "report":
            report_cmd.add_report_arguments(sp)
        elif name == "compare":
            report_cmd.add_compare_arguments(sp)
        else:
            module.add_arguments(sp)  # type: ignore[attr-defined]
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    a.command_line = shlex.join(["mlmeter", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(a.func(a))
    except MlmeterError as exc:
        text = " ".join(line.strip() for line in str(exc).splitlines())
        print(f"mlmeter: {knobs.name_flags(text) if isinstance(exc, SettingsError) else text}", file=sys.stderr)
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
