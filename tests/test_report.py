"""--repeat statistics, ``mlmeter report`` (HTML, JSON, CSV, Markdown; rendered in headless Chromium) and
``mlmeter compare`` on runs of every kind, and their errors on bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mlmeter.cli.main import main
from mlmeter.results import RunStore

from .records import body, record  # noqa: F401

LOADGEN = ["loadgen", "--sut", "lognormal", "--latency-ms", "0.3", "--min-duration-ms", "300", "--quiet"]


class _Charts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.charts: list[str] = []
        self.external: list[str] = []
        self.titles = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure" and a.get("class") == "chart":
            self.charts.append(a.get("data-chart", ""))
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith("#"):
                self.external.append(a[k])
        if tag == "link":
            self.external.append(str(a))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def _charts(html: str) -> _Charts:
    p = _Charts()
    p.feed(html)
    return p


def _loadgen(tmp_path, name, *extra):
    out = tmp_path / name
    code = main([*LOADGEN, "--output", str(out), *extra])
    assert code in (0, 1)
    return out


def test_repeat_summarises_and_registers(tmp_path, capsys):
    group = _loadgen(tmp_path, "ss", "--scenario", "SingleStream", "--repeat", "3")
    out = capsys.readouterr().out
    assert "repeat of 3 loadgen runs" in out and "95% CI" in out
    rec = record(group)
    doc = rec.body
    assert rec.kind == "repeat" and doc["kind"] == "loadgen" and len(doc["runs"]) == 3
    p90 = next(m for m in doc["metrics"] if m["name"] == "p90 latency")
    members = [body(Path(r)) for r in doc["runs"]]
    assert p90["values"] == [m["metrics"]["percentile_latency_ns"] / 1e6 for m in members]
    s = p90["summary"]
    assert s["ci_method"] == "bootstrap" and s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    kinds = sorted(r.kind for r in RunStore().runs())
    assert kinds == ["loadgen", "loadgen", "loadgen", "repeat"]
    with pytest.raises(SystemExit):
        main([*LOADGEN, "--repeat", "0"])


def test_loadgen_result_carries_system_and_summaries(tmp_path):
    run = _loadgen(tmp_path, "srv", "--scenario", "Server", "--power", "auto")
    rec = record(run)
    doc = rec.body
    assert rec.system["cpu"]["logical_cpus"] >= 1
    assert sum(doc["latency_histogram"]["counts"]) == doc["sample_count"]
    assert sum(doc["timeline"]["completed"]) == doc["sample_count"]
    assert rec.power["sources"] or rec.power["unavailable"]  # measured, or said why not
    assert [r.kind for r in RunStore().runs()] == ["loadgen"]


def test_html_report_for_loadgen_runs(tmp_path, capsys):
    peak = _loadgen(tmp_path, "peak", "--scenario", "Server", "--mode", "find-peak", "--target-latency-ms", "5",
                    "--workers", "2")
    ms = _loadgen(tmp_path, "ms", "--scenario", "MultiStream")
    out = tmp_path / "report.html"
    assert main(["report", str(peak), str(ms), "--output", str(out)]) == 0
    html = out.read_text()
    p = _charts(html)
    assert p.external == [], "the report must not load anything"
    assert p.charts.count("histogram") == 2 and "xy" in p.charts
    assert "Server latency vs load (find-peak)" in html and "query latency distribution" in html
    assert html.count('<section class="run"') == 3  # the overview and the two runs
    doc = body(peak)
    assert f"{len(doc['find_peak_trials'])}" and all(f"{t['target_qps']:.3f} QPS" in html
                                                     for t in doc["find_peak_trials"])


def test_formats_agree_with_the_results(tmp_path, capsys):
    run = _loadgen(tmp_path, "off", "--scenario", "Offline")
    sps = body(run)["metrics"]["samples_per_second"]
    capsys.readouterr()
    assert main(["report", str(run), "--format", "json", "--output", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (r,) = doc["runs"]
    head = r["metrics"][0]
    assert head["headline"] and head["name"] == "samples/s" and head["value"] == sps
    assert main(["report", str(run), "--output", str(tmp_path / "r.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert float(next(x for x in rows if x["metric"] == "samples/s")["value"]) == pytest.approx(sps)
    assert main(["report", str(run), "--format", "md", "--output", str(tmp_path / "r.md")]) == 0
    assert "| samples/s (headline) |" in (tmp_path / "r.md").read_text()


def test_report_and_compare_storage_and_training_runs(tmp_path, capsys):
    pytest.importorskip("torch")
    from tests.test_storage import _small_unet3d

    _w, params, folder = _small_unet3d(tmp_path)
    argv = ["storage", "training", "run", "--model", "unet3d", "--accelerator-type", "h100", "--num-accelerators",
            "1", "--client-host-memory-in-gb", "1", "--data-dir", str(folder), "--results-dir", str(tmp_path / "s"),
            "--quiet", "--param", *[f"{k}={v}" for k, v in params.items()]]
    main(argv)
    (storage,) = [p.parent for p in (tmp_path / "s").rglob("result.json")]
    assert main(["train", "run", "digits", "--runs", "5", "--output", str(tmp_path / "t")]) == 0
    out = tmp_path / "both.html"
    assert main(["report", str(storage), str(tmp_path / "t"), "--output", str(out)]) == 0
    html = out.read_text()
    assert "accelerator utilization per epoch" in html and "quality vs time" in html
    assert "target 0.965" in html and html.count("<path") >= 3  # one quality curve per run
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "t"), str(tmp_path / "t")]) == 0
    text = capsys.readouterr().out
    assert "time to train (olympic)" in text and "no (p=1)" in text
    assert main(["compare", str(storage), str(tmp_path / "t")]) == 2
    assert "storage run" in capsys.readouterr().err


def test_compare_decides_significance_and_refuses_other_settings(tmp_path, capsys):
    slow = _loadgen(tmp_path, "slow", "--scenario", "SingleStream", "--repeat", "3", "--latency-ms", "2")
    fast = _loadgen(tmp_path, "fast", "--scenario", "SingleStream", "--repeat", "3", "--latency-ms", "0.3")
    capsys.readouterr()
    assert main(["compare", str(slow), str(fast), "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    p90 = next(r for r in c["rows"] if r["name"] == "p90 latency")
    assert p90["significant"] and p90["better"] == "B" and p90["ci_high"] < 0
    server = _loadgen(tmp_path, "server", "--scenario", "Server")
    capsys.readouterr()
    assert main(["compare", str(slow / "repeat-1"), str(server)]) == 2
    err = capsys.readouterr().err
    assert "measured different things" in err and "scenario: 'SingleStream' vs 'Server'" in err
    assert main(["compare", str(slow / "repeat-1"), str(server), "--force"]) == 0
    assert "forced" in capsys.readouterr().out


def test_bad_run_directories_are_named_and_nothing_is_written(tmp_path, capsys):
    good = _loadgen(tmp_path, "good", "--scenario", "Offline")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "r.html"
    assert main(["report", str(good), str(tmp_path / "empty"), "--output", str(out)]) == 2
    assert "no result.json (an incomplete run directory?)" in capsys.readouterr().err and not out.exists()
    newer = tmp_path / "newer"
    newer.mkdir()
    doc = json.loads((good / "result.json").read_text())
    (newer / "result.json").write_text(json.dumps({**doc, "schema_version": 99}))
    assert main(["report", str(newer), "--output", str(out)]) == 2
    assert "version 99 is newer" in capsys.readouterr().err and not out.exists()
    assert main(["report", "12345", "--output", str(out)]) == 2
    assert "no run with id 12345" in capsys.readouterr().err


def _chromium() -> str | None:
    return next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)


@pytest.mark.skipif(_chromium() is None and not os.environ.get("MLMETER_REQUIRE_BROWSER"),
                    reason="no Chromium on this machine (CI installs Debian's chromium and requires this test)")
def test_report_renders_in_headless_chromium(tmp_path):
    assert _chromium() is not None, "MLMETER_REQUIRE_BROWSER is set but no Chromium is installed"
    peak = _loadgen(tmp_path, "peak", "--scenario", "Server", "--mode", "find-peak", "--target-latency-ms", "5")
    group = _loadgen(tmp_path, "ss", "--scenario", "SingleStream", "--repeat", "2")
    page = tmp_path / "report.html"
    assert main(["report", str(peak), str(group), "--output", str(page)]) == 0
    expected = len(_charts(page.read_text()).charts)
    browser = [str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={tmp_path / 'profile'}"]
    done = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert f'data-charts-rendered="{expected}"' in done.stdout, done.stderr[-2000:]
    assert "Uncaught" not in done.stderr and expected >= 8
    # the detector works: a page with a script error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>missing();</script></body></html>")
    err = subprocess.run([*browser, "--dump-dom", bad.as_uri()], capture_output=True, text=True, timeout=120)
    assert "Uncaught ReferenceError" in err.stderr
    shot = tmp_path / "shot.png"
    subprocess.run([*browser, "--hide-scrollbars", "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_infer_repeat_loads_once_and_summarises_each_scenario(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "inf"
    assert main(["infer", "--backend", "onnxruntime", "--model", "digits", "--scenario", "Offline,SingleStream",
                 "--duration", "0.3", "--auto-targets", "--output", str(out), "--quiet", "--repeat", "2"]) in (0, 1)
    text = capsys.readouterr().out
    assert text.count("repeat of 2 inference runs") == 2
    for sc, head in (("Offline", "samples/s"), ("SingleStream", "p90 latency")):
        doc = body(out / "repeat" / sc / "performance")
        assert doc["identity"]["scenario"] == sc and doc["metrics"][0]["name"] == head
        assert [Path(r) for r in doc["runs"]] == [(out / f"repeat-{i}" / sc / "performance").resolve()
                                                  for i in (1, 2)]


def test_report_of_a_checkpointing_run(tmp_path):
    from mlmeter.storage.checkpointing import checkpointing_run, llm_checkpoint

    params = {"num_layers": "1", "hidden_size": "128", "ffn_hidden_size": "256", "num_attention_heads": "4",
              "num_kv_heads": "2", "vocab_size": "500", "time_between_checkpoints": "0",
              "num_checkpoints_write": "3", "num_checkpoints_read": "2"}
    doc = checkpointing_run(llm_checkpoint("llama3-8b", params), 1, tmp_path / "ckpt", tmp_path / "results")
    run = Path(doc["outdir"])
    out = tmp_path / "c.html"
    assert main(["report", str(run), "--output", str(out)]) == 0
    html = out.read_text()
    assert "save: slowest rank per checkpoint" in html and "load: slowest rank per checkpoint" in html
    assert html.count('class="bar"') >= 5 and "save GiB/s" in html


def test_single_runs_compare_throughput_by_batch_means(tmp_path, capsys):
    from mlmeter.results.kinds.loadgen import batch_means

    assert batch_means({"bucket_s": 0.5, "completed": [10] * 40 + [3]}) == (20.0,) * 10  # last bucket partial
    assert batch_means({"bucket_s": 0.5, "completed": [10] * 5}) == ()  # too short to split
    common = ["--scenario", "Offline", "--sut", "fixed", "--qps", "6000", "--min-duration-ms", "600"]
    a = _loadgen(tmp_path, "a", *common, "--latency-ms", "0.2")
    b = _loadgen(tmp_path, "b", *common, "--latency-ms", "0.3")
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["name"] == "samples/s" and row["method"] == "welch, batch means"
    assert row["significant"] and row["better"] == "A" and row["ci_high"] < 0


def test_checkpointing_repeat_keeps_each_run_apart(tmp_path, capsys):
    argv = ["storage", "checkpointing", "run", "--model", "llama3-8b", "--num-processes", "1", "--checkpoint-folder",
            str(tmp_path / "c"), "--results-dir", str(tmp_path / "r"), "--num-checkpoints-write", "2",
            "--num-checkpoints-read", "1", "--repeat", "2", "--param", "num_layers=1", "hidden_size=128",
            "ffn_hidden_size=256", "num_attention_heads=4", "num_kv_heads=2", "vocab_size=500",
            "time_between_checkpoints=0"]
    assert main(argv) == 0
    assert "repeat of 2 checkpointing runs" in capsys.readouterr().out
    (group,) = (tmp_path / "r" / "checkpointing" / "llama3-8b").glob("repeat-*")
    doc = body(group)
    assert len(set(doc["runs"])) == 2  # two runs in the same second still get two directories
    save = next(m for m in doc["metrics"] if m["name"] == "save GiB/s")
    assert len(save["values"]) == 2 and save["summary"]["ci_method"] == "t"


def test_a_report_knows_when_its_runs_changed_and_can_be_made_again(tmp_path, capsys):
    run = _loadgen(tmp_path, "r", "--scenario", "Offline")
    page = tmp_path / "page.html"
    assert main(["report", str(run), "--output", str(page)]) == 0
    assert main(["report", "--check", str(page)]) == 0
    assert "up to date with its 1 run(s)" in capsys.readouterr().out
    before = page.read_text()
    assert main([*LOADGEN, "--scenario", "Offline", "--output", str(run), "--overwrite"]) in (0, 1)  # a new run there
    capsys.readouterr()
    assert main(["report", "--check", str(page)]) == 1
    assert "changed since the report was made" in capsys.readouterr().out and page.read_text() == before
    assert main(["report", "--refresh", str(page)]) == 0 and page.read_text() != before
    assert main(["report", "--check", str(page)]) == 0
    (tmp_path / "other.html").write_text("<html></html>")
    assert main(["report", "--check", str(tmp_path / "other.html")]) == 2
    assert "not an HTML report made by mlmeter" in capsys.readouterr().err
    assert main(["report", "--check", str(page), str(run)]) == 2
    assert main(["report"]) == 2
