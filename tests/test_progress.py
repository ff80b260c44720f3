"""The progress display: bar, rate, and the latency or in-flight figure each scenario can honestly show; stage
lines; long-step progress lines rate-limited but never losing the last one."""

from __future__ import annotations

import io

from mlmeter import events
from mlmeter.cli.progress import Progress


def _info(scenario, queries, samples, min_ms=10_000):
    return events.PassInfo("performance", scenario, 100.0, queries, samples, lambda: (0, 0), min_ms)


def test_lines_per_scenario():
    p = Progress(io.StringIO())
    ss = p.line(_info("SingleStream", 2000, 2000), 5.0, 1000, 1001, 200.0)
    assert "[##########..........]" in ss and "200/s" in ss and "latency ~5.000 ms" in ss
    ms = p.line(_info("MultiStream", 100, 800), 2.5, 400, 408, 160.0)
    assert "latency ~50.000 ms" in ms  # 8 samples per query in flight at 160 samples/s
    server = p.line(_info("Server", 5000, 5000), 1.0, 90, 100, 90.0)
    assert "10 in flight" in server and "latency" not in server
    offline = p.line(_info("Offline", 1, 400), 60.0, 100, 400, 10.0)
    assert "[#####...............]" in offline and "latency" not in offline


def test_stage_messages_and_quiet():
    out = io.StringIO()
    Progress(out).on_stage(events.Stage("loading model"))
    Progress(out, enabled=False).on_stage(events.Stage("hidden"))
    assert out.getvalue() == "  loading model\n"


def test_progress_lines_are_rate_limited_but_the_last_is_kept():
    out = io.StringIO()
    p = Progress(out)
    for i in range(1, 101):
        p.on_progress(events.Progress("datagen", i, 100, "files"))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  datagen [") and "1/100 files" in lines[0]
    assert "100/100 files" in lines[-1] and len(lines) == 2


def test_fanout_sends_every_event_to_each_observer_in_order():
    seen: list[str] = []

    class Rec(events.Observer):
        def __init__(self, tag):
            self.tag = tag

        def on_stage(self, event):
            seen.append(f"{self.tag}:{event.message}")

        def on_pass_end(self, event):
            seen.append(f"{self.tag}:end")

    f = events.Fanout([Rec("a"), None, Rec("b")])
    f.on_stage(events.Stage("s"))
    f.on_pass_end(_info("Offline", 1, 1))
    f.on_progress(events.Progress("x", 1))  # a handler nobody overrides is a no-op
    assert seen == ["a:s", "b:s", "b:end", "a:end"]
