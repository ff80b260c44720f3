"""The `dlrm` training workload: a DLRM-style click model (embedding tables + bottom/top MLPs with pairwise
dot interactions) on a synthetic click dataset with a planted signal, trained to an AUC target.

The data: 8 categorical features with power-law frequencies (vocabularies of 1,000) and 4 dense features; the
label is drawn from a hidden logistic model (a planted embedding per category value, a dense weight vector),
so the best achievable AUC is known (the planted model's own AUC on the evaluation set, 0.913). The target,
0.895, asks a model to recover most of that signal (about 1.5 epochs here). Data seed fixed; runs differ by
their seed.
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

BENCHMARK = "mlmeter_dlrm"
TARGET = 0.895
RUNS = 5
CATEGORICAL, VOCAB, DENSE = 8, 1000, 4


@dataclass(frozen=True)
class DlrmConfig(TrainConfig):
    batch_size: int = 1024
    learning_rate: float = 0.01
    train_samples: int = 200_000
    eval_samples: int = 40_000
    embedding_dim: int = 16
    evals_per_epoch: int = 4


def make_data(n: int, seed: int = 2026) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(categorical int64 [n, 8], dense float32 [n, 4], labels float32 [n], planted logits [n])."""
    rng = np.random.default_rng(seed)
    planted = np.random.default_rng(7).normal(0, 0.9, (CATEGORICAL, VOCAB))
    w_dense = np.random.default_rng(8).normal(0, 0.6, DENSE)
    ranks = np.minimum(rng.zipf(1.3, (n, CATEGORICAL)) - 1, VOCAB - 1)
    perm = np.random.default_rng(9).permutation(VOCAB)  # popular ids spread over the table
    cat = perm[ranks]
    dense = rng.normal(0, 1, (n, DENSE)).astype(np.float32)
    logits = planted[np.arange(CATEGORICAL), cat].sum(1) + dense @ w_dense - 0.5
    labels = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    return cat.astype(np.int64), dense, labels, logits


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the rank statistic (ties get average ranks)."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty_like(ranks)
    r[order] = ranks
    pos = labels > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)) if n_pos and n_neg else 0.5


def _model(cfg: DlrmConfig) -> Any:
    import torch

    class Dlrm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = cfg.embedding_dim
            self.tables = torch.nn.ModuleList(torch.nn.Embedding(VOCAB, d) for _ in range(CATEGORICAL))
            self.bottom = torch.nn.Sequential(torch.nn.Linear(DENSE, 32), torch.nn.ReLU(), torch.nn.Linear(32, d))
            pairs = (CATEGORICAL + 1) * CATEGORICAL // 2
            self.top = torch.nn.Sequential(torch.nn.Linear(d + pairs, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
            self.iu = torch.triu_indices(CATEGORICAL + 1, CATEGORICAL + 1, offset=1)

        def forward(self, cat: Any, dense: Any) -> Any:
            x = self.bottom(dense)
            feats = torch.stack([x] + [t(cat[:, k]) for k, t in enumerate(self.tables)], dim=1)
            inter = torch.bmm(feats, feats.transpose(1, 2))[:, self.iu[0], self.iu[1]]
            return self.top(torch.cat([x, inter], dim=1)).squeeze(1)

    return Dlrm()


def train(seed: int, log: MLLogger, cfg: DlrmConfig | None = None, *, org: str = "mlmeter", platform: str = "cpu",
          step_hook: Any = None, ckpt: Checkpointer | None = None) -> dict[str, Any]:
    import torch

    cfg = cfg or DlrmConfig()
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    cat, dense, labels, _ = make_data(cfg.train_samples + cfg.eval_samples)
    n = cfg.train_samples
    tc, td, ty = torch.from_numpy(cat[:n]), torch.from_numpy(dense[:n]), torch.from_numpy(labels[:n])
    ec, ed, ey = torch.from_numpy(cat[n:]), torch.from_numpy(dense[n:]), labels[n:]
    model = distributed.wrap(_model(cfg))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    first, steps, resumed = begin_run(log, ckpt, (model, opt, gen), benchmark=BENCHMARK, seed=seed, cfg=cfg,
                                      train_samples=n, eval_samples=cfg.eval_samples, org=org, platform=platform)
    status, value, epoch_num = "aborted", 0.0, 0.0
    t0 = time.perf_counter()
    steps_per_epoch = n // cfg.batch_size
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    done = False
    for epoch in range(first, cfg.max_epochs + 1):
        log.start("epoch_start", metadata={"epoch_num": epoch})
        order = torch.randperm(n, generator=gen)
        model.train()
        for k in range(steps_per_epoch):
            idx = distributed.shard(order[k * cfg.batch_size : (k + 1) * cfg.batch_size])
            optimize(opt, torch.nn.functional.binary_cross_entropy_with_logits(model(tc[idx], td[idx]), ty[idx]))
            steps += 1
            if step_hook is not None:
                step_hook(steps)
            if (k + 1) % eval_every == 0 or k + 1 == steps_per_epoch:
                epoch_num = round(epoch - 1 + (k + 1) / steps_per_epoch, 3)  # fractional epochs, as DLRM logs
                value = evaluate(log, model, epoch_num, lambda: auc(model(ec, ed).numpy(), ey))
                if value >= TARGET:
                    status = "success"
                    if cfg.stop_at_target:
                        done = True
                        break
        log.end("epoch_stop", metadata={"epoch_num": epoch})
        if done:
            break
        if ckpt is not None and ckpt.due(epoch):
            save(ckpt, model, opt, gen, epoch, steps)
    return end_run(log, ckpt, resumed, seed=seed, status=status, epoch_num=epoch_num, steps=steps, value=value,
                   started=t0)
