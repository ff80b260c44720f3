"""Training step throughput: the digits workload inside mlmeter (MLLOG events, timing, step hook) against the
same model, data, batches and evaluation in a plain PyTorch loop. Target: mlmeter ≥ 98 % of the plain loop.

    python benchmarks/train_overhead.py --epochs 40 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mlmeter.training import digits
from mlmeter.training.mllog import MLLogger


def plain(seed: int, cfg: digits.DigitsConfig) -> tuple[int, float]:
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    xtr, ytr, xev, yev = (torch.from_numpy(a) for a in digits.load_data())
    model = torch.nn.Sequential(torch.nn.Linear(64, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    steps = 0
    t0 = time.perf_counter()
    for _ in range(cfg.max_epochs):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        for k in range(0, len(order), cfg.batch_size):
            idx = order[k : k + cfg.batch_size]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            steps += 1
        model.eval()
        with torch.inference_mode():
            float((model(xev).argmax(1) == yev).float().mean())
    return steps, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    cfg = digits.DigitsConfig(max_epochs=a.epochs, stop_at_target=False)
    logdir = Path(tempfile.mkdtemp())
    ours, base = [], []
    plain(0, digits.DigitsConfig(max_epochs=2, stop_at_target=False))  # warm up torch before either side
    for r in range(a.rounds):
        for side in ((0, 1) if r % 2 == 0 else (1, 0)):  # alternate which side goes first
            if side == 0:
                steps, secs = plain(r, cfg)
                base.append(steps / secs)
            else:
                with MLLogger(logdir / f"{r}.txt") as log:
                    f = digits.train(r, log, cfg, step_hook=lambda n: None)
                ours.append(f["steps"] / f["train_seconds"])
        print(f"round {r}: plain {base[-1]:,.0f} steps/s, mlmeter {ours[-1]:,.0f} steps/s", flush=True)
    mb, mo = statistics.median(base), statistics.median(ours)
    print(f"\ndigits MLP, batch {cfg.batch_size}, {a.epochs} epochs with evaluation, medians of {a.rounds}")
    print(f"plain PyTorch loop : {mb:10,.0f} steps/s")
    print(f"mlmeter workload   : {mo:10,.0f} steps/s")
    print(f"ratio              : {mo / mb:10.3f}   (target >= 0.98)")


if __name__ == "__main__":
    main()
