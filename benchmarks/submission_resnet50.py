"""From full-length runs to a checked MLPerf Inference package: ResNet-50 on generated images, then mlmeter's check
and the official submission checker side by side.

ResNet-50 v1.5 with random weights and the official signature (benchmarks/resnet50_onnx.py) on 50,000 generated
ImageNet-layout images (the accuracy run covers the whole dataset, as the rules require); each scenario runs its
accuracy pass, its performance run (mlperf.conf's 600 s) and the TEST01 and TEST04 audits, which mlmeter verifies;
``mlmeter submission pack`` lays out the package and both checkers judge it. The random network cannot meet the
closed division's quality target (76.46 % × 0.99 top-1), so a closed package is expected to fail on accuracy
alone. Usage (the work directory is reused: images, model and each scenario's finished runs are kept, so an
interrupted package resumes at the scenario it was in)::

    python benchmarks/submission_resnet50.py --work /var/tmp/mlmeter-submission              # open, Offline (~1.7 h)
    python benchmarks/submission_resnet50.py --division closed --backend openvino \
        --scenario SingleStream,MultiStream,Offline                                            # ~2.3 h here

ONNX Runtime computes in fp32 (about 24 samples/s on this 2-core VM: five hours for the closed runs); OpenVINO
computes the same model in bf16 on a CPU with AMX or AVX-512 BF16 (about 215 samples/s here), and the system
file says so.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from resnet50_onnx import build  # noqa: E402

SYSTEM = """\
status: available
system_type: edge
cooling: air
host_memory_configuration: virtual machine memory (not reported by the hypervisor)
host_networking_topology: N/A (one node)
hw_notes: a 2-core virtual machine; ResNet-50 with random weights on generated images (a benchmark of the flow)
sw_notes: {runtime} on the CPU through mlmeter
measurements:
  retraining: "no"
  weight_data_types: {precision}
  weight_transformations: {transformations}
"""


def system_yaml(runs: list[str]) -> str:
    """The system file: what ran the model, and in which precision, as the runs' records say (OpenVINO computes in
    bf16 where the CPU has AMX or AVX-512 BF16, whatever the model's precision; ONNX Runtime in the model's)."""
    backend = json.loads(next(Path(runs[0]).rglob("result.json")).read_text())["body"]["backend"]
    precision = backend["settings"].get("inference_precision", "f32")
    runtime = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}.get(backend["name"], backend["name"])
    how = "none" if precision == "f32" else f"fp32 weights run in {precision} by {runtime} (its default on this CPU)"
    return SYSTEM.format(runtime=runtime, precision="fp32" if precision == "f32" else precision,
                         transformations=f"{how}; random weights of the ResNet-50 v1.5 architecture")


def step(name: str, cmd: list[str], cwd: Path | None = None) -> tuple[int, str, float]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t
    print(f"== {name}: exit {proc.returncode} in {took / 60:.1f} min", flush=True)
    return proc.returncode, proc.stdout + proc.stderr, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/mlmeter-submission"))
    ap.add_argument("--division", choices=["open", "closed"], default="open")
    ap.add_argument("--scenario", default="Offline")
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--backend", choices=["onnxruntime", "openvino"], default="onnxruntime",
                    help="openvino: 7.7x ONNX Runtime's Offline throughput here (bf16 on this CPU's AMX)")
    ap.add_argument("--oracles", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "oracles"
                    / "mlperf-inference")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    mlmeter = [sys.executable, "-m", "mlmeter.cli.main"]
    model = a.work / "resnet50_random.onnx"
    if not model.is_file():
        build(model)
    images = a.work / f"fake_imagenet_{a.images}"
    if not (images / "val_map.txt").is_file():
        code, out, _ = step(f"generate {a.images:,} images", [*mlmeter, "dataset", "fake-imagenet", str(images),
                                                              "--count", str(a.images)])
        if code:
            print(out)
            return code
    runs = []
    for scenario in a.scenario.split(","):  # one run directory per scenario, kept once finished: a long closed
        done = a.work / f"runs-{a.backend}-{scenario}"  # package can be built over several sittings
        going = a.work / f"runs-{a.backend}-{scenario}-incomplete"
        if not done.is_dir():
            shutil.rmtree(going, ignore_errors=True)  # an interrupted attempt starts over
            _, out, _ = step(f"accuracy, performance, TEST04, TEST01 of {scenario}", [
                *mlmeter, "infer", "--backend", a.backend, "--model", "resnet50", "--model-path", str(model),
                "--dataset-path", str(images), "--scenario", scenario, "--mode", "accuracy,performance",
                # TEST04 first: it is held against the performance run, so it runs right after it (this VM's
                # speed drifts by over 10 % across the tens of minutes TEST01 takes)
                "--compliance", "TEST04,TEST01", "--auto-targets", "--output", str(going), "--quiet"])
            print(out[-4000:])
            if not going.is_dir():
                return 1
            going.rename(done)
        runs.append(str(done))
    (a.work / "system.yaml").write_text(system_yaml(runs))
    pkg = a.work / (f"package-{a.backend}-{a.division}-{a.scenario.replace(',', '-')}-"
                    f"{time.strftime('%Y%m%d-%H%M%S')}")
    code, out, _ = step("mlmeter submission pack", [*mlmeter, "submission", "pack", *runs, "--system",
                                                    str(a.work / "system.yaml"), "--division", a.division, "--org",
                                                    "mlmeter", "--output", str(pkg)])
    print(out)
    if not pkg.is_dir():
        return 1
    mine_code, mine, _ = step("mlmeter submission check", [*mlmeter, "submission", "check", str(pkg)])
    print(mine)
    tools = a.oracles / "tools" / "submission"
    theirs_code, theirs, _ = step("official submission checker (v6.1)", [
        sys.executable, "-m", "submission_checker.main", "--input", str(pkg.resolve()), "--version", "v6.1",
        "--csv", str(a.work / "summary.csv")], cwd=tools)
    errors = [line for line in theirs.splitlines() if " ERROR]" in line and "Some " not in line]
    print("\n".join(errors[-40:]) or "(no ERROR lines)")
    print("\n".join(line for line in theirs.splitlines() if re.search(r"Results=|SUMMARY", line)))
    print(f"\nmlmeter check exit {mine_code}, official checker exit {theirs_code}: "
          f"{'agree' if (mine_code == 0) == (theirs_code == 0) else 'DISAGREE'}")
    code, table, _ = step("mlmeter submission table", [*mlmeter, "submission", "table", str(pkg)])
    print(table)
    try:  # the official final report needs pandas and xlsxwriter (pip install xlsxwriter)
        import xlsxwriter  # noqa: F401
    except ImportError:
        print("(xlsxwriter not installed: the official final report is skipped)")
    else:
        step("official generate_final_report.py", [sys.executable, str(tools / "generate_final_report.py"), "--input",
                                                   str(a.work / "summary.csv"), "--version", "6.1"], cwd=a.work)
        results = a.work / "summary_results.json"
        print(results.read_text() if results.is_file() else "(no summary_results.json)")
    return 0 if (mine_code == 0) == (theirs_code == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
