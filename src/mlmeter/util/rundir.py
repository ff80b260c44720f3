"""Run directories: a run never writes into a directory that holds an earlier run."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from mlmeter.errors import MlmeterError

# What marks a directory as (part of) a run of mlmeter's or of the official tools'.
RUN_FILES = ("result.json", "mlperf_log_detail.txt", "mlperf_log_summary.txt", "result_0.txt", "summary.json")


class RunDirectoryTaken(MlmeterError):
    """The directory a run was told to write to already holds files."""


def run_directory(base: Path) -> Path:
    """A new ``<base>/<timestamp>[_k]`` directory (never an existing one: runs are immutable)."""
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    out, k = base / stamp, 1
    while out.exists():
        out, k = base / f"{stamp}_{k}", k + 1
    out.mkdir(parents=True)
    return out


def _in_use(path: Path) -> bool:
    if path.exists() and not path.is_dir():
        raise MlmeterError(f"{path} exists and is not a directory; choose a directory for the run's files")
    return path.is_dir() and any(path.iterdir())


def _holds_run(path: Path) -> bool:
    return any(next(path.rglob(m), None) is not None for m in RUN_FILES)


def fresh_directory(path: Path, *, given: bool, overwrite: bool = False, option: str = "--output") -> Path:
    """The directory a new run may write to.

    A directory that does not exist or is empty is used as it is. One that holds files is replaced only
    with ``overwrite`` (and only if what it holds is a run); a default one is moved aside to ``<path>-2``,
    ``-3``, …; a given one is refused.
    """
    if not _in_use(path):
        return path
    if overwrite:
        if not _holds_run(path):
            raise RunDirectoryTaken(f"{path} holds files that are not a run's; {option} with --overwrite replaces "
                                    "only an earlier run's directory: choose another")
        shutil.rmtree(path)
        return path
    if given:
        raise RunDirectoryTaken(f"{path} already holds an earlier run's files; choose a new {option}, "
                                "or pass --overwrite to replace them")
    k = 2
    while _in_use(path.with_name(f"{path.name}-{k}")):
        k += 1
    return path.with_name(f"{path.name}-{k}")
