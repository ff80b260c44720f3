"""Training step throughput: each reference workload inside mlmeter (MLLOG events, timing, step hook) against the
same model, data, batches and evaluation in a plain PyTorch loop. Target: mlmeter ≥ 98 % of the plain loop.

    python benchmarks/train_overhead.py --workload digits --epochs 40 --rounds 12
    python benchmarks/train_overhead.py --workload dlrm --epochs 1 --rounds 6
    python benchmarks/train_overhead.py --workload gpt --epochs 2 --rounds 4
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlmeter.training import digits, dlrm, gpt
from mlmeter.training.mllog import MLLogger


def _loop(model: Any, opt: Any, epochs: int, batches: Callable[[], Any], loss: Callable[..., Any],
          evaluate: Callable[[], float]) -> int:
    steps = 0
    for _ in range(epochs):
        model.train()
        for batch in batches():
            opt.zero_grad(set_to_none=True)
            loss(*batch).backward()
            opt.step()
            steps += 1
        model.eval()
        with torch.inference_mode():
            evaluate()
    return steps


def plain_digits(seed: int, cfg: Any) -> tuple[int, float]:
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    xtr, ytr, xev, yev = (torch.from_numpy(a) for a in digits.load_data())
    model = torch.nn.Sequential(torch.nn.Linear(64, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)

    def batches() -> Any:
        order = torch.randperm(len(xtr), generator=gen)
        return ((order[k : k + cfg.batch_size],) for k in range(0, len(order), cfg.batch_size))

    t0 = time.perf_counter()
    steps = _loop(model, opt, cfg.max_epochs, batches,
                  lambda idx: torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]),
                  lambda: float((model(xev).argmax(1) == yev).float().mean()))
    return steps, time.perf_counter() - t0


def plain_dlrm(seed: int, cfg: Any) -> tuple[int, float]:
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    cat, dense, labels, _ = dlrm.make_data(cfg.train_samples + cfg.eval_samples)
    n = cfg.train_samples
    tc, td, ty = torch.from_numpy(cat[:n]), torch.from_numpy(dense[:n]), torch.from_numpy(labels[:n])
    ec, ed, ey = torch.from_numpy(cat[n:]), torch.from_numpy(dense[n:]), labels[n:]
    model = dlrm._model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    per_epoch = n // cfg.batch_size
    every = max(1, per_epoch // cfg.evals_per_epoch)
    steps = 0
    t0 = time.perf_counter()
    for _ in range(cfg.max_epochs):  # evaluation inside the epoch, as the workload does
        order = torch.randperm(n, generator=gen)
        model.train()
        for k in range(per_epoch):
            idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.binary_cross_entropy_with_logits(model(tc[idx], td[idx]), ty[idx]).backward()
            opt.step()
            steps += 1
            if (k + 1) % every == 0 or k + 1 == per_epoch:
                model.eval()
                with torch.inference_mode():
                    dlrm.auc(model(ec, ed).numpy(), ey)
                model.train()
    return steps, time.perf_counter() - t0


def plain_gpt(seed: int, cfg: Any) -> tuple[int, float]:
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    tr, va = gpt.corpus()
    train_data, val_data = torch.from_numpy(tr.astype(np.int64)), torch.from_numpy(va.astype(np.int64))
    model = gpt._model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    eval_starts = torch.randint(0, len(val_data) - cfg.context - 1, (cfg.eval_batches, cfg.batch_size),
                                generator=torch.Generator().manual_seed(12345))

    def batches() -> Any:
        for _ in range(cfg.steps_per_epoch):
            starts = torch.randint(0, len(train_data) - cfg.context - 1, (cfg.batch_size,), generator=gen)
            yield gpt._batch(train_data, starts, cfg.context)

    def val() -> float:
        return float(np.mean([float(torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1)))
                              for x, y in (gpt._batch(val_data, s, cfg.context) for s in eval_starts)]))

    t0 = time.perf_counter()
    steps = _loop(model, opt, cfg.max_epochs, batches,
                  lambda x, y: torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1)), val)
    return steps, time.perf_counter() - t0


WORKLOADS = {"digits": (digits, digits.DigitsConfig(), plain_digits), "dlrm": (dlrm, dlrm.DlrmConfig(), plain_dlrm),
             "gpt": (gpt, gpt.GptConfig(), plain_gpt)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=list(WORKLOADS), default="digits")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    module, base_cfg, plain = WORKLOADS[a.workload]
    cfg = dataclasses.replace(base_cfg, max_epochs=a.epochs, stop_at_target=False)
    logdir = Path(tempfile.mkdtemp())
    plain(0, dataclasses.replace(cfg, max_epochs=1))  # warm up torch and the data before either side
    ours, base = [], []
    for r in range(a.rounds):
        for side in ((0, 1) if r % 2 == 0 else (1, 0)):  # alternate which side goes first
            if side == 0:
                steps, secs = plain(r, cfg)
                base.append(steps / secs)
            else:
                with MLLogger(logdir / f"{r}.txt") as log:
                    f = module.train(r, log, cfg, step_hook=lambda n: None)
                ours.append(f["steps"] / f["train_seconds"])
        print(f"round {r}: plain {base[-1]:,.1f} steps/s, mlmeter {ours[-1]:,.1f} steps/s", flush=True)
    mb, mo = statistics.median(base), statistics.median(ours)
    print(f"\n{a.workload}, batch {cfg.batch_size}, {a.epochs} epoch(s) with evaluation, medians of {a.rounds}")
    print(f"plain PyTorch loop : {mb:10,.1f} steps/s")
    print(f"mlmeter workload   : {mo:10,.1f} steps/s")
    print(f"ratio              : {mo / mb:10.3f}   (target >= 0.98)")


if __name__ == "__main__":
    main()
