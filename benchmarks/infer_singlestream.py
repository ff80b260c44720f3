"""SingleStream latency: mlmeter's p50 against plain ``session.run`` on one sample, same session and samples.

Two models: ResNet-50 v1.5 architecture with random weights (~tens of ms a query) and the embedded digits MLP
(~tens of µs, where harness overhead shows). Target: mlmeter p50 ≤ plain p50 + max(5 %, 100 µs). Usage::

    python benchmarks/infer_singlestream.py            # 15 s per run
    python benchmarks/infer_singlestream.py --seconds 5 --models digits
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from resnet50_onnx import build  # noqa: E402

from mlmeter.inference import InferConfig, prepare, run_scenario  # noqa: E402
from mlmeter.loadgen import TestScenario  # noqa: E402
from mlmeter.workloads.fake_imagenet import make_fake_imagenet  # noqa: E402


def plain_p50(session, name: str, data: np.ndarray, seconds: float) -> float:
    lat = []
    t_end = time.perf_counter() + seconds
    k = 0
    while time.perf_counter() < t_end:
        x = data[k % len(data)][None]
        t0 = time.perf_counter_ns()
        session.run(None, {name: x})
        lat.append(time.perf_counter_ns() - t0)
        k += 1
    return float(np.percentile(lat, 50))


def config(model: str, work: Path, seconds: float) -> InferConfig:
    if model == "digits":
        return InferConfig(backend="onnxruntime", model="digits", duration_s=seconds, auto_targets=True,
                           output=work / "digits", threads=1)
    make_fake_imagenet(work / "data", 32, seed=2)
    return InferConfig(backend="onnxruntime", model="resnet50", duration_s=seconds, auto_targets=True,
                       dataset_path=work / "data", model_path=build(work / "r50.onnx"), output=work / "r50",
                       max_batchsize=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--models", default="resnet50,digits")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlmeter-bench-"))
    rows = []
    for model in a.models.split(","):
        p = prepare(config(model, work, a.seconds))
        p.qsl.retain = True
        n = min(len(p.dataset), 64)
        p.qsl.load_samples(list(range(n)))
        data = p.qsl.data.copy()
        name = p.model.inputs[0].name
        plain = plain_p50(p.backend._session, name, data, a.seconds)
        o = run_scenario(p, TestScenario.SingleStream)
        ours = float(o.document["loadgen"]["latency"]["p50"])
        p.close()
        rows.append((model, plain, ours, o.verdict))
        print(f"{model}: plain p50 {plain / 1e3:.1f} µs, mlmeter p50 {ours / 1e3:.1f} µs ({o.verdict})", flush=True)
    print("\nSingleStream p50 latency, same session, one sample per query")
    print(f"{'model':10} {'plain µs':>12} {'mlmeter µs':>12} {'extra µs':>10} {'ratio':>7}  allowed extra")
    for model, plain, ours, _ in rows:
        allowed = max(0.05 * plain, 100_000)
        print(f"{model:10} {plain / 1e3:12.1f} {ours / 1e3:12.1f} {(ours - plain) / 1e3:10.1f} {ours / plain:7.3f}  "
              f"{allowed / 1e3:.1f} µs -> {'met' if ours - plain <= allowed else 'NOT met'}")


if __name__ == "__main__":
    main()
