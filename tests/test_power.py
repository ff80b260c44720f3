"""Power: RAPL counters (with wrap-around) from a sysfs tree, background sampling, MLPerf's power metrics, and
the power section of an inference result."""

from __future__ import annotations

import threading
import time

import pytest

from mlmeter.power import PowerSampler, PowerTrace, PowerUnavailable, RaplSource, open_sources, power_metrics

from .records import body, record  # noqa: F401


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
    from mlmeter.inference import InferConfig, run_inference
    from mlmeter.loadgen import TestScenario
    from mlmeter.power import meter

    monkeypatch.setattr(meter, "open_sources", lambda names: ([_Linear(25.0)], ["rapl: not here"]))
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(TestScenario.Offline,), duration_s=0.5,
                      auto_targets=True, output=tmp_path, power=("auto",))
    (o,) = run_inference(cfg)
    pw = record(o.outdir).power
    assert pw["sources"] == ["fake"] and pw["measured"] == "metered" and pw["unavailable"] == ["rapl: not here"]
    assert pw["average_watts"] == pytest.approx(25.0, rel=0.1) and pw["power_unit"] == "Watts"
    assert pw["samples_per_joule"] > 0 and len(pw["trace"]["watts"]) >= 1


# --- the PTDaemon power-server client, against the loopback fake server ---


@pytest.fixture
def power_server():
    from tests.ptd_server import FakePowerServer

    servers = []

    def make(**kw):
        servers.append(FakePowerServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _loadgen_with_power(tmp_path, address, name="run"):
    from mlmeter.cli.main import main

    out = tmp_path / name
    code = main(["loadgen", "--scenario", "Offline", "--sut", "fixed", "--latency-ms", "0.2", "--qps", "6000",
                 "--min-duration-ms", "400",
                 "--quiet", "--power", address, "--output", str(out)])
    return code, record(out).power, out


def test_power_server_ranging_then_testing_gives_mlperf_average_power(tmp_path, power_server):
    srv = power_server()
    code, pw, out = _loadgen_with_power(tmp_path, srv.address)
    assert code in (0, 1) and pw["sources"] == ["ptd"] and pw["measured"] == "metered" and not pw["unavailable"]
    assert pw["average_watts"] == pytest.approx(120.0)  # the testing samples only, not ranging's 90 W
    assert pw["power_unit"] == "Watts" and pw["samples_per_joule"] > 0
    assert len(pw["trace"]["watts"]) >= 5 and all(0 < t < pw["duration_s"] for t in pw["trace"]["t_s"])
    kinds = [c.split(",")[0] if not c.startswith("session") else ",".join(c.split(",")[2:]) for c in srv.commands]
    assert kinds == ["mlcommons/power client v3", "time", "new", "start,ranging", "stop,ranging", "start,testing",
                     "stop,testing", "download", "done", "cleanup"]
    assert (out / "ranging" / "mlperf_log_summary.txt").is_file()  # the ranging pass is kept apart
    assert pw["power_server"]["session"].endswith("_mlmeter")


def test_single_stream_energy_per_query_from_the_server(tmp_path, power_server):
    from mlmeter.cli.main import main

    srv = power_server(watts={"ranging": 50.0, "testing": 60.0})
    out = tmp_path / "ss"
    assert main(["loadgen", "--scenario", "SingleStream", "--sut", "fixed", "--latency-ms", "0.5",
                 "--min-duration-ms", "400", "--quiet", "--power", srv.address, "--output", str(out)]) in (0, 1)
    rec = record(out)
    pw = rec.power
    assert pw["power_unit"] == "millijoules per query"
    assert pw["power_metric"] == pytest.approx(60.0 * pw["duration_s"] * 1000 / rec.body["query_count"])


@pytest.mark.parametrize("fault, message", [
    ({"magic": "HTTP/1.1 400 Bad Request"}, "not an MLPerf power server"),
    ({"clock_offset_s": 2.0}, "synchronise both with NTP"),
    ({"refuse": "new"}, "power server refused 'new,mlmeter,"),
    ({"refuse": "session"}, "power server lost mid-run: power server refused"),
    ({"drop_at": "download"}, "power server lost mid-run"),
])
def test_power_server_faults_are_one_line_and_the_run_carries_on(tmp_path, power_server, fault, message):
    srv = power_server(**fault)
    code, pw, out = _loadgen_with_power(tmp_path, srv.address)
    assert code in (0, 1), "a power problem is not a usage error"
    assert any(message in p for p in pw["unavailable"]), pw["unavailable"]
    assert pw.get("average_watts") is None
    assert (out / "mlperf_log_summary.txt").is_file()


def test_unreachable_power_server_and_a_mixed_request(tmp_path):
    import socket

    from mlmeter.power import Meter
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    m = Meter([f"ptd://127.0.0.1:{port}", "rapl"])
    assert any("cannot connect" in p for p in m.problems) and any("rapl ignored" in p for p in m.problems)
    assert m.section()["sources"] == []


def test_spl_parsing_follows_the_official_format():
    from mlmeter.power.ptd import parse_address, parse_spl

    text = ("Time,11-22-2026 10:00:00.250,Watts,101.5,Volts,230.1,Amps,0.44,PF,0.99,Mark,x_testing\n"
            "Time,11-22-2026 10:00:01.250,Watts,-1,Volts,-1,Amps,-1,PF,-1,Mark,x_testing,Ch1,Watts,50\n"
            "garbage line\n")
    (a, wa), (b, wb) = parse_spl(text)
    assert (wa, wb) == (101.5, -1.0) and b - a == pytest.approx(1.0)
    assert parse_address("ptd://director") == ("director", 4950)
    assert parse_address("ptd://10.0.0.2:8888") == ("10.0.0.2", 8888)


def test_inference_with_a_power_server_runs_ranging_then_testing(tmp_path, power_server):
    pytest.importorskip("onnxruntime")
    from mlmeter.inference import InferConfig, run_inference
    from mlmeter.loadgen import TestScenario

    srv = power_server(watts={"ranging": 70.0, "testing": 75.0})
    cfg = InferConfig(backend="onnxruntime", model="digits", scenarios=(TestScenario.Offline,), duration_s=0.5,
                      auto_targets=True, output=tmp_path, power=(srv.address,), mode="submission")
    (o,) = run_inference(cfg)
    doc = body(o.outdir)
    pw = record(o.outdir).power
    assert pw["measured"] == "metered" and pw["average_watts"] == pytest.approx(75.0)
    assert doc["accuracy"][0]["pass"]  # the submission run's accuracy pass ran once, in the measured run
    ranging = (o.outdir / "ranging" / "mlperf_log_summary.txt").read_text()
    assert "Mode     : PerformanceOnly" in ranging and (o.outdir / "ranging" / "mlperf_log_accuracy.json").stat().st_size < 10
    assert [c for c in srv.commands if c.startswith("session")][-1].endswith(",done")


def test_training_and_storage_results_carry_energy(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from mlmeter.cli.main import main
    from mlmeter.power import meter
    from tests.test_storage import _small_unet3d

    monkeypatch.setattr(meter, "open_sources", lambda names: ([_Linear(30.0)], []))
    assert main(["train", "run", "digits", "--runs", "5", "--power", "auto", "--output", str(tmp_path / "t")]) == 0
    doc = body(tmp_path / "t")
    pw, kept = record(tmp_path / "t").power, doc["kept_minutes"]
    assert len(pw["energy_j_per_run"]) == 5 and all(e > 0 for e in pw["energy_j_per_run"])
    minutes = [r["minutes"] for r in doc["runs"]]
    left, chosen = list(kept), []  # the kept times as a multiset: two runs may take exactly as long
    for e, m in zip(pw["energy_to_train_j_per_run"], minutes, strict=True):
        if m in left:
            left.remove(m)
            chosen.append(e)
    assert len(chosen) == 3 and pw["olympic_energy_j"] == pytest.approx(sum(chosen) / 3)  # the time score's runs
    # the MLLOG power files give what the official result summarizer computes from them
    rs = pytest.importorskip("mlperf_logging.result_summarizer.result_summarizer")
    from mlmeter.training.logfile import read_log
    from mlmeter.training.power_log import time_to_train_ms

    for i, node in enumerate(pw["node_logs"]):
        ttt = time_to_train_ms(read_log(tmp_path / "t" / f"result_{i}.txt"))
        loglines, _ = rs.parse_file(node, "6.1.0")
        assert pw["energy_to_train_j_per_run"][i] == pytest.approx(rs._compute_power_node(loglines, ttt), rel=1e-12)
        # 30 W over the time to train (the window is rescaled to it)
        assert pw["energy_to_train_j_per_run"][i] == pytest.approx(30.0 * ttt / 1000, rel=0.1)
    assert record(tmp_path / "t").system["cpu"]["logical_cpus"] >= 1
    _w, params, folder = _small_unet3d(tmp_path)
    main(["storage", "training", "run", "--model", "unet3d", "--accelerator-type", "h100", "--num-accelerators", "1",
          "--client-host-memory-in-gb", "1", "--data-dir", str(folder), "--results-dir", str(tmp_path / "s"),
          "--quiet", "--power", "auto", "--param", *[f"{k}={v}" for k, v in params.items()]])
    (res,) = (tmp_path / "s").rglob("result.json")
    spw = record(res.parent).power
    assert spw["average_watts"] == pytest.approx(30.0, rel=0.1) and spw["samples_per_joule"] > 0
