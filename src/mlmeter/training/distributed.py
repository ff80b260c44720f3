"""Data parallelism on ``torch.distributed``: the process group from torchrun's environment (gloo on CPU, NCCL
on GPUs), each rank's share of a global batch, and the model wrapped in DistributedDataParallel."""

from __future__ import annotations

import os
from typing import Any


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) outside it."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def init() -> tuple[int, int]:
    """Join the process group when started by torchrun with several workers; returns (rank, world size)."""
    rank, size = world()
    if size > 1:
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank, size


def wrap(model: Any) -> Any:
    _, size = world()
    if size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def shard(idx: Any) -> Any:
    """This rank's part of a global batch of indices (rank, rank + size, …)."""
    rank, size = world()
    return idx[rank::size] if size > 1 else idx


def shutdown() -> None:
    """Leave the process group together: a barrier first, so no rank tears down gloo's connections while a peer
    still uses them (which aborts that peer with SIGABRT on a loaded machine)."""
    _, size = world()
    if size > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
