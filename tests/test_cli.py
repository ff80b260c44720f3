"""The command line: the demo, explained verdicts, exit codes, config errors."""


from mlmeter.cli.main import main

from .records import body, record  # noqa: F401


def test_loadgen_valid_run_writes_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["loadgen", "--scenario", "Server", "--sut", "null", "--qps", "600", "--min-duration-ms", "1500",
                 "--target-latency-ms", "100", "--output", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert code == 0 and "Server PerformanceOnly: VALID" in text, text
    rec = record(out)
    assert rec.verdict.value == "VALID" and rec.body["metrics"]["completed_samples_per_sec"] > 0
    for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json"):
        assert (out / f).is_file()


def test_loadgen_invalid_explains_and_exits_1(tmp_path, capsys):
    code = main(["loadgen", "--scenario", "SingleStream", "--sut", "null", "--min-duration-ms", "300",
                 "--expected-latency-ns", "10000000", "--output", str(tmp_path), "--quiet"])
    text = capsys.readouterr().out
    assert code == 1 and "INVALID" in text and "[FAIL] min_duration" in text and "->" in text


def test_bad_user_conf_exits_2_with_location(tmp_path, capsys):
    conf = tmp_path / "user.conf"
    conf.write_text("*.Server.target_qps=5\n")
    code = main(["loadgen", "--scenario", "Server", "--user-conf", str(conf), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and f"{conf}:1: *.Server.target_qps" in err


def test_find_peak(tmp_path, capsys):
    code = main(["loadgen", "--scenario", "Server", "--mode", "find-peak", "--sut", "fixed", "--latency-ms", "10",
                 "--workers", "1", "--qps", "20", "--target-latency-ms", "200", "--min-duration-ms", "400",
                 "--min-query-count", "10", "--output", str(tmp_path), "--quiet"])
    text = capsys.readouterr().out
    assert code in (0, 1) and "peak QPS meeting the latency bound" in text, text
    peak = float(text.split("peak QPS meeting the latency bound: ")[1].split()[0].replace(",", ""))
    assert 20 <= peak < 200  # one 10 ms server (100 QPS) cannot keep 200 QPS within 200 ms


def test_unknown_user_conf_key_is_reported(tmp_path, capsys):
    conf = tmp_path / "user.conf"
    conf.write_text("*.Offline.target_qsp = 5\n*.Offline.min_duration = 100\n")
    code = main(["loadgen", "--scenario", "Offline", "--sut", "null", "--user-conf", str(conf),
                 "--output", str(tmp_path / "o"), "--quiet"])
    captured = capsys.readouterr()
    assert "unknown key *.Offline.target_qsp is ignored" in captured.err
    assert code in (0, 1) and "Offline PerformanceOnly" in captured.out
