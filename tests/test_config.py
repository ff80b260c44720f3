"""Config parsing: every error names file, line and key; precedence; conversions; official equivalence."""

import pytest

from mlmeter.loadgen import config as conf
from mlmeter.loadgen.settings import TestMode, TestScenario, TestSettings

from .conftest import requires_official


def write(tmp_path, text, name="user.conf"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("line,msg", [
    ("resnet50.Server.target_qps=5", "spaces around '='"),
    ("resnet50.Server.target_qps 5", "expected 'key = value'"),
    ("resnet50.Server.target_qps = 5 # comment", "trailing comments are not allowed"),
    ("resnet50.Server.target_qps = 5 6", "exactly one value"),
    ("resnet50.server.target_qps = 5", "unknown scenario 'server'"),
    ("target_qps = 5", "model.scenario.name"),
    ("resnet50.Server.target_qps = fast", "not a non-negative integer or decimal"),
    ("resnet50.Server.target_qps = -5", "not a non-negative integer or decimal"),
    ("*.*.mode = 7", "invalid mode 7"),
])
def test_errors_name_file_line_key(tmp_path, line, msg):
    p = write(tmp_path, "# header\n\n" + line + "\n")
    with pytest.raises(conf.ConfigError) as exc:
        conf.load_settings("resnet50", "Server", user_conf=p)
    err = exc.value
    assert err.line == 3 and err.path == str(p) and msg in str(err)
    assert str(err).startswith(f"{p}:3: ")


def test_missing_file(tmp_path):
    with pytest.raises(conf.ConfigError, match="file not found"):
        conf.load_settings("resnet50", "Server", user_conf=tmp_path / "nope.conf")


def test_nothing_applied_from_a_bad_file(tmp_path):
    s = TestSettings()
    cf = conf.parse_text("*.*.min_duration = 5\n*.*.mode = 9\n", "x.conf")
    with pytest.raises(conf.ConfigError):
        conf.apply(s, cf, "m", "Server", conf.ConfKind.USER)
    assert s.min_duration_ms == 10000


def test_precedence_and_fixed_scenarios(tmp_path):
    p = write(tmp_path, "\n".join([
        "*.*.min_duration = 1000",
        "m.*.min_duration = 2000",
        "*.Server.min_duration = 3000",
        "m.Server.min_duration = 4000",
        "m.Server.target_qps = 123.5",
        "m.Offline.target_qps = 77",
        "m.Server.target_latency = 7.0",
        "m.SingleStream.target_latency = 0.5",
        "m.Server.target_latency_percentile = 97",
    ]))
    s = conf.load_settings("m", "Server", user_conf=p, mlperf_conf=write(tmp_path, "", "empty.conf"))
    assert s.min_duration_ms == 4000
    assert s.server_target_qps == 123.5 and s.offline_expected_qps == 77.0  # fixed-scenario keys read anyway
    assert s.server_target_latency_ns == 7_000_000  # integer key: a whole number written 7.0, then ms -> ns
    assert s.single_stream_expected_latency_ns == 500000.0
    assert s.server_target_latency_percentile == pytest.approx(0.97)
    s2 = conf.load_settings("other", "Offline", user_conf=p, mlperf_conf=write(tmp_path, "", "empty.conf"))
    assert s2.min_duration_ms == 1000


def test_user_conf_cannot_change_seeds(tmp_path):
    p = write(tmp_path, "*.*.qsl_rng_seed = 5\n*.*.accuracy_log_probability = 50\n")
    s = conf.load_settings("resnet50", "Offline", user_conf=p)
    assert s.qsl_rng_seed == 2085463073848966840 and s.accuracy_log_probability == 0.0


def test_hex_and_octal_integers(tmp_path):
    p = write(tmp_path, "*.*.min_query_count = 0x10\n*.*.max_query_count = 010\n")
    s = conf.load_settings("m", "Offline", user_conf=p)
    assert (s.min_query_count, s.max_query_count) == (16, 8)


def test_builtin_resnet_values():
    s = conf.load_settings("resnet50", TestScenario.Server)
    assert s.server_target_latency_ns == 15_000_000 and s.performance_sample_count_override == 1024
    assert s.min_duration_ms == 600000 and s.mode == TestMode.PerformanceOnly


def test_token_keys_need_use_token_latencies():
    s = conf.load_settings("llama2-70b", "Server")
    assert s.use_token_latencies and (s.ttft_latency, s.tpot_latency) == (2_000_000_000, 200_000_000)


@requires_official
@pytest.mark.oracle
def test_every_builtin_model_matches_official():
    import mlperf_loadgen as lg

    cf = conf.builtin_mlperf_conf()
    models = sorted({k.rsplit(".", 2)[0] for k in cf.entries} - {"*"}) + ["unknown-model"]
    fields = [f for f in TestSettings.__dataclass_fields__ if f not in ("scenario", "mode", "completion_timeout_ms")]
    for m in models:
        for sc in conf.SCENARIO_NAMES:
            o = lg.TestSettings()
            o.FromConfig("", m, sc, 0)
            ours = TestSettings()
            conf.apply(ours, cf, m, sc, conf.ConfKind.MLPERF)
            for f in fields:
                assert getattr(ours, f) == pytest.approx(getattr(o, f), rel=1e-12), (m, sc, f)


@pytest.mark.parametrize("value,read_as", [("7.9", 7), ("1e3", 1), ("08", 0), ("1.5e1", 1)])
def test_integer_key_refuses_what_the_official_would_misread(tmp_path, value, read_as):
    """The official parser keeps the digits it can read (1e3 -> 1 ms): mlmeter refuses, naming what it would be."""
    p = write(tmp_path, f"*.*.min_duration = {value}\n")
    with pytest.raises(conf.ConfigError, match=f"would be read as {read_as} by the official LoadGen") as exc:
        conf.load_settings("m", "Offline", user_conf=p)
    assert exc.value.line == 1 and exc.value.key == "*.*.min_duration"


def test_byte_order_mark_and_huge_values(tmp_path):
    p = tmp_path / "bom.conf"
    p.write_bytes("\ufeff*.*.min_duration = 1234\n".encode())
    assert conf.load_settings("m", "Offline", user_conf=p).min_duration_ms == 1234
    for value in ("9" * 5000, "18446744073709551616", "0x" + "f" * 300, "1e400"):
        key = "target_qps" if value.startswith(("0x", "1e")) else "min_query_count"
        with pytest.raises(conf.ConfigError):
            conf.load_settings("m", "Offline", user_conf=write(tmp_path, f"*.*.{key} = {value}\n"))
