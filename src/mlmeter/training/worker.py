"""One training run in a process of its own: ``torchrun --nproc_per_node N -m mlmeter.training.worker …``.

Rank 0 writes the MLLOG file and a JSON of the run's figures; every rank trains its share of each batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from mlmeter.training import distributed
from mlmeter.training.mllog import MLLogger
from mlmeter.util.atomic import write_text


def main(argv: list[str] | None = None) -> int:
    from mlmeter.training.runner import workload

    ap = argparse.ArgumentParser(prog="mlmeter.training.worker")
    ap.add_argument("workload")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--mllog-file", type=Path, required=True)
    ap.add_argument("--figures-file", type=Path, required=True)
    ap.add_argument("--fixed-epochs", type=int, default=0, help="train exactly this many epochs (throughput runs)")
    a = ap.parse_args(argv)
    w = workload(a.workload)
    cfg = w.config
    if a.fixed_epochs:
        cfg = dataclasses.replace(cfg, max_epochs=a.fixed_epochs, stop_at_target=False)
    rank, size = distributed.init()
    try:
        with MLLogger(a.mllog_file) as log:
            figures = w.train(a.seed, log, cfg)
        if rank == 0:  # before the teardown: what was measured is kept whatever happens then
            write_text(a.figures_file, json.dumps({**figures, "world_size": size}) + "\n")
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
