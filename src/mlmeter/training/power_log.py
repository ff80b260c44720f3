"""Training power in MLPerf's form (spec training_power.md §5.3): an MLLOG power file per node and run, and the
energy the official result summarizer computes from it.

``power/result_<i>/node_0.txt`` holds ``power_measurement_start``, ``conversion_eff`` (1.0, DC: the readings are
component estimates), one ``power_reading`` in watts per sample (each the average power over the interval that
ends at its timestamp) and ``power_measurement_stop``. The energy is the right-endpoint sum of reading × interval,
rescaled from the measured window to the run's time to train (run_start … run_stop of ``result_<i>.txt``).
"""

from __future__ import annotations

import socket
from pathlib import Path

from mlmeter.power import PowerTrace
from mlmeter.training.logfile import LogFile, read_log
from mlmeter.training.mllog import MLLogger


def node_log_path(output: Path, run: int, node: int = 0) -> Path:
    return output / "power" / f"result_{run}" / f"node_{node}.txt"


def write_node_log(path: Path, trace: PowerTrace) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    start_ms = trace.wall_start * 1000
    host = socket.gethostname()
    with MLLogger(path) as log:
        log.start("power_measurement_start", time_ms=int(start_ms))
        log.event("conversion_eff", 1.0, metadata={"measurement_type": "DC"}, time_ms=int(start_ms))
        for t, w in zip(trace.times, trace.watts, strict=True):
            log.event("power_reading", w, metadata={"host": host}, time_ms=int(start_ms + t * 1000))
        log.end("power_measurement_stop", time_ms=int(start_ms + trace.duration_s * 1000))


def time_to_train_ms(log: LogFile) -> float | None:
    start, stop = log.first("run_start"), log.first("run_stop")
    return stop.time_ms - start.time_ms if start and stop else None


def node_energy_j(node: LogFile, ttt_ms: float) -> float:
    """The summarizer's energy of one node: Σ reading × (t − previous t) from power_measurement_start, times the
    conversion efficiency, scaled by time to train / window; joules."""
    records = sorted(node.records, key=lambda r: r.time_ms)
    start = next((r.time_ms for r in records if r.key == "power_measurement_start"), None)
    if start is None:
        raise ValueError(f"{node.path}: no power_measurement_start")
    stop = next((r.time_ms for r in records if r.key == "power_measurement_stop"), None)
    eff = next((float(r.value) for r in records if r.key == "conversion_eff"), 1.0)
    prev, total, last = start, 0.0, start
    for r in records:
        if r.key == "power_reading" and r.time_ms >= start and (stop is None or r.time_ms <= stop):
            total += float(r.value) * (r.time_ms - prev)
            prev = last = r.time_ms
    window = (stop if stop is not None else last) - start
    return eff * total * ttt_ms / window / 1000 if window > 0 else 0.0


def energy_to_train_j(output: Path, run: int, result_log: Path) -> float | None:
    """Energy to train of run ``run`` from its node files and its result log (None without both)."""
    ttt = time_to_train_ms(read_log(result_log)) if result_log.is_file() else None
    nodes = sorted(node_log_path(output, run).parent.glob("node_*.txt"))
    if ttt is None or not nodes:
        return None
    return sum(node_energy_j(read_log(n), ttt) for n in nodes)
