"""``mlmeter report`` on a run of 10 million samples: time and file size (targets: ≤ 10 s, ≤ 5 MB).

The run is a real LoadGen Offline test of 10 M samples against the null SUT; its ``result.json`` holds the
summaries the report draws (latency histogram, issued/completed timeline), never the raw latencies.

    python benchmarks/report_10m.py [--samples 10000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlmeter.loadgen import LogSettings, TestScenario, TestSettings, run_test
from mlmeter.loadgen.simulated import MemoryQSL, NullSUT


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10_000_000)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    s = TestSettings(scenario=TestScenario.Offline, min_duration_ms=1000, min_query_count=1,
                     offline_expected_qps=a.samples / 1.1)
    t0 = time.perf_counter()
    r = run_test(NullSUT(), MemoryQSL(1024, 1024), s, LogSettings(outdir=str(work / "run")))
    run_s = time.perf_counter() - t0
    assert r.performance is not None
    n = r.performance.sample_count
    doc_kb = (work / "run" / "result.json").stat().st_size / 1024
    out = work / "report.html"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlmeter.cli.main", "report", str(work / "run"), "--output", str(out)],
                   check=True, capture_output=True)
    report_s = time.perf_counter() - t0
    size_mb = out.stat().st_size / 1e6
    hist = json.loads((work / "run" / "result.json").read_text())["body"]["latency_histogram"]
    assert sum(hist["counts"]) == n
    print(f"run: {n:,} samples in {run_s:.1f} s; result.json {doc_kb:,.0f} kB")
    print(f"report (whole command, Python start-up included): {report_s:.2f} s  (target <= 10 s: "
          f"{report_s / 10:.1%} of the budget)")
    print(f"report file: {size_mb:.3f} MB  (target <= 5 MB: {size_mb / 5:.1%} of the budget)")


if __name__ == "__main__":
    main()
