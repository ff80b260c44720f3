"""``mlmeter`` entry point: subcommands, error mapping and exit codes.

Exit codes: 0 the run completed VALID (or was an accuracy run), 1 it completed INVALID, 2 bad input
(settings or config files), 130 interrupted (files written, result marked incomplete).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlmeter import __version__
from mlmeter.cli import loadgen_cmd
from mlmeter.loadgen import ConfigError, RunInterrupted, SettingsError, TestResult

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _exit_code(r: TestResult) -> int:
    return EXIT_VALID if r.valid in (True, None) else EXIT_INVALID


def cmd_loadgen(a: argparse.Namespace) -> int:
    r = loadgen_cmd.run(a)
    print(loadgen_cmd.describe(r))
    return _exit_code(r)


def cmd_run(a: argparse.Namespace) -> int:
    """The embedded default: the four scenarios against a simulated 2 ms SUT, a few seconds each."""
    parser = argparse.ArgumentParser()
    loadgen_cmd.add_arguments(parser)
    worst = EXIT_VALID
    base = a.output or str(loadgen_cmd.default_outdir("run"))
    print(f"mlmeter {__version__}: LoadGen demo, simulated SUT (lognormal, mean 2 ms, 4 workers) -> {base}")
    for sc, extra in (
        ("SingleStream", ["--expected-latency-ns", "1000000"]),
        ("MultiStream", ["--expected-latency-ns", "8000000", "--min-query-count", "662"]),
        ("Server", ["--qps", "1000", "--target-latency-ms", "100"]),
        ("Offline", ["--qps", "2000"]),
    ):
        args = parser.parse_args(
            ["--scenario", sc, "--sut", "lognormal", "--latency-ms", "2", "--sigma", "0.3", "--workers",
             "4" if sc in ("Server", "Offline") else "1", "--min-duration-ms", str(a.seconds * 1000),
             "--output", f"{base}/{sc}", "--quiet", *extra]
        )
        if sc == "MultiStream":
            args.latency_ms = 0.5
        r = loadgen_cmd.run(args)
        print(loadgen_cmd.describe(r))
        worst = max(worst, _exit_code(r))
    return worst


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlmeter", description="MLPerf-faithful benchmarking of ML systems.")
    p.add_argument("--version", action="version", version=f"mlmeter {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the embedded default benchmark (LoadGen demo for now)")
    r.add_argument("--seconds", type=int, default=2, help="minimum duration of each scenario")
    r.add_argument("--output", default=None)
    r.set_defaults(func=cmd_run)
    lg = sub.add_parser("loadgen", help="run the LoadGen against a simulated SUT and explain the verdict")
    loadgen_cmd.add_arguments(lg)
    lg.set_defaults(func=cmd_loadgen)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return int(a.func(a))
    except (SettingsError, ConfigError) as exc:
        print(f"mlmeter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunInterrupted as exc:
        print(loadgen_cmd.describe(exc.result), file=sys.stderr)
        print("mlmeter: interrupted; the files hold what was measured.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
