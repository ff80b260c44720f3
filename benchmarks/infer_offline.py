"""Offline throughput: mlmeter's harness against a plain ONNX Runtime loop over the same pre-processed batches.

ResNet-50 v1.5 architecture with random weights (benchmarks/resnet50_onnx.py), fake ImageNet images, the same
batch size and intra-op threads on both sides; runs alternate (plain, mlmeter, plain, mlmeter, …) and the
medians are compared. Target: mlmeter ≥ 97 % of the plain loop. Usage::

    python benchmarks/infer_offline.py                 # 20 s per run, 2 rounds
    python benchmarks/infer_offline.py --seconds 5 --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from resnet50_onnx import build  # noqa: E402

from mlmeter.inference import InferConfig, prepare, run_scenario  # noqa: E402
from mlmeter.loadgen import TestScenario  # noqa: E402
from mlmeter.workloads.fake_imagenet import make_fake_imagenet  # noqa: E402


def plain_loop(session, batches, seconds: float) -> float:
    """Samples per second of back-to-back ``session.run`` calls cycling over the batches."""
    done, k = 0, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        b = batches[k % len(batches)]
        session.run(None, {"input_tensor:0": b})
        done += len(b)
        k += 1
    return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=64)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlmeter-bench-"))
    model = build(work / "resnet50_random.onnx")
    make_fake_imagenet(work / "data", a.images, seed=1)
    user_conf = work / "user.conf"  # mlperf.conf's 24576-sample Offline minimum would take an hour on a CPU
    user_conf.write_text("resnet50.Offline.min_query_count = 1\n")
    cfg = InferConfig(user_conf=user_conf, backend="onnxruntime", model="resnet50", scenarios=(TestScenario.Offline,), duration_s=a.seconds,
                      auto_targets=True, dataset_path=work / "data", model_path=model, output=work / "out",
                      max_batchsize=a.batch, threads=a.threads)
    p = prepare(cfg)
    p.qsl.retain = True
    p.qsl.load_samples(list(range(a.images)))
    data = p.qsl.data.copy()
    batches = [data[i : i + a.batch] for i in range(0, len(data) - a.batch + 1, a.batch)]
    session = p.backend._session  # the same session: same threads, same optimised graph
    plain, ours = [], []
    for r in range(a.rounds):
        plain.append(plain_loop(session, batches, a.seconds))
        o = run_scenario(p, TestScenario.Offline)
        ours.append(float(o.document["scenario_value"]))
        print(f"round {r + 1}: plain {plain[-1]:.2f} samples/s, mlmeter {ours[-1]:.2f} samples/s "
              f"({o.verdict}, mean batch {o.document['harness']['mean_batch_size']:.1f})", flush=True)
    p.close()
    mp, mo = statistics.median(plain), statistics.median(ours)
    print(f"\nOffline ResNet-50 (random weights), batch {a.batch}, {a.threads} threads")
    print(f"plain onnxruntime loop : {mp:10.2f} samples/s")
    print(f"mlmeter Offline        : {mo:10.2f} samples/s")
    print(f"ratio mlmeter / plain  : {mo / mp:10.3f}   (target >= 0.97)")


if __name__ == "__main__":
    main()
