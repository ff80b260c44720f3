"""``mlmeter serve`` against the OpenAI-compatible mock server on loopback: token metrics from the LoadGen,
the client's own figures, failures that end a run INVALID (never a hang), bad endpoints refused before the run,
and the API key never written."""

from __future__ import annotations

import json
import time

import pytest

from mlmeter.cli.main import main

from .records import record

pytest.importorskip("aiohttp")

from mlmeter.serving.mock import MockServer, MockSettings  # noqa: E402

QUICK = ["--min-duration-ms", "1500", "--min-query-count", "40", "--quiet"]


def _serve(url, out, *extra, model="mock-llm"):
    return main(["serve", "--endpoint", url, "--model", model, "--output", str(out), *QUICK, *extra])


def test_a_server_run_measures_tokens_and_writes_a_serving_record(tmp_path, capsys):
    with MockServer(MockSettings(ttft_s=0.02, itl_s=0.002, tokens=12)) as m:
        code = _serve(m.url, tmp_path / "r", "--scenario", "Server", "--qps", "40")
    rec = record(tmp_path / "r")
    assert rec.kind == "serving" and code == (0 if rec.verdict.value == "VALID" else 1)
    s, tokens = rec.body["serving"], rec.body["tokens"]
    assert s["requests"] == rec.body["sample_count"] and s["failed_requests"] == 0
    assert s["output_tokens_from"] == "server usage" and tokens["token_count"] == 12 * s["requests"]
    assert 20e6 <= tokens["ttft"]["p50"] < 200e6  # the mock's 20 ms, measured by the LoadGen from the schedule
    assert s["inter_token_latency_ms"]["p50"] >= 1.5 and s["goodput"]["requests_per_second"] > 0
    assert [m.name for m in rec.metrics][:3] == ["output tokens/s", "p99 TTFT", "p99 TPOT"]
    out = capsys.readouterr().out
    assert "client:" in out and f"server: {m.url}: mlmeter-mock " in out
    assert s["servers"][0]["software"] == "mlmeter-mock" and s["servers"][0]["model"]["id"] == "mock-llm"
    assert main(["report", str(tmp_path / "r"), "--output", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "serving:" in html and "<h3>Client</h3>" in html and "latency distribution" in html
    assert "output tokens/s over time (client)" in html and "ms CPU per request" in html
    assert "token latencies by percentile" in html
    tl = s["timeline"]
    assert sum(r * tl["bucket_s"] for r in tl["requests_per_s"]) == pytest.approx(s["requests"])  # every reply counted once


def test_offline_chat_and_whole_replies(tmp_path):
    with MockServer(MockSettings(tokens=6)) as m:
        _serve(m.url, tmp_path / "chat", "--scenario", "Offline", "--api", "chat", "--qps", "200")
        _serve(m.url, tmp_path / "whole", "--scenario", "Offline", "--no-stream", "--qps", "200")
    for name in ("chat", "whole"):
        rec = record(tmp_path / name)
        assert rec.body["serving"]["failed_requests"] == 0 and rec.body["tokens"]["token_count"] > 0, name
    assert record(tmp_path / "chat").body["serving"]["api"] == "chat"


def test_server_errors_are_failed_samples_and_the_run_is_invalid(tmp_path):
    with MockServer(MockSettings(tokens=4, fail_every=5)) as m:
        code = _serve(m.url, tmp_path / "r", "--scenario", "Server", "--qps", "50")
    rec = record(tmp_path / "r")
    assert code == 1 and rec.verdict.value == "INVALID"
    assert rec.body["serving"]["failed_requests"] >= 5
    assert any("HTTP 500" in r for r in rec.reasons), rec.reasons


def test_a_stream_that_stalls_ends_invalid_not_hung(tmp_path):
    with MockServer(MockSettings(tokens=8, stall_after=3)) as m:
        code = _serve(m.url, tmp_path / "r", "--scenario", "Server", "--qps", "20", "--completion-timeout-s", "2",
                      "--timeout-s", "30")
    rec = record(tmp_path / "r")
    assert code == 1 and any("stopped completing" in r for r in rec.reasons), rec.reasons


def test_several_modes_run_in_turn_on_one_client_with_the_audit_beside_them(tmp_path, capsys):
    """``--mode accuracy,performance --compliance TEST06``: one command, ``<output>/<mode>`` and ``<output>/TEST06``,
    as ``mlmeter infer`` lays them out; the endpoint is asked once."""
    with MockServer(MockSettings(echo=True, tokens=16)) as m:
        code = _serve(m.url, tmp_path / "r", "--scenario", "Offline", "--mode", "accuracy,performance",
                      "--compliance", "TEST06", "--qps", "200")
        asked = m.requests
    printed = capsys.readouterr().out
    acc, perf, audit = (record(tmp_path / "r" / d) for d in ("accuracy", "performance", "TEST06"))
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["TEST06", "accuracy", "performance"]
    assert acc.body["mode"] == "AccuracyOnly" and perf.body["mode"] == "PerformanceOnly"
    assert acc.body["llm_accuracy"]["scores"]["rouge1"] >= 99.0 and "llm_accuracy" not in perf.body
    assert audit.body["mode"] == "TEST06" and (tmp_path / "r" / "TEST06" / "verify_accuracy.txt").is_file()
    counts = [r.body["serving"]["requests"] for r in (acc, perf, audit)]  # each run counts its own requests
    assert sum(counts) == asked and all(counts)
    assert code in (0, 1) and printed.count("files: ") == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--mode", "accuracy,accuracy"], "each once"),
    (["--mode", "accuracy,bogus"], "give one or more of performance, accuracy, submission"),
    (["--mode", "find-peak,performance"], "not with find-peak or --concurrency"),
    (["--mode", "accuracy,performance", "--concurrency", "2"], "not with find-peak or --concurrency"),
    (["--mode", "accuracy,performance", "--rates", "1,2"], "not in a sweep"),
    (["--api", "generate", "--no-stream"], "give --tokenizer"),
    (["--endpoint", "grpc://127.0.0.1:9"], "is Triton's gRPC stream, for --api generate"),
    (["--endpoint", "grpc://127.0.0.1:9", "--endpoint", "http://127.0.0.1:9", "--api", "generate"],
     "every endpoint as grpc:// or none"),
    (["--endpoint", "grpc://127.0.0.1:9", "--api", "generate", "--client-workers", "2"], "runs in one process"),
    (["--endpoint", "grpc://127.0.0.1:9", "--api", "generate", "--extra-body", '{"stop": ["x"]}'], "are scalars"),
])
def test_options_that_cannot_run_together_are_refused_in_one_line(tmp_path, capsys, args, message):
    where = [] if "--endpoint" in args else ["--endpoint", "http://127.0.0.1:9"]
    code = main(["serve", *where, "--model", "m", "--output", str(tmp_path / "r"), "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_the_mock_answers_a_bad_body_with_400_and_a_client_leaving_mid_body_without_a_traceback(caplog):
    import socket
    import urllib.error
    import urllib.request

    with MockServer() as m:
        for body in (b"{not json", b"[1, 2]"):
            req = urllib.request.Request(m.url + "/v1/completions", data=body, method="POST")
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=5)  # noqa: S310 -- loopback
            assert err.value.code == 400 and b"not a JSON object" in err.value.read()
        with socket.create_connection((m.host, m.port)) as s:  # says 100 bytes, sends 2, leaves
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}")
        for _ in range(50):  # the mock is still serving, and logged nothing about the one that left
            if m.requests >= 3:
                break
            time.sleep(0.02)
        urllib.request.urlopen(m.url + "/v1/models", timeout=5).read()  # noqa: S310 -- loopback
    assert m.requests == 3 and not [r for r in caplog.records if r.levelname == "ERROR"], caplog.records


@pytest.mark.parametrize(("where", "message"), [
    ("unreachable", "cannot reach an OpenAI-compatible server"),
    ("model", "does not serve model 'other'; it serves: mock-llm"),
])
def test_bad_endpoints_are_refused_before_the_run(tmp_path, capsys, where, message):
    with MockServer() as m:
        url = "http://127.0.0.1:9" if where == "unreachable" else m.url
        code = _serve(url, tmp_path / "r", model="other" if where == "model" else "mock-llm")
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_the_api_key_is_sent_and_never_written(tmp_path, monkeypatch, capsys):
    secret = "sk-test-0123456789abcdef"
    with MockServer(MockSettings(tokens=4, api_key=secret)) as m:
        assert _serve(m.url, tmp_path / "no-key") == 2
        assert "API key is missing or wrong" in capsys.readouterr().err
        monkeypatch.setenv("MY_KEY", secret)
        _serve(m.url, tmp_path / "r", "--api-key-env", "MY_KEY", "--scenario", "Offline", "--qps", "100")
    assert record(tmp_path / "r").body["serving"]["failed_requests"] == 0
    out, err = capsys.readouterr()
    assert secret not in out + err
    for f in (tmp_path / "r").iterdir():
        assert secret not in f.read_text(errors="replace"), f.name


def test_several_endpoints_share_the_load(tmp_path):
    with MockServer(MockSettings(ttft_s=0.005, tokens=4)) as a, MockServer(MockSettings(ttft_s=0.005, tokens=4)) as b:
        main(["serve", "--endpoint", a.url, "--endpoint", b.url, "--model", "mock-llm", "--output",
              str(tmp_path / "r"), "--scenario", "Server", "--qps", "60", *QUICK])
        served = (a.requests, b.requests)
    per = record(tmp_path / "r").body["serving"]["per_endpoint"]
    assert [p["requests"] for p in per] == list(served) and min(served) > 10


def test_prompt_files_are_checked(tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps(["fine", {"no": "prompt"}]))
    with MockServer() as m:
        assert _serve(m.url, tmp_path / "r", "--prompts", str(bad)) == 2
    assert "item 1 is not a prompt" in capsys.readouterr().err


def test_concurrency_sweep_finds_the_highest_level_meeting_the_bounds(tmp_path, capsys):
    # one slot of ~34 ms: 4 streams queue behind each other, so TTFT grows to ~130 ms, past the 100 ms bound; 1 stream
    # meets it by 70 ms (a busy CI machine once stalled one request in a hundred past a 20 ms margin)
    with MockServer(MockSettings(ttft_s=0.03, itl_s=0.001, tokens=4, serial=True)) as m:
        code = main(["serve", "--endpoint", m.url, "--model", "mock-llm", "--concurrency", "1,4", "--ttft-ms", "100",
                     "--min-duration-ms", "1000", "--output", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    one, four = record(tmp_path / "concurrency-1"), record(tmp_path / "concurrency-4")
    assert one.verdict.value == "VALID" and four.verdict.value == "INVALID" and code == 1
    assert any("p99 TTFT" in r for r in four.reasons)
    assert "not an MLPerf scenario" in out and "highest concurrency meeting the TTFT/TPOT bounds: 1" in out
    c1, c4 = one.body["concurrency"], four.body["concurrency"]
    assert c1["streams"] == 1 and c4["streams"] == 4 and one.body["tokens"]["token_count"] > 0
    assert four.body["tokens"]["ttft"]["p50"] > 2 * one.body["tokens"]["ttft"]["p50"]


def test_a_rate_sweep_names_the_highest_valid_rate(tmp_path, capsys):
    # one slot of ~8 ms: 20 QPS is served well within a 200 ms TTFT bound (a busy CI machine included), 400 QPS
    # queues 1,000 requests behind it, seconds past the bound
    with MockServer(MockSettings(ttft_s=0.005, itl_s=0.001, tokens=4, serial=True)) as m:
        code = main(["serve", "--endpoint", m.url, "--model", "mock-llm", "--rates", "20,400", "--ttft-ms", "200",
                     "--percentile", "0.9", "--min-duration-ms", "2500", "--min-query-count", "44",
                     "--output", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    low, high = record(tmp_path / "qps-20"), record(tmp_path / "qps-400")
    assert low.verdict.value == "VALID" and high.verdict.value == "INVALID" and code == 1, low.reasons
    assert any("TTFT" in r for r in high.reasons)
    assert "highest target QPS VALID under MLPerf's rules: 20" in out


def test_find_peak_probes_bisects_and_confirms_the_highest_valid_rate(tmp_path, capsys):
    """A one-slot mock saturates near 1 / (service time); the search brackets it with probes judged on every check
    but duration, then confirms the rate it found with a full run; the report draws every probe."""
    out = tmp_path / "peak"
    with MockServer(MockSettings(ttft_s=0.002, itl_s=0.0005, tokens=4, serial=True)) as m:
        code = main(["serve", "--endpoint", m.url, "--model", "mock-llm", "--mode", "find-peak", "--qps", "100",
                     "--ttft-ms", "50", "--tpot-ms", "20", "--min-duration-ms", "2000", "--min-query-count", "500",
                     "--probe-duration-ms", "500", "--peak-tolerance", "0.15", "--output", str(out), "--quiet"])
    peak = json.loads((out / "peak.json").read_text())
    probes = [t for t in peak["trials"] if t["role"] == "probe"]
    passed = [t["target_qps"] for t in probes if t["passed"]]
    failed = [t["target_qps"] for t in probes if not t["passed"]]
    assert passed and failed and peak["probe"]["min_query_count"] == 459
    assert peak["probed_qps"] == max(passed) and min(failed) > max(passed)
    assert all(t["reasons"] for t in probes if not t["passed"])  # a failed probe says which check failed
    assert (min(failed) - max(passed)) / max(passed) <= 0.15 or len(probes) == 16
    conf = [t for t in peak["trials"] if t["role"] == "confirmation"]
    assert 1 <= len(conf) <= 2 and all(t["verdict"] != "VALID" for t in conf[:-1])  # a failed one steps down
    assert code == (0 if conf[-1]["verdict"] == "VALID" else 1) and peak["complete"]
    if conf[-1]["verdict"] == "VALID":
        assert peak["qps"] == conf[-1]["target_qps"] <= peak["probed_qps"]
        rec = record(out / conf[-1]["run"])
        assert rec.body["peak"] == peak and rec.metrics[0].name == "peak VALID Server QPS"
    assert "peak Server rate under MLPerf's rules" in capsys.readouterr().out
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(runs) == len(peak["trials"])
    assert main(["report", str(out / conf[-1]["run"]), "--output", str(tmp_path / "p.html")]) == 0
    assert "validity-aware find-peak" in (tmp_path / "p.html").read_text()


def test_the_embedded_accuracy_gate_scores_replies_with_rouge(tmp_path):
    """A server that copies the sentence scores 100 and is VALID; one that answers anything else is INVALID with
    the ROUGE scores named — both through the LoadGen's accuracy log."""
    for echo, name in ((True, "good"), (False, "bad")):
        with MockServer(MockSettings(echo=echo)) as m:
            code = _serve(m.url, tmp_path / name, "--scenario", "Offline", "--mode", "accuracy", "--count", "20")
        rec = record(tmp_path / name)
        acc = rec.body["llm_accuracy"]
        assert acc["samples"] == 20 and acc["target"].startswith("mlmeter's embedded copy tasks")
        if echo:
            assert code == 0 and rec.verdict.value == "VALID" and acc["scores"]["rougeLsum"] == 100.0
        else:
            assert code == 1 and rec.verdict.value == "INVALID" and acc["scores"]["rouge1"] < 10
            assert {c.name for c in rec.checks if not c.passed} == {"ROUGE1", "ROUGE2", "ROUGEL"}


def test_rouge_matches_the_scoring_library_on_partial_answers():
    from rouge_score import rouge_scorer

    from mlmeter.serving.llm_accuracy import rouge

    preds = ["The cat sat on the mat today.", "A dog barked. It ran away."]
    refs = ["The cat sat on a mat.", "The dog barked loudly. Then it ran away."]
    ours, _ = rouge(preds, refs)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for k in ("rouge1", "rouge2", "rougeL"):
        want = sum(scorer.score(r, p)[k].fmeasure for p, r in zip(preds, refs, strict=True)) / 2 * 100
        assert abs(ours[k] - want) < 1e-3 and 0 < ours[k] < 100


def test_mlperf_dataset_files_load_with_their_references(tmp_path):
    """llama2-70b's OpenOrca pickle and llama3.1-8b's CNN/DailyMail JSON (input, tok_input, output)."""
    pd = pytest.importorskip("pandas")
    from mlmeter.serving import ServingError
    from mlmeter.serving.llm_accuracy import score, target_for
    from mlmeter.serving.prompts import load_prompts

    rows = {"input": ["Summarise: a b c.", "Summarise: d e f."], "tok_input": [[1, 2], [3, 4]],
            "output": ["a b c.", "d e f."]}
    pd.DataFrame(rows).to_pickle(tmp_path / "open_orca.pkl")
    pd.DataFrame(rows).to_json(tmp_path / "cnn_eval.json")  # pandas' default orient, as the reference reads it
    records = [dict(zip(rows, v, strict=True)) for v in zip(*rows.values(), strict=True)]
    (tmp_path / "records.json").write_text(json.dumps(records))
    for name in ("open_orca.pkl", "cnn_eval.json", "records.json"):
        ps = load_prompts(tmp_path / name)
        assert ps.prompts == rows["input"] and ps.references == rows["output"], name
    out = score(["a b c.", "x y z."], rows["output"], [290, 300], target_for("llama2-70b", "x"))
    assert out["scores"]["rouge1"] == 50.0 and out["tokens_per_sample"] == 295
    assert [(a["name"], a["pass"]) for a in out["accuracy"]] == [
        ("ROUGE1", True), ("ROUGE2", True), ("ROUGEL", True), ("TOKENS_PER_SAMPLE", True)]  # 50 >= 99 % of 44.43
    low = score(["q"], ["a b c."], [400], target_for("llama2-70b", "x"))["accuracy"]
    assert not any(a["pass"] for a in low)  # ROUGE 0, and 400 tokens is above 1.1 x 294.45
    gen = score(["a b c."], ["a b c."], [3], target_for("llama3_1-8b", "x"))["accuracy"][-1]
    assert gen["name"] == "GEN_LEN" and gen["upper"] == round(8167644 / 13368 * 1.1, 4) and not gen["pass"]
    pd.DataFrame({"input": ["ok", 7], "output": ["a", "b"]}).to_pickle(tmp_path / "bad.pkl")
    with pytest.raises(ServingError, match="row 1: column 'input' is int"):
        load_prompts(tmp_path / "bad.pkl")
    (tmp_path / "nocol.json").write_text(json.dumps({"question": {"0": "q"}}))
    with pytest.raises(ServingError, match="no 'input' column"):
        load_prompts(tmp_path / "nocol.json")


def test_compare_takes_two_serving_runs_and_refuses_different_bounds(tmp_path, capsys):
    with MockServer(MockSettings(ttft_s=0.005, tokens=6)) as m:
        for name, ttft in (("a", "2000"), ("b", "2000"), ("c", "500")):
            _serve(m.url, tmp_path / name, "--scenario", "Server", "--qps", "40", "--ttft-ms", ttft)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "output tokens/s" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "c")]) == 2
    assert "ttft_latency" in capsys.readouterr().err


def test_client_worker_processes_carry_the_load_and_the_replies(tmp_path):
    """Two client processes: the LoadGen still times every token (worker clocks are the machine's), the replies
    reach the accuracy log intact, and the client's own CPU is reported."""
    with MockServer(MockSettings(ttft_s=0.005, itl_s=0.001, tokens=64, echo=True)) as m:
        code = _serve(m.url, tmp_path / "acc", "--scenario", "Offline", "--mode", "accuracy", "--client-workers", "2")
        _serve(m.url, tmp_path / "srv", "--scenario", "Server", "--qps", "60", "--client-workers", "2")
    acc = record(tmp_path / "acc")
    assert code == 0 and acc.body["llm_accuracy"]["scores"]["rouge1"] == 100.0
    srv = record(tmp_path / "srv").body
    c = srv["serving"]["client"]
    assert c["workers"] == 2 and "2 worker processes" in c["event_loop"] and c["cpu_ms_per_request"] > 0
    assert srv["serving"]["failed_requests"] == 0 and srv["tokens"]["ttft"]["p50"] >= 5e6


def test_a_client_worker_that_dies_fails_its_requests_instead_of_hanging():
    from mlmeter.serving.endpoint import EndpointSUT
    from mlmeter.serving.openai import RequestSpec

    class Sink:
        def __init__(self):
            self.failures, self.done = [], []

        def first_token(self, ids, responses=None, *, on_response=None, at_ns=None):
            pass

        def complete(self, ids, responses=None, n_tokens=None, *, on_response=None, at_ns=None):
            self.done.append(int(ids))

        def complete_one(self, sample_id, response=None, n_tokens=None, on_response=None, at_ns=None):
            self.done.append(sample_id)

        def report_failure(self, message):
            self.failures.append(message)

    import numpy as np

    with MockServer(MockSettings(tokens=8, stall_after=2)) as m:  # replies that never end
        sut = EndpointSUT([m.url], RequestSpec("mock-llm"), ["p"], workers=2)
        sink = Sink()
        sut.start(sink)
        sut.issue(np.arange(4), np.zeros(4, dtype=np.int64))
        deadline = time.time() + 10
        while m.requests < 4 and time.time() < deadline:
            time.sleep(0.05)
        for p in sut._pool._procs:
            p.kill()
        while len(sink.done) < 4 and time.time() < deadline:
            time.sleep(0.05)
        sut.close()
    assert sorted(sink.done) == [0, 1, 2, 3]
    assert sink.failures and all("client worker" in f and "died" in f for f in sink.failures)


def test_find_peak_over_concurrency_finds_the_most_streams_meeting_the_bounds(tmp_path, capsys):
    """One-slot mock: each stream queues behind the others, so TTFT grows with the streams; the search doubles,
    bisects to one stream and confirms (labelled as not an MLPerf scenario)."""
    out = tmp_path / "cpeak"
    with MockServer(MockSettings(ttft_s=0.01, itl_s=0.001, tokens=8, serial=True)) as m:
        code = main(["serve", "--endpoint", m.url, "--model", "mock-llm", "--mode", "find-peak", "--concurrency", "1",
                     "--ttft-ms", "60", "--tpot-ms", "50", "--min-duration-ms", "1500", "--probe-duration-ms", "600",
                     "--output", str(out), "--quiet"])
    peak = json.loads((out / "peak.json").read_text())
    probes = [t for t in peak["trials"] if t["role"] == "probe"]
    passed = [t["streams"] for t in probes if t["passed"]]
    failed = [t["streams"] for t in probes if not t["passed"]]
    assert peak["searched"].startswith("concurrency") and passed and failed
    assert peak["probed_streams"] == max(passed) and min(failed) == max(passed) + 1  # bisected to one stream
    conf = [t for t in peak["trials"] if t["role"] == "confirmation"]
    assert code == (0 if conf[-1]["verdict"] == "VALID" else 1)
    if conf[-1]["verdict"] == "VALID":
        assert peak["streams"] == conf[-1]["streams"] <= peak["probed_streams"]
        assert record(out / conf[-1]["run"]).metrics[0].name == "peak concurrency meeting the bounds"
    assert "highest concurrency meeting the TTFT/TPOT bounds (not MLPerf)" in capsys.readouterr().out
    assert main(["report", str(out / conf[-1]["run"]), "--output", str(tmp_path / "c.html")]) == 0
    assert "latency vs concurrency (find-peak, not MLPerf)" in (tmp_path / "c.html").read_text()


def test_the_client_limited_warning_weighs_the_lag_against_the_latency():
    from mlmeter.serving.bench import client_overhead
    from mlmeter.serving.endpoint import Exchange

    class Sut:
        event_loop, workers = "asyncio", 1

        def __init__(self, latency_ms):
            self.exchanges = [Exchange(0, 0, done_ns=int(latency_ms * 1e6)) for _ in range(10)]

        def client_cpu_s(self):
            return 0.01

    lag = {"p99": 10.0}
    fast = client_overhead(Sut(20), lag)  # 10 ms of lag on 20 ms requests: the client held the run back
    slow = client_overhead(Sut(8000), lag)  # the same lag on 8 s requests (an Offline queue): harmless
    assert fast["limited"] and "--client-workers" in fast["warning"]
    assert not slow["limited"] and slow["warning"] is None and slow["cpu_ms_per_request"] == 1.0
