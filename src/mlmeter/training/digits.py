"""The `digits` training workload: a 64-128-10 MLP on scikit-learn's handwritten digits, trained with Adam in
PyTorch until top-1 on the held-out quarter reaches 0.965 (the FP32 inference model scores 0.9756 there).

The split is the one the embedded inference model uses (``mlmeter.workloads.digits``), so training never sees
the evaluation images. Deterministic per seed (one thread of intra-op parallelism unless asked otherwise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlmeter.training import distributed
from mlmeter.training.checkpoint import Checkpointer, save
from mlmeter.training.mllog import MLLogger
from mlmeter.training.timeline import TrainConfig, begin_run, end_run, evaluate, optimize

BENCHMARK = "mlmeter_digits"
TARGET = 0.965
RUNS = 5


@dataclass(frozen=True)
class DigitsConfig(TrainConfig):
    learning_rate: float = 0.002
    max_epochs: int = 60
    hidden: int = 128


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train x, train y, eval x, eval y): every digit not in the packaged held-out set is training data."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise RuntimeError("the digits training workload needs scikit-learn: pip install 'mlmeter[training]'") from exc
    from mlmeter.workloads.digits import data_file

    d = load_digits()
    with np.load(data_file("test.npz")) as z:
        held_out = z["rows"]
    mask = np.ones(len(d.data), bool)
    mask[held_out] = False
    x = d.data.astype(np.float32) / 16.0
    return x[mask], d.target[mask].astype(np.int64), x[~mask], d.target[~mask].astype(np.int64)


def train(seed: int, log: MLLogger, cfg: DigitsConfig | None = None, *, org: str = "mlmeter",
          platform: str = "cpu", step_hook: Any = None, ckpt: Checkpointer | None = None) -> dict[str, Any]:
    """One run: the official timeline (cache_clear … run_stop) logged through ``log``; returns its figures.
    With ``ckpt``, saves every ``ckpt.every`` epochs and, if a checkpoint exists, continues from it."""
    import torch

    cfg = cfg or DigitsConfig()
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    xtr, ytr, xev, yev = (torch.from_numpy(a) for a in load_data())
    model = distributed.wrap(
        torch.nn.Sequential(torch.nn.Linear(64, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, 10)))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    first, steps, resumed = begin_run(log, ckpt, (model, opt, gen), benchmark=BENCHMARK, seed=seed, cfg=cfg,
                                      train_samples=len(xtr), eval_samples=len(xev), org=org, platform=platform)
    accuracy = 0.0
    t0 = time.perf_counter()
    epoch = first - 1
    status = "aborted"
    for epoch in range(first, cfg.max_epochs + 1):
        log.start("epoch_start", metadata={"epoch_num": epoch})
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        for k in range(0, len(order), cfg.batch_size):
            idx = distributed.shard(order[k : k + cfg.batch_size])
            optimize(opt, torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]))
            steps += 1
            if step_hook is not None:
                step_hook(steps)
        log.end("epoch_stop", metadata={"epoch_num": epoch})
        accuracy = evaluate(log, model, epoch, lambda: float((model(xev).argmax(1) == yev).float().mean()))
        if accuracy >= TARGET:
            status = "success"
            if cfg.stop_at_target:
                break
        if ckpt is not None and ckpt.due(epoch):
            save(ckpt, model, opt, gen, epoch, steps)
    return end_run(log, ckpt, resumed, seed=seed, status=status, epoch_num=epoch, steps=steps, value=accuracy,
                   started=t0)
