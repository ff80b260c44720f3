"""The progress line: bar, rate, and the latency or in-flight figure each scenario can honestly show."""

from __future__ import annotations

import io

from mlmeter.cli.progress import Progress
from mlmeter.loadgen import Completer, TestScenario
from mlmeter.loadgen.run import PassInfo


def _info(scenario, queries, samples, min_ms=10_000):
    return PassInfo("performance", scenario, 100.0, queries, samples, Completer(), min_ms)


def test_lines_per_scenario():
    p = Progress(io.StringIO())
    ss = p.line(_info(TestScenario.SingleStream, 2000, 2000), 5.0, 1000, 1001, 200.0)
    assert "[##########..........]" in ss and "200/s" in ss and "latency ~5.000 ms" in ss
    ms = p.line(_info(TestScenario.MultiStream, 100, 800), 2.5, 400, 408, 160.0)
    assert "latency ~50.000 ms" in ms  # 8 samples per query in flight at 160 samples/s
    server = p.line(_info(TestScenario.Server, 5000, 5000), 1.0, 90, 100, 90.0)
    assert "10 in flight" in server and "latency" not in server
    offline = p.line(_info(TestScenario.Offline, 1, 400), 60.0, 100, 400, 10.0)
    assert "[#####...............]" in offline and "latency" not in offline


def test_stage_messages_and_quiet():
    out = io.StringIO()
    Progress(out).on_stage("loading model")
    Progress(out, enabled=False).on_stage("hidden")
    assert out.getvalue() == "  loading model\n"
