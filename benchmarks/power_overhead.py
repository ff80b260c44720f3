"""Cost of power sampling: SingleStream throughput of the digits model with and without a 10 Hz sampler.

This machine exposes no RAPL counters, so the sampled source is a RAPL tree written to a temporary directory
(the same file reads the real one makes). Runs alternate; medians are compared. Target: ≤ 1 % lost.

    python benchmarks/power_overhead.py --seconds 5 --rounds 6
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mlmeter.inference import InferConfig, prepare, run_scenario
from mlmeter.loadgen import TestScenario
from mlmeter.power import PowerSampler, RaplSource
from mlmeter.power import meter as power_meter


def fake_rapl(root: Path) -> Path:
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:0", "dram")):
        z = root / zone
        z.mkdir(parents=True, exist_ok=True)
        (z / "energy_uj").write_text("1000")
        (z / "max_energy_range_uj").write_text("262143328850")
        (z / "name").write_text(name)
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    root = fake_rapl(work / "powercap")
    power_meter.open_sources = lambda names: ([RaplSource(root)], [])  # type: ignore[assignment]
    qps: dict[bool, list[float]] = {False: [], True: []}
    preps = {}
    for power in (False, True):
        cfg = InferConfig(backend="onnxruntime", model="digits", duration_s=a.seconds, auto_targets=True, threads=1,
                          output=work / f"p{int(power)}", power=("rapl",) if power else ())
        preps[power] = prepare(cfg)
        preps[power].qsl.retain = True
    for r in range(a.rounds):
        for power in ((False, True) if r % 2 == 0 else (True, False)):
            o = run_scenario(preps[power], TestScenario.SingleStream)
            qps[power].append(o.result.performance.metrics["qps_with_loadgen_overhead"])  # type: ignore[union-attr]
        print(f"round {r}: without {qps[False][-1]:,.0f} q/s, with 10 Hz sampling {qps[True][-1]:,.0f} q/s", flush=True)
    off, on = statistics.median(qps[False]), statistics.median(qps[True])
    sampler = PowerSampler([RaplSource(root)])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sampler.start()
    time.sleep(a.seconds)  # the main thread idles: the process's CPU time is the sampler's
    sampler.stop()
    cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    print(f"\nSingleStream digits, {a.seconds:g} s runs, medians of {a.rounds}")
    print(f"without power sampling : {off:10,.0f} queries/s")
    print(f"with 10 Hz sampling    : {on:10,.0f} queries/s")
    print(f"cost                   : {100 * (1 - on / off):9.2f} %   (target <= 1 %; run-to-run noise here is ~10 %)")
    print(f"sampler CPU, measured alone: {100 * cpu_share:.3f} % of one core (the upper bound of its cost)")


if __name__ == "__main__":
    main()
