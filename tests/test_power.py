"""Power: RAPL counters (with wrap-around) from a sysfs tree, background sampling, MLPerf's power metrics, and
the power section of an inference result."""

from __future__ import annotations

import json
import threading
import time

import pytest

from mlmeter.power import PowerSampler, PowerTrace, PowerUnavailable, RaplSource, open_sources, power_metrics


def _zone(root, name, energy, max_uj, sub=None):
    z = root / name
    z.mkdir(parents=True)
    (z / "energy_uj").write_text(str(energy))
    (z / "max_energy_range_uj").write_text(str(max_uj))
    (z / "name").write_text(sub or "package-0")
    return z


def test_rapl_sums_domains_and_survives_wrap_around(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", 900, 1000)
    dram = _zone(tmp_path / "intel-rapl:0", "intel-rapl:0:0", 50, 10_000, sub="dram")
    _zone(tmp_path / "intel-rapl:0", "intel-rapl:0:1", 0, 10_000, sub="core")  # not counted (inside package)
    src = RaplSource(tmp_path)
    assert src.domains == ["intel-rapl:0", "intel-rapl:0:0"]
    assert src.energy_j() == 0.0
    (pkg / "energy_uj").write_text("100")  # wrapped: 900 -> 1000 -> 100 is 200 µJ
    (dram / "energy_uj").write_text("350")  # +300 µJ
    assert src.energy_j() == pytest.approx(500e-6)


def test_missing_rapl_says_why(tmp_path):
    with pytest.raises(PowerUnavailable, match="no intel-rapl zones"):
        RaplSource(tmp_path)
    sources, problems = open_sources(["rapl", "bogus"])
    assert not [s for s in sources if s.name == "bogus"] and any("unknown power source 'bogus'" in p for p in problems)


class _Linear:
    """A source consuming ``watts`` steadily; stops answering after ``dies_after`` s if given."""

    name, boundary, metered = "fake", "fake board", True

    def __init__(self, watts, dies_after=None):
        self.watts, self.t0, self.dies_after = watts, time.perf_counter(), dies_after

    def energy_j(self):
        t = time.perf_counter() - self.t0
        if self.dies_after is not None and t > self.dies_after:
            raise OSError("device gone")
        return self.watts * t


def test_sampler_measures_the_window(tmp_path):
    sampler = PowerSampler([_Linear(40.0)], hz=20)
    sampler.start()
    time.sleep(0.3)
    trace = sampler.stop()
    assert trace.average_watts == pytest.approx(40.0, rel=0.05) and len(trace.watts) >= 3
    assert all(w == pytest.approx(40.0, rel=0.2) for w in trace.watts)


def test_a_vanishing_source_is_noted_not_raised():
    sampler = PowerSampler([_Linear(10.0, dies_after=0.1), _Linear(5.0)], hz=50)
    sampler.start()
    time.sleep(0.3)
    trace = sampler.stop()
    assert any("fake stopped answering: device gone" in e for e in trace.errors)
    assert threading.active_count() >= 1 and trace.energy_j > 0


def test_mlperf_power_formulas():
    t = PowerTrace(energy_j=500.0, duration_s=10.0)
    off = power_metrics("Offline", t, performance=2000.0, query_count=1, samples_per_query=1)
    assert off["power_metric"] == 50.0 and off["power_unit"] == "Watts" and off["samples_per_joule"] == 40.0
    ss = power_metrics("SingleStream", t, performance=None, query_count=1000, samples_per_query=1)
    assert ss["power_metric"] == pytest.approx(500.0) and ss["power_unit"] == "millijoules per query"
    ms = power_metrics("MultiStream", t, performance=None, query_count=1000, samples_per_query=8)
    assert ms["samples_per_joule"] == pytest.approx(16.0)


def test_inference_result_carries_power(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from mlmeter.inference import InferConfig, harness, run_inference
    from mlmeter.loadgen import TestScenario

    monkeypatch.setattr(harness, "open_sources", lambda names: ([_Linear(25.0)], ["rapl: not here"]))
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(TestScenario.Offline,), duration_s=0.5,
                      auto_targets=True, output=tmp_path, power=("auto",))
    (o,) = run_inference(cfg)
    pw = json.loads((o.outdir / "result.json").read_text())["power"]
    assert pw["sources"] == ["fake"] and pw["measured"] == "metered" and pw["unavailable"] == ["rapl: not here"]
    assert pw["average_watts"] == pytest.approx(25.0, rel=0.1) and pw["power_unit"] == "Watts"
    assert pw["samples_per_joule"] > 0 and len(pw["trace"]["watts"]) >= 1
