"""``mlmeter runs``: the local index of run directories."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlmeter.results import RunStore


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, default=None, help="store directory (default $MLMETER_STORE or "
                                                              "~/.local/share/mlmeter)")
    sub = p.add_subparsers(dest="runs_command", required=True)
    ls = sub.add_parser("list", help="registered runs")
    ls.add_argument("--kind", choices=["inference", "loadgen", "storage", "checkpointing", "training"])
    ls.set_defaults(func=cmd_list)
    sh = sub.add_parser("show", help="one run's result.json")
    sh.add_argument("id", type=int)
    sh.set_defaults(func=cmd_show)
    rm = sub.add_parser("rm", help="forget a run (its directory stays)")
    rm.add_argument("id", type=int)
    rm.set_defaults(func=cmd_rm)
    ad = sub.add_parser("add", help="register run directories")
    ad.add_argument("dirs", nargs="+", type=Path)
    ad.set_defaults(func=cmd_add)
    rb = sub.add_parser("rebuild", help="rebuild the index from the run directories under these roots")
    rb.add_argument("roots", nargs="+", type=Path)
    rb.set_defaults(func=cmd_rebuild)


def cmd_list(a: argparse.Namespace) -> int:
    rs = RunStore(a.store)
    runs = rs.runs(a.kind)
    for r in runs:
        print(f"{r.id:5d}  {r.registered}  {r.kind:13} {r.benchmark:14} {r.scenario:12} {r.verdict:8} "
              f"{r.headline}  {r.path}{'  (CHANGED since registered)' if rs.changed(r) else ''}")
    if not runs:
        print(f"no runs in {rs.root}")
    rs.close()
    return 0


def cmd_show(a: argparse.Namespace) -> int:
    rs = RunStore(a.store)
    r = rs.get(a.id)
    changed = rs.changed(r)
    rs.close()
    if changed:
        print(f"warning: {r.path}/result.json changed or vanished since it was registered")
    f = Path(r.path) / "result.json"
    print(json.dumps(json.loads(f.read_text()), indent=2) if f.is_file() else f"{f}: missing")
    return 0


def cmd_rm(a: argparse.Namespace) -> int:
    rs = RunStore(a.store)
    r = rs.remove(a.id)
    rs.close()
    print(f"forgot run {r.id} ({r.path}); the directory is untouched")
    return 0


def cmd_add(a: argparse.Namespace) -> int:
    rs = RunStore(a.store)
    for d in a.dirs:
        r = rs.add(d)
        print(f"{r.id}: {r.path}")
    rs.close()
    return 0


def cmd_rebuild(a: argparse.Namespace) -> int:
    rs = RunStore(a.store)
    count, problems = rs.rebuild(a.roots)
    rs.close()
    for p in problems:
        print(f"skipped: {p}")
    print(f"{count} runs registered in {rs.root}")
    return 0
