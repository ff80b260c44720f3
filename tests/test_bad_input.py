"""Bad input on every subcommand: a clear one-line error and exit code 2, never a traceback, a silent wrong
result, a hang or a lost file.

Each case is a command line; ``{name}`` stands for a fixture path (see ``world``). Every case asserts the exit
code, that no traceback reached the user, that the last line names the problem, and that the protected files
(an earlier run, a dataset, the run store) are byte for byte unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import threading
from pathlib import Path

import pytest

from mlmeter.cli.main import main

LG = "loadgen --sut null --quiet --min-duration-ms 0 --min-query-count 64 --total-samples 16 --perf-samples 16"
INF = "infer --backend onnxruntime --model digits --quiet --duration 0.01"

CASES: list[tuple[str, int]] = [
    # loadgen: paths
    (f"{LG} --output {{file}}", 2),
    (f"{LG} --output {{file}}/sub", 2),
    (f"{LG} --output {{run}}", 2),
    # loadgen: numbers
    ("loadgen --sut null --quiet --qps 1e300 --scenario Offline", 2),
    (f"{LG} --qps 0 --scenario Server", 2),
    (f"{LG} --qps -1 --scenario Server", 2),
    (f"{LG} --qps nan --scenario Offline", 2),
    (f"{LG} --qps inf --scenario Server", 2),
    (f"{LG} --qps abc", 2),
    (f"{LG} --min-query-count 99999999999", 2),
    (f"{LG} --min-query-count -1", 2),
    (f"{LG} --max-query-count -5", 2),
    ("loadgen --sut fixed --latency-ms 0 --quiet", 2),
    ("loadgen --sut fixed --latency-ms -1 --quiet", 2),
    ("loadgen --sut lognormal --latency-ms nan --quiet", 2),
    ("loadgen --sut fixed --latency-ms inf --quiet", 2),
    ("loadgen --sut fixed --latency-ms 1e12 --quiet", 2),
    ("loadgen --sut lognormal --sigma -1 --quiet", 2),
    ("loadgen --sut lognormal --sigma nan --quiet", 2),
    (f"{LG} --workers 0", 2),
    (f"{LG} --workers -1", 2),
    (f"{LG} --workers 1000000", 2),
    (f"{LG} --scenario Server --tokens -1", 2),
    (f"{LG} --scenario Server --tokens 1000000000", 2),
    ("loadgen --sut null --quiet --total-samples 0", 2),
    ("loadgen --sut null --quiet --total-samples -1", 2),
    ("loadgen --sut null --quiet --total-samples 1000000000000", 2),
    ("loadgen --sut null --quiet --perf-samples 0", 2),
    ("loadgen --sut null --quiet --total-samples 10 --perf-samples 20", 2),
    (f"{LG} --scenario Server --target-latency-ms 0", 2),
    (f"{LG} --scenario Server --target-latency-ms -1", 2),
    (f"{LG} --scenario Server --target-latency-ms nan", 2),
    (f"{LG} --percentile 0", 2),
    (f"{LG} --percentile 1", 2),
    (f"{LG} --percentile 1.5", 2),
    (f"{LG} --percentile nan", 2),
    (f"{LG} --scenario MultiStream --samples-per-query 0", 2),
    (f"{LG} --scenario MultiStream --samples-per-query -1", 2),
    (f"{LG} --min-duration-ms -1", 2),
    (f"{LG} --min-duration-ms 1000000000000000", 2),
    (f"{LG} --max-duration-ms -1", 2),
    (f"{LG} --scenario Server --max-async-queries -1", 2),
    (f"{LG} --accuracy-log-probability -0.1", 2),
    (f"{LG} --accuracy-log-probability 1.5", 2),
    (f"{LG} --accuracy-log-probability nan", 2),
    (f"{LG} --completion-timeout-s 0", 2),
    (f"{LG} --completion-timeout-s -1", 2),
    (f"{LG} --completion-timeout-s nan", 2),
    (f"{LG} --expected-latency-ns 0", 2),
    (f"{LG} --expected-latency-ns -1", 2),
    (f"{LG} --expected-latency-ns nan", 2),
    # loadgen: config files and names
    (f"{LG} --user-conf {{missing}}", 2),
    (f"{LG} --user-conf {{emptydir}}", 2),
    (f"{LG} --user-conf {{badconf}}", 2),
    (f"{LG} --user-conf {{binary}}", 2),
    (f"{LG} --model no-such-model", 2),
    (f"{LG} --scenario Bogus", 2),
    (f"{LG} --scenario Offline --mode find-peak", 2),
    (f"{LG} --mode bogus", 2),
    (f"{LG} --repeat 0", 2),
    (f"{LG} --repeat -1", 2),
    (f"{LG} --repeat x", 2),
    (f"{LG} --power bogus", 2),
    (f"{LG} --power ptd://127.0.0.1:x", 2),
    (f"{LG} --power ptd://", 2),
    (f"{LG} --sut bogus", 2),
    # infer
    ("infer --backend bogus --model digits", 2),
    ("infer --backend onnxruntime --model bogus", 2),
    (f"{INF} --scenario Bogus", 2),
    (f"{INF} --scenario ,", 2),
    (f"{INF} --mode bogus", 2),
    (f"{INF} --count 0", 2),
    (f"{INF} --count -1", 2),
    (f"{INF} --count 1000000000000", 2),
    (f"{INF} --count 451", 2),
    (f"{INF} --time 0", 2),
    (f"{INF} --time -1", 2),
    (f"{INF} --time nan", 2),
    (f"{INF} --time inf", 2),
    (f"{INF} --duration 0", 2),
    (f"{INF} --duration nan", 2),
    (f"{INF} --qps 0 --scenario Server", 2),
    (f"{INF} --qps nan --scenario Server", 2),
    (f"{INF} --qps inf --scenario Offline", 2),
    (f"{INF} --qps 1e300 --scenario Offline", 2),
    (f"{INF} --max-latency 0 --scenario Server", 2),
    (f"{INF} --max-latency -1 --scenario Server", 2),
    (f"{INF} --samples-per-query 0 --scenario MultiStream", 2),
    (f"{INF} --performance-sample-count 0", 2),
    (f"{INF} --user-conf {{missing}}", 2),
    (f"{INF} --user-conf {{badconf}}", 2),
    (f"{INF} --mlperf-conf {{missing}}", 2),
    (f"{INF} --audit-conf {{missing}}", 2),
    (f"{INF} --audit-conf {{badconf}}", 2),
    (f"{INF} --dataset-path {{emptydir}}", 2),
    (f"{INF} --model-path {{missing}}", 2),
    (f"{INF} --model-path {{file}}", 2),
    (f"{INF} --threads -1", 2),
    (f"{INF} --workers 0", 2),
    (f"{INF} --max-batchsize 0", 2),
    (f"{INF} --batch-timeout-ms -1", 2),
    (f"{INF} --batch-timeout-ms nan", 2),
    (f"{INF} --backend-option noequals", 2),
    (f"{INF} --output {{file}}", 2),
    (f"{INF} --output {{file}}/x", 2),
    (f"{INF} --output {{inferrun}}", 2),
    (f"{INF} --cache {{file}}", 2),
    (f"{INF} --device gpu", 2),
    (f"{INF} --mode find-peak --scenario Offline", 2),
    (f"{INF} --repeat 0", 2),
    (f"{INF} --power bogus", 2),
    (f"{INF} --data-format bogus", 2),
    ("infer --backend pytorch --model digits-int8 --quiet", 2),
    # run (the embedded default)
    ("run --seconds 0", 2),
    ("run --seconds -1", 2),
    ("run --seconds nan", 2),
    ("run --seconds inf", 2),
    ("run --seconds 1e9", 2),
    ("run --output {file}", 2),
    ("run --output {file}/x", 2),
    ("run --output {run}", 2),
    # runs (the run store)
    ("runs show 999", 2),
    ("runs rm 999", 2),
    ("runs show abc", 2),
    ("runs add {file}", 2),
    ("runs add {missing}", 2),
    ("runs add {emptydir}", 2),
    ("runs add {badjson}", 2),
    ("runs rebuild {missing}", 2),
    ("runs rebuild {file}", 2),
    ("runs --store {file} list", 2),
    ("runs --store {file}/x list", 2),
    ("runs list --kind bogus", 2),
    # report and compare
    ("report {missing}", 2),
    ("report {emptydir}", 2),
    ("report {badjson}", 2),
    ("report {notjson}", 2),
    ("report {newer}", 2),
    ("report {run} --output {file}/x", 2),
    ("report {run} --output {run}/result.json", 2),
    ("report {run} --output {emptydir}", 2),
    ("report {run} --format bogus", 2),
    ("report 999", 2),
    ("compare {run} {missing}", 2),
    ("compare {run} {badjson}", 2),
    ("compare {run} {storagerun}", 2),
    ("compare {run}", 2),
    ("compare 998 999", 2),
    # sysinfo and datasets
    ("sysinfo --path {missing}", 2),
    ("dataset fake-imagenet {file}", 2),
    ("dataset fake-imagenet {file}/x", 2),
    ("dataset fake-imagenet {newdir} --count 0", 2),
    ("dataset fake-imagenet {newdir} --count -1", 2),
    ("dataset fake-imagenet {newdir} --count 1000000000000", 2),
    ("dataset fake-imagenet {imagenet} --count 2", 2),
    ("dataset fake-imagenet {newdir} --count x", 2),
    # train
    ("train run bogus", 2),
    ("train run digits --runs 0", 2),
    ("train run digits --runs -1", 2),
    ("train run digits --runs 100000", 2),
    ("train run digits --nproc 0", 2),
    ("train run digits --nproc -1", 2),
    ("train run digits --nproc 100000", 2),
    ("train run digits --checkpoint-every -1", 2),
    ("train run digits --output {file}", 2),
    ("train run digits --output {run}", 2),
    ("train run digits --repeat 0", 2),
    ("train run digits --power bogus", 2),
    ("train scaling digits --workers 0", 2),
    ("train scaling digits --workers a,b", 2),
    ("train scaling digits --workers ,", 2),
    ("train scaling digits --epochs 0", 2),
    ("train scaling bogus", 2),
    ("train score {missing}", 2),
    ("train score {emptydir}", 2),
    ("train score {mllogdir} --rcp {missing}", 2),
    ("train score {mllogdir} --rules {missing}", 2),
    ("train score {mllogdir} --workload bogus", 2),
    ("train check {missing} --workload digits", 2),
    ("train check {file} --rules {missing}", 2),
    ("train check {file} --workload bogus", 2),
    ("train check {file} --rules {file}", 2),
    ("train rules bogus", 2),
    # storage
    ("storage training datasize -m unet3d -g h100 -cm -1 -ma 1", 2),
    ("storage training datasize -m unet3d -g h100 -cm 0 -ma 1", 2),
    ("storage training datasize -m unet3d -g h100 -cm nan -ma 1", 2),
    ("storage training datasize -m unet3d -g h100 -cm inf -ma 1", 2),
    ("storage training datasize -m unet3d -g h100 -cm 64 -ma 0", 2),
    ("storage training datasize -m unet3d -g h100 -cm 64 -ma -1", 2),
    ("storage training datasize -m unet3d -g h100 -cm 64 -ma 1 -nc 0", 2),
    ("storage training datasize -m unet3d -g h100 -cm 64 -ma 1 --param bogus=1", 2),
    ("storage training datasize -m unet3d -g h100 -cm 64 -ma 1 --param dataset.num_files_train=abc", 2),
    ("storage training datasize -m unet3d -g h100 -cm 64 -ma 1 --param noequals", 2),
    ("storage training datasize -m bogus -g h100 -cm 64 -ma 1", 2),
    ("storage training datagen -m unet3d -np 0 -dd {newdir}", 2),
    ("storage training datagen -m unet3d -np -1 -dd {newdir}", 2),
    ("storage training datagen -m unet3d -np 1 -dd {file}", 2),
    ("storage training datagen -m unet3d -np 1 -dd {newdir} --param dataset.num_files_train=-1", 2),
    ("storage training datagen -m unet3d -np 1 -dd {newdir} --param dataset.record_length_bytes=0", 2),
    ("storage training datagen -m unet3d -np 1 -dd {newdir} --param dataset.num_samples_per_file=0", 2),
    ("storage training datagen -m unet3d -np 1 -dd {newdir} --param dataset.record_length_bytes=-5", 2),
    ("storage training datagen -m unet3d -np 1 -dd {newdir} --param dataset.num_files_train=1000000000000", 2),
    ("storage training datagen -m unet3d -np 1 -dd {storagedata} --param dataset.num_files_train=2 "
     "dataset.record_length_bytes=8192 dataset.record_length_bytes_stdev=0", 2),
    ("storage training run -m unet3d -g h100 -na 0 -cm 64 -dd {storagedata}", 2),
    ("storage training run -m unet3d -g h100 -na 1 -cm -1 -dd {storagedata}", 2),
    ("storage training run -m unet3d -g h100 -na 1 -cm 64 -dd {missing}", 2),
    ("storage training run -m unet3d -g h100 -na 1 -cm 64 -dd {emptydir}", 2),
    ("storage training run -m unet3d -g h100 -na 1 -cm 64 -dd {storagedata} --results-dir {file}", 2),
    ("storage training run -m unet3d -g h100 -na 1 -cm 64 -dd {storagedata} --hosts host:x", 2),
    ("storage training run -m unet3d -g h100 -na 1 -cm 64 -dd {storagedata} --param bogus=1", 2),
    ("storage training run -m unet3d -g h100 -na 1 -cm 64 -dd {storagedata} --loops 0", 2),
    ("storage checkpointing datasize -m llama3-8b -np 0", 2),
    ("storage checkpointing datasize -m llama3-8b -np -1", 2),
    ("storage checkpointing datasize -m bogus -np 8", 2),
    ("storage checkpointing datasize -m llama3-8b -np 8 -ncr -1", 2),
    ("storage checkpointing datasize -m llama3-8b -np 8 -ncw -1", 2),
    ("storage checkpointing run -m llama3-8b -np 1 -cf {file}", 2),
    ("storage checkpointing run -m llama3-8b -np 0 -cf {newdir}", 2),
    ("storage checkpointing run -m llama3-1t -np 8 -cf {newdir}", 2),
    ("storage checkpointing run -m llama3-8b -np 1 -cf {newdir} --results-dir {file}", 2),
    ("storage report --results-dir {emptydir}", 2),
    ("storage report --results-dir {missing}", 2),
    ("storage report --results-dir {file}", 2),
    # serve: nothing listens on port 9 of the loopback (discard); every case is refused before a request
    ("serve", 2),
    ("serve --endpoint http://127.0.0.1:9", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --quiet", 2),
    ("serve --endpoint not-a-url --model m --quiet", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --max-tokens 0", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --concurrency 0", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --concurrency 1,x", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --rates 0,5", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --rates nan", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --ttft-ms -1", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --prompts {missing}", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --prompts {file} --count 100000", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --api grpc", 2),
    ("serve mock --port 70000", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --mode find-peak --quiet", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --mode find-peak --probe-queries 10", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --mode find-peak --scenario Offline", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --mode find-peak --peak-tolerance 1.5", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --extra-body not-json", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --extra-body '[1]'", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --api generate --quiet", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --prompts {file}.pkl", 2),
    ("serve --endpoint http://127.0.0.1:9 --model m --tokenizer {file}", 2),
    # infer: compliance audits and several modes
    (f"{INF} --compliance TEST99", 2),
    (f"{INF} --compliance TEST06", 2),
    (f"{INF} --compliance TEST01,TEST01", 2),
    (f"{INF} --mode accuracy,bogus", 2),
    (f"{INF} --mode performance,performance", 2),
    # submission: what is not a run, what cannot be one package, a wrong system file, an existing output
    ("submission pack {missing} --division open --org acme --output {newdir}/p", 2),
    ("submission pack {emptydir} --division open --org acme --output {newdir}/p", 2),
    ("submission pack {run} --division open --org acme --output {newdir}/p", 2),
    ("submission pack {badjson} --division open --org acme --output {newdir}/p", 2),
    ("submission pack {digitsruns} --division closed --org acme --output {newdir}/p --draft", 2),
    ("submission pack {digitsruns} --division open --org acme --output {newdir}/p", 2),
    ("submission pack {digitsruns}/Offline/performance --division open --org acme --output {newdir}/p --draft", 2),
    ("submission pack {digitsruns} --division open --org acme --output {run} --draft", 2),
    ("submission pack {digitsruns} --division open --org a/b --output {newdir}/p --draft", 2),
    ("submission pack {digitsruns} --division middle --org acme --output {newdir}/p", 2),
    ("submission pack {digitsruns} --division open --org acme --output {newdir}/p --draft --system {missing}", 2),
    ("submission pack {digitsruns} --division open --org acme --output {newdir}/p --draft --system {binary}", 2),
    ("submission pack {digitsruns} --division open --org acme --output {newdir}/p --draft --system {sysunknown}", 2),
    ("submission pack {digitsruns} --division open --org acme --output {newdir}/p --draft --system {sysstatus}", 2),
    ("submission pack {digitsruns} --division open --org acme --output {newdir}/p --draft --system {syslist}", 2),
    ("submission check {emptydir}", 2),
    ("submission check {missing}", 2),
    ("submission table {file}", 2),
    ("submission", 2),
    # no subcommand, unknown subcommand
    ("", 2),
    ("bogus", 2),
]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Fixture paths; ``protected`` lists the directories no bad command may change."""
    root = tmp_path_factory.mktemp("bad-input")
    store = root / "store"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLMETER_STORE", str(store))
    w = {name: root / name for name in ("file", "missing", "emptydir", "badjson", "notjson", "newer", "newdir",
                                        "run", "inferrun", "imagenet", "badconf", "binary", "mllogdir",
                                        "storagerun", "storagedata", "digitsruns", "sysunknown", "sysstatus",
                                        "syslist")}
    w["file"].write_text("not a directory\n")
    w["binary"].write_bytes(bytes(range(256)))
    w["emptydir"].mkdir()
    w["badconf"].write_text("*.*.min_duration 5\n")
    for name, text in (("badjson", "[]"), ("notjson", "{not json"),
                       ("newer", json.dumps({"schema": "mlmeter.loadgen.result", "schema_version": 99}))):
        w[name].mkdir()
        (w[name] / "result.json").write_text(text)
    assert main(shlex.split(f"{LG} --output {w['run']}")) == 0
    (w["inferrun"] / "SingleStream" / "performance").mkdir(parents=True)
    (w["inferrun"] / "SingleStream" / "performance" / "result.json").write_text(
        (w["run"] / "result.json").read_text())
    assert main(["dataset", "fake-imagenet", str(w["imagenet"]), "--count", "4"]) == 0
    w["mllogdir"].mkdir()
    (w["mllogdir"] / "result_0.txt").write_text(':::MLLOG {"key": "run_start", "value": null, "time_ms": 1}\n')
    w["storagerun"].mkdir()
    (w["storagerun"] / "result.json").write_text(json.dumps({"schema": "mlmeter.storage.training.result",
                                                              "schema_version": 1}))
    assert main(["storage", "training", "datagen", "-m", "unet3d", "-np", "1", "-dd", str(w["storagedata"]),
                 "--quiet", "--param", "dataset.num_files_train=4", "dataset.record_length_bytes=4096",
                 "dataset.record_length_bytes_stdev=0"]) == 0
    # a real (VALID) pair of runs for the submission cases: long enough that --auto-targets sizes the Offline
    # query past the minimum duration on a busy machine too (at 10 ms, start-up noise could leave it short)
    assert main(shlex.split(f"{INF} --scenario Offline --mode accuracy,performance --auto-targets --duration 0.5 "
                            f"--output {w['digitsruns']}")) == 0
    w["sysunknown"].write_text("status: available\nsystem_type: edge\ncoolng: air\n")
    w["sysstatus"].write_text("status: sometimes\n")
    w["syslist"].write_text("- status\n")
    protected = [w[k] for k in ("run", "inferrun", "imagenet", "storagedata", "badjson", "newer", "digitsruns")] + [store]
    w["_protected"] = protected
    w["_root"] = root
    yield w
    mp.undo()


def _line(cmd: str, w: dict) -> list[str]:
    return shlex.split(cmd.format(**{k: v for k, v in w.items() if not k.startswith("_")}))


@pytest.mark.parametrize("cmd,code", CASES, ids=[c or "(none)" for c, _ in CASES])
def test_bad_input(world, cmd, code, capsys, monkeypatch):
    monkeypatch.chdir(world["_root"])
    before = {str(p): _digest(p) if p.is_dir() else None for p in world["_protected"]}
    result: dict[str, object] = {}

    def call():
        try:
            result["code"] = main(_line(cmd, world))
        except SystemExit as exc:  # argparse
            result["code"] = exc.code
        except BaseException as exc:  # noqa: BLE001 -- what would reach the user as a traceback
            result["raised"] = exc

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(timeout=120)
    out, err = capsys.readouterr()
    assert not t.is_alive(), f"hangs: {cmd}"
    assert "raised" not in result, f"traceback: {result.get('raised')!r}"
    assert "Traceback" not in err + out
    assert result["code"] == code, f"exit {result['code']}, stderr: {err[-500:]}"
    last = [x for x in err.splitlines() if x.strip()][-1]
    assert last.startswith("mlmeter") and "internal error" not in last, last
    assert before == {str(p): _digest(p) if p.is_dir() else None for p in world["_protected"]}, "a file changed"
    assert not (world["_root"] / "newdir").exists() or not any((world["_root"] / "newdir").iterdir())


def test_the_table_is_large_enough():
    assert len(CASES) >= 150 and len({c for c, _ in CASES}) == len(CASES)


def test_internal_error_is_one_line_with_a_saved_traceback(tmp_path, monkeypatch, capsys):
    """A bug (an exception mlmeter did not expect) exits 3 with one line naming the file the traceback went to."""
    monkeypatch.setenv("MLMETER_STATE", str(tmp_path))
    import mlmeter.cli.main as cli

    def broken(a):
        raise ZeroDivisionError("float division by zero")

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), broken))
    assert cli.main(["sysinfo"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" in err[0] and "ZeroDivisionError" in err[0]
    saved = list(tmp_path.glob("crash-*.txt"))
    assert len(saved) == 1 and "Traceback" in saved[0].read_text() and str(saved[0]) in err[0]


def _with_func(parser, func):
    parser.set_defaults(func=func)
    for action in parser._subparsers._group_actions:  # every subcommand calls the broken function
        for sub in action.choices.values():
            sub.set_defaults(func=func)
    return parser


def test_real_entry_point_prints_no_traceback(tmp_path):
    """The installed console script, in a fresh process: one line on stderr and exit code 2."""
    import subprocess

    p = subprocess.run([sys.executable, "-m", "mlmeter.cli.main", "loadgen", "--output", str(tmp_path / "f" / "x"),
                        "--sut", "fixed", "--latency-ms", "0"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "MLMETER_STORE": str(tmp_path / "store")})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "--latency-ms" in p.stderr


