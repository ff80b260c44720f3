"""The `gpt` training workload: a small decoder-only transformer (byte-level) on Python standard-library source
text, trained to a validation loss target (nats per byte, logged as ``eval_accuracy`` as GPT-3's log
perplexity is: lower is better).

Corpus: the source of a fixed list of pure-Python standard-library modules, split 90/10 into training and
validation bytes. It is the running interpreter's own source, so runs are comparable within one Python minor
version (the version is logged as ``config_filename``-style metadata in the run's result).
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlmeter.training import distributed
from mlmeter.training.checkpoint import Checkpointer, save
from mlmeter.training.mllog import MLLogger
from mlmeter.training.timeline import TrainConfig, begin_run, end_run, evaluate, optimize

BENCHMARK = "mlmeter_gpt"
TARGET = 1.8
RUNS = 3
LOWER_IS_BETTER = True
_MODULES = ("argparse", "ast", "calendar", "collections", "configparser", "csv", "dataclasses", "difflib", "email.message",
            "enum", "fractions", "functools", "gettext", "heapq", "inspect", "ipaddress", "json.decoder", "logging",
            "pathlib", "pprint", "shlex", "statistics", "string", "textwrap", "tokenize", "typing")


@dataclass(frozen=True)
class GptConfig(TrainConfig):
    learning_rate: float = 0.003
    max_epochs: int = 30
    context: int = 64
    width: int = 96
    layers: int = 2
    heads: int = 4
    steps_per_epoch: int = 100
    eval_batches: int = 20


def corpus() -> tuple[np.ndarray, np.ndarray]:
    """(training bytes, validation bytes) of the standard-library sources, as uint8 arrays."""
    text = "\n".join(inspect.getsource(importlib.import_module(m)) for m in _MODULES).encode("utf-8")
    data = np.frombuffer(text, dtype=np.uint8)
    cut = int(len(data) * 0.9)
    return data[:cut], data[cut:]


def _model(cfg: GptConfig) -> Any:
    import torch

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = torch.nn.LayerNorm(cfg.width), torch.nn.LayerNorm(cfg.width)
            self.attn = torch.nn.MultiheadAttention(cfg.width, cfg.heads, batch_first=True)
            self.mlp = torch.nn.Sequential(torch.nn.Linear(cfg.width, 4 * cfg.width), torch.nn.GELU(),
                                           torch.nn.Linear(4 * cfg.width, cfg.width))

        def forward(self, x: Any, mask: Any) -> Any:
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class Gpt(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = torch.nn.Embedding(256, cfg.width)
            self.pos = torch.nn.Embedding(cfg.context, cfg.width)
            self.blocks = torch.nn.ModuleList(Block() for _ in range(cfg.layers))
            self.ln = torch.nn.LayerNorm(cfg.width)
            self.head = torch.nn.Linear(cfg.width, 256)
            self.register_buffer("mask", torch.triu(torch.full((cfg.context, cfg.context), float("-inf")), 1))

        def forward(self, idx: Any) -> Any:
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(torch.arange(t))
            mask: Any = self.mask
            for b in self.blocks:
                x = b(x, mask[:t, :t])
            return self.head(self.ln(x))

    return Gpt()


def _batch(data: Any, starts: Any, context: int) -> tuple[Any, Any]:
    import torch

    offsets = starts[:, None] + torch.arange(context + 1)[None, :]
    chunk = data[offsets]
    return chunk[:, :-1], chunk[:, 1:]


def train(seed: int, log: MLLogger, cfg: GptConfig | None = None, *, org: str = "mlmeter", platform: str = "cpu",
          step_hook: Any = None, ckpt: Checkpointer | None = None) -> dict[str, Any]:
    import torch

    cfg = cfg or GptConfig()
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    tr, va = corpus()
    train_data, val_data = torch.from_numpy(tr.astype(np.int64)), torch.from_numpy(va.astype(np.int64))
    model = distributed.wrap(_model(cfg))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    first, steps, resumed = begin_run(log, ckpt, (model, opt, gen), benchmark=BENCHMARK, seed=seed, cfg=cfg,
                                      train_samples=len(tr) // cfg.context,
                                      eval_samples=cfg.eval_batches * cfg.batch_size, org=org, platform=platform)
    status, value = "aborted", float("inf")
    t0 = time.perf_counter()
    eval_gen = torch.Generator().manual_seed(12345)  # the same validation windows for every run and epoch
    eval_starts = torch.randint(0, len(val_data) - cfg.context - 1, (cfg.eval_batches, cfg.batch_size),
                                generator=eval_gen)
    epoch = first - 1
    for epoch in range(first, cfg.max_epochs + 1):
        log.start("epoch_start", metadata={"epoch_num": epoch})
        model.train()
        for _ in range(cfg.steps_per_epoch):
            starts = distributed.shard(torch.randint(0, len(train_data) - cfg.context - 1, (cfg.batch_size,),
                                                     generator=gen))
            x, y = _batch(train_data, starts, cfg.context)
            optimize(opt, torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1)))
            steps += 1
            if step_hook is not None:
                step_hook(steps)
        log.end("epoch_stop", metadata={"epoch_num": epoch})

        def val_loss() -> float:
            return float(np.mean([float(torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1)))
                                  for x, y in (_batch(val_data, s, cfg.context) for s in eval_starts)]))

        value = evaluate(log, model, epoch, val_loss)
        if value <= TARGET:
            status = "success"
            if cfg.stop_at_target:
                break
        if ckpt is not None and ckpt.due(epoch):
            save(ckpt, model, opt, gen, epoch, steps)
    return end_run(log, ckpt, resumed, seed=seed, status=status, epoch_num=epoch, steps=steps, value=value,
                   started=t0, python=sys.version.split()[0])
