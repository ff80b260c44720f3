"""``mlmeter infer``: the reference harness's workflow (backend, model, device, scenarios) in one command."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from mlmeter.backends import BACKEND_NAMES
from mlmeter.cli import knobs, options, repeat
from mlmeter.cli.progress import Progress
from mlmeter.inference import InferConfig, InferConfigError, ScenarioOutcome, prepare, run_plan
from mlmeter.inference.config import MODES
from mlmeter.loadgen import TestScenario
from mlmeter.power import source_names
from mlmeter.submission.audits import NAMES as AUDIT_NAMES
from mlmeter.verdict import exit_code
from mlmeter.workloads import WORKLOAD_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", required=True, help=f"one of: {', '.join(BACKEND_NAMES)}")
    p.add_argument("--model", required=True, help=f"one of: {', '.join(WORKLOAD_NAMES)}")
    p.add_argument("--device", default="cpu", help="cpu (default), gpu, or a runtime-specific device")
    p.add_argument("--scenario", default="SingleStream",
                   help="one or more of SingleStream,MultiStream,Server,Offline (comma-separated)")
    p.add_argument("--mode", default="performance",
                   help=f"one or more of: {', '.join(MODES)} (comma-separated, run in that order per scenario)")
    p.add_argument("--compliance", default="", metavar="TESTS",
                   help=f"compliance audits run after each scenario's modes and verified against them "
                        f"({', '.join(AUDIT_NAMES[:2])}; e.g. --mode accuracy,performance --compliance TEST01,TEST04)")
    g = p.add_argument_group("settings files and targets")
    g.add_argument("--count", type=int, help="use the first N samples, and issue exactly N queries")
    g.add_argument("--duration", type=float, help="min duration of each run, s (no cap: runs end VALID more often)")
    g.add_argument("--performance-sample-count", type=int, help="samples held in RAM for performance runs")
    g.add_argument("--user-conf", type=Path, help="user.conf applied after mlperf.conf")
    g.add_argument("--mlperf-conf", type=Path, help="an mlperf.conf instead of the built-in one")
    g.add_argument("--audit-conf", type=Path, help="a compliance audit.config")
    g.add_argument("--auto-targets", action="store_true",
                   help="set expected latency/QPS and the Server QPS from the warm-up and a short Offline probe (before user.conf)")
    knobs.add_knobs(p)
    knobs.add_reference_aliases(p)
    d = p.add_argument_group("model and data")
    d.add_argument("--dataset-path", type=Path, help="dataset directory (ImageNet layout with val_map.txt)")
    d.add_argument("--model-path", type=Path, help="a local model file instead of the default")
    d.add_argument("--data-format", choices=["NCHW", "NHWC"], help="layout of pre-processed images")
    d.add_argument("--cache", type=Path, metavar="DIR",
                   help="keep pre-processed samples (and downloaded models) in DIR and reuse them")
    d.add_argument("--no-download", action="store_true", help="never fetch a model over the network")
    d.add_argument("--output", type=Path, help="base directory (default output/<backend>-<device>/<model>)")
    options.add_overwrite(d)
    e = p.add_argument_group("execution")
    e.add_argument("--threads", type=int, default=0, help="intra-op threads of the runtime (default: its own)")
    e.add_argument("--inter-op-threads", type=int, default=0)
    e.add_argument("--workers", type=int, default=1, help="batches run concurrently (Offline/Server)")
    e.add_argument("--max-batchsize", type=int, default=32)
    e.add_argument("--batch-timeout-ms", type=float, default=0.0,
                   help="Server: hold a partial batch up to this long (never past the latency bound)")
    e.add_argument("--preprocess-threads", type=int, default=0)
    e.add_argument("--compile", action="store_true", help="pytorch: torch.compile the model")
    e.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE",
                   help="runtime-specific option (repeatable)")
    options.add_power(p, "performance runs", server=True)
    options.add_repeat(p)
    p.add_argument("--trace", action="store_true", help="write mlperf_log_trace.json")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_infer)


def parse_scenarios(text: str) -> tuple[TestScenario, ...]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    valid = [s.name for s in TestScenario]
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise InferConfigError(f"unknown scenario {', '.join(bad) or repr(text)}; valid scenarios: {', '.join(valid)}")
    return tuple(TestScenario[n] for n in names)


def _options(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InferConfigError(f"--backend-option {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def build_config(a: argparse.Namespace) -> InferConfig:
    if a.backend not in BACKEND_NAMES:
        raise InferConfigError(f"unknown backend {a.backend!r}; valid backends: {', '.join(BACKEND_NAMES)}")
    if a.model not in WORKLOAD_NAMES:
        raise InferConfigError(f"unknown model {a.model!r}; valid models: {', '.join(WORKLOAD_NAMES)}")
    return InferConfig(
        backend=a.backend, model=a.model, device=a.device, scenarios=parse_scenarios(a.scenario), mode=a.mode,
        compliance=tuple(t.strip().upper() for t in a.compliance.split(",") if t.strip()),
        count=a.count, duration_s=a.duration, performance_sample_count=a.performance_sample_count,
        settings=knobs.knob_values(a, knobs.KNOBS + knobs.REFERENCE_ALIASES), user_conf=a.user_conf, mlperf_conf=a.mlperf_conf,
        audit_conf=a.audit_conf, auto_targets=a.auto_targets, dataset_path=a.dataset_path, model_path=a.model_path,
        data_format=a.data_format, cache_dir=a.cache, download=not a.no_download, output=a.output, overwrite=a.overwrite,
        threads=a.threads, inter_op_threads=a.inter_op_threads, workers=a.workers, max_batchsize=a.max_batchsize,
        batch_timeout_ms=a.batch_timeout_ms, preprocess_threads=a.preprocess_threads, compile=a.compile,
        backend_options=_options(a.backend_option), trace=a.trace,
        power=source_names(a.power), command=getattr(a, "command_line", ""),
    )


def table(outcomes: Sequence[ScenarioOutcome]) -> str:
    """The final table: scenario, mode, metric, verdict, accuracy against the target, and reasons."""
    rows = [("model", "scenario", "mode", "result", "verdict", "accuracy (target)")]
    for o in outcomes:
        d, head = o.document, o.record.headline
        if head is None or head.value is None or o.record.kind != "inference" or d["mode"] == "accuracy":
            result = "-"
        elif head.percentile:
            result = f"{head.value:,.3f} ms {head.name.split()[0]}"
        else:
            result = f"{head.value:,.1f} {head.unit}"
        acc = "-"
        if d.get("compliance"):
            acc = "TEST PASS" if d["compliance"]["passed"] else "TEST FAIL"
        elif d["accuracy"]:
            acc = "; ".join(f"{m['value']:.3f}% ({'>=' if m['pass'] else '<'} {m['threshold']:.3f})"
                            for m in d["accuracy"])
        rows.append((d["benchmark"], d["scenario"], d["mode"], result, o.verdict, acc))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for o in outcomes:
        for reason in o.record.reasons:
            lines.append(f"  {o.document['benchmark']} {o.scenario.name}: {reason}")
    return "\n".join(lines)


def cmd_infer(a: argparse.Namespace) -> int:
    """Load and pre-process once, then run every scenario (``--repeat N`` times, one summary per scenario)."""
    cfg = build_config(a)
    progress = Progress(enabled=not a.quiet)
    base = cfg.output or Path("output") / f"{cfg.backend}-{cfg.device}" / cfg.model
    outcomes: list[ScenarioOutcome] = []
    p = prepare(cfg, progress)
    try:
        def once(i: int) -> list[tuple[str, Path]]:
            p.cfg = cfg if a.repeat == 1 else dataclasses.replace(cfg, output=base / f"repeat-{i + 1}")
            done = run_plan(p, progress)
            outcomes.extend(done)
            return [(o.scenario.name, o.outdir) for o in done]

        repeat.repeated(a.repeat, once, lambda sc, _runs: base / "repeat" / sc / cfg.mode.replace(",", "+"))
    finally:
        p.close()
    print(table(outcomes))
    print(f"files: {outcomes[0].outdir.parent.parent}")
    return exit_code(o.record.verdict for o in outcomes)
