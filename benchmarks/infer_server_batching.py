"""Server: the highest VALID target QPS with dynamic batching against the same SUT without batching.

For each SUT the script bisects the Server target QPS (short runs, a fixed latency bound) once with
``--max-batchsize 1`` and once with batching, and prints the ratio. Target: ≥ 1.3×. Two SUTs:

- ``simulated``: an accelerator-like backend, one batch at a time, 2 ms + 0.25 ms per sample;
- ``digits``: the embedded MLP on ONNX Runtime CPU (per-call overhead dominates, as for small models).

Usage::

    python benchmarks/infer_server_batching.py                     # 5 s per probe
    python benchmarks/infer_server_batching.py --seconds 3 --suts simulated
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mlmeter.inference import InferConfig, prepare, run_scenario
from mlmeter.loadgen import TestScenario

SUTS = {
    "simulated": dict(backend="simulated", backend_options={"fixed_ms": 2.0, "per_sample_ms": 0.25}),
    "digits": dict(backend="onnxruntime", threads=1),
}


def valid_at(sut: str, batch: int, qps: float, seconds: float, bound_s: float, out: Path) -> bool:
    cfg = InferConfig(model="digits", scenarios=(TestScenario.Server,), duration_s=seconds, qps=qps,
                      max_latency_s=bound_s, max_batchsize=batch, output=out, **SUTS[sut])  # type: ignore[arg-type]
    p = prepare(cfg)
    try:
        o = run_scenario(p, TestScenario.Server)
    finally:
        p.close()
    return o.verdict == "VALID"


def peak(sut: str, batch: int, lo: float, hi: float, seconds: float, bound_s: float, steps: int, out: Path) -> float:
    """Bisect on a log scale between a passing ``lo`` and a failing ``hi``; returns the best passing QPS."""
    while not valid_at(sut, batch, lo, seconds, bound_s, out):
        lo, hi = lo / 2, lo
    while valid_at(sut, batch, hi, seconds, bound_s, out):
        lo, hi = hi, hi * 2
    for _ in range(steps):
        mid = (lo * hi) ** 0.5
        if valid_at(sut, batch, mid, seconds, bound_s, out):
            lo = mid
        else:
            hi = mid
        print(f"  {sut} batch {batch}: VALID at {lo:,.0f}, INVALID at {hi:,.0f}", flush=True)
    return lo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--suts", default="simulated,digits")
    ap.add_argument("--bound-ms", type=float, default=50)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="mlmeter-bench-"))
    rows = []
    for sut in a.suts.split(","):
        start = 100.0 if sut == "simulated" else 500.0
        single = peak(sut, 1, start, start * 4, a.seconds, a.bound_ms / 1000, a.steps, out)
        batched = peak(sut, a.batch, single, single * 2, a.seconds, a.bound_ms / 1000, a.steps, out)
        rows.append((sut, single, batched))
    print(f"\nServer peak VALID QPS, latency bound {a.bound_ms:g} ms, {a.seconds:g} s probes")
    print(f"{'SUT':10} {'batch 1':>10} {f'batch {a.batch}':>10} {'ratio':>7}")
    for sut, single, batched in rows:
        print(f"{sut:10} {single:10,.0f} {batched:10,.0f} {batched / single:7.2f}   (target >= 1.3)")


if __name__ == "__main__":
    main()
