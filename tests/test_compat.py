"""Compat fidelity: where an official harness can tell ``mlmeter.compat.mlperf_loadgen`` from the official
package, it must not. Each test runs both and compares (the official package is the oracle)."""

from __future__ import annotations

import importlib
import os
import stat
import threading

import pytest

from .conftest import requires_official, start_test
from .test_oracle_logs import detail_records, summary_lines
from .test_oracle_tokens_audit import TOKEN_KEYS, re_mask, token_harness

pytestmark = [requires_official, pytest.mark.oracle]
IMPLS = ("official", "ours")


def lg_of(impl):
    return importlib.import_module("mlperf_loadgen" if impl == "official" else "mlmeter.compat.mlperf_loadgen")


def enum_behaviour(lg):
    out = []
    for enum_name in ("TestScenario", "TestMode", "LoggingMode"):
        e = getattr(lg, enum_name)
        for name in e.__members__:
            m = getattr(e, name)
            try:
                padded = f"{m:>30}"
            except TypeError:
                padded = "TypeError"
            out.append((str(m), format(m), padded, repr(m), int(m), m.name, m.value, m == int(m),
                        hash(m) == hash(int(m)), m == getattr(e, name), {m: 1}[m]))
    return out


def test_enums_print_and_compare_as_the_binding():
    assert enum_behaviour(lg_of("ours")) == enum_behaviour(lg_of("official"))


SETS = [("bogus_field", 1), ("min_query_count", 1.5), ("min_query_count", True), ("min_query_count", -1),
        ("min_query_count", 2**64), ("min_query_count", 2**64 - 1), ("server_target_qps", 3),
        ("server_target_qps", "x"), ("server_target_qps", None), ("server_coalesce_queries", 1),
        ("server_coalesce_queries", "yes"), ("scenario", 3), ("mode", 2),
        ("server_find_peak_qps_decimals_of_precision", -3), ("server_find_peak_qps_decimals_of_precision", 2**40),
        ("use_token_latencies", 0.0), ("ttft_latency", 5), ("accuracy_log_probability", -0.5)]


def setting_outcomes(lg):
    out = []
    for name, value in SETS:
        s = lg.TestSettings()
        try:
            setattr(s, name, value)
            got = getattr(s, name)
            out.append(("ok", type(got).__name__, got))
        except (AttributeError, TypeError) as exc:
            out.append((type(exc).__name__,))
    return out


def test_settings_refuse_unknown_names_and_wrong_types_as_the_binding():
    assert setting_outcomes(lg_of("ours")) == setting_outcomes(lg_of("official"))


@pytest.mark.parametrize("impl", IMPLS)
def test_qdl_name_callback_is_called_only_when_the_test_asks(impl, tmp_path):
    lg = lg_of(impl)
    calls = []
    address = {}

    def name():
        calls.append(1)
        return f"qdl-{address['server']}"  # set after construction, as network harnesses do

    def issue(qs):
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

    qdl = lg.ConstructQDL(issue, lambda: None, name)
    assert calls == []
    address["server"] = "127.0.0.1:1"
    qsl = lg.ConstructQSL(16, 16, lambda s: None, lambda s: None)
    ts = lg.TestSettings()
    ts.scenario, ts.mode = lg.TestScenario.Offline, lg.TestMode.PerformanceOnly
    ts.min_duration_ms, ts.min_query_count, ts.offline_expected_qps = 0, 16, 1000
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path)
    lg.StartTestWithLogSettings(qdl, qsl, ts, ls)
    lg.DestroyQSL(qsl)
    lg.DestroyQDL(qdl)
    assert calls and "qdl-127.0.0.1:1" in (tmp_path / "mlperf_log_detail.txt").read_text()


def modes_under(impl, tmp_path, mask):
    old = os.umask(mask)
    try:
        def issue(qs):
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

        lg = lg_of(impl)
        (tmp_path / impl).mkdir()
        start_test(lg, issue, lg.ConstructQSL(16, 16, lambda s: None, lambda s: None),
                   dict(scenario="Offline", min_duration_ms=0, min_query_count=16, offline_expected_qps=1000),
                   tmp_path / impl)
    finally:
        os.umask(old)
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / impl).glob("mlperf_log_*")}


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_log_files_follow_the_umask(tmp_path, mask):
    ours, official = modes_under("ours", tmp_path, mask), modes_under("official", tmp_path, mask)
    assert ours == official and set(ours.values()) == {0o666 & ~mask}


def test_ttft_early_stopping_is_judged_only_after_tpot_passed(tmp_path):
    """TPOT over its bound: officially TTFT early stopping is then not evaluated (empty result)."""
    settings = dict(scenario="Server", min_duration_ms=0, min_query_count=700, use_token_latencies=True,
                    server_target_qps=20000, ttft_latency=10**9, tpot_latency=1)
    od, osum = token_harness("official", tmp_path / "o", settings)
    md, msum = token_harness("ours", tmp_path / "m", settings)

    def es(text):
        return {r[0]: r[1] for r in detail_records(text) if r[0].startswith("early_stopping")}

    assert es(md) == es(od) and es(od)["early_stopping_ttft_result"] == ""
    assert [re_mask(x) for x in summary_lines(msum)] == [re_mask(x) for x in summary_lines(osum)]
    assert TOKEN_KEYS  # the same token harness as the token differential tests


def test_audit_config_message_is_the_official_fixed_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere.cfg").write_text("*.*.min_query_count = 16\n")
    texts = {}
    for impl in IMPLS:
        lg = lg_of(impl)

        def issue(qs, lg=lg):
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

        sut, qsl = lg.ConstructSUT(issue, lambda: None), lg.ConstructQSL(16, 16, lambda s: None, lambda s: None)
        ts = lg.TestSettings()
        ts.scenario, ts.min_duration_ms, ts.offline_expected_qps = lg.TestScenario.Offline, 0, 1000
        ls = lg.LogSettings()
        ls.log_output.outdir = str(tmp_path / impl)
        (tmp_path / impl).mkdir()
        lg.StartTestWithLogSettings(sut, qsl, ts, ls, str(tmp_path / "elsewhere.cfg"))
        texts[impl] = [r[1] for r in detail_records((tmp_path / impl / "mlperf_log_detail.txt").read_text())
                       if "Audit Config" in str(r[1])]
    assert texts["ours"] == texts["official"] and texts["ours"]


def test_non_bytes_response_and_concurrent_response_callbacks(tmp_path):
    """A response that holds no bytes is recorded as the SUT's failure (never raised into it), and each
    QuerySamplesComplete call's callback sees only its own responses, from any number of threads."""
    import numpy as np

    from mlmeter.loadgen import LogSettings, TestScenario, TestSettings, run_test
    from mlmeter.loadgen.simulated import MemoryQSL, NullSUT

    class Odd(NullSUT):
        def issue(self, ids, indices):
            self._complete(ids, [object()] * len(ids))

    s = TestSettings(scenario=TestScenario.Offline, min_duration_ms=0, min_query_count=32, accuracy_log_probability=1.0)
    r = run_test(Odd(), MemoryQSL(32, 32), s, LogSettings(outdir=str(tmp_path / "odd")))
    assert r.valid is False and any("could not be logged" in x for x in r.reasons)

    lg = lg_of("ours")
    seen: dict[int, set[int]] = {}
    errors = []

    def issue(qs):
        def worker(chunk, tag):
            buf = np.zeros(4, np.uint8)

            def cb(resp, tag=tag):
                seen.setdefault(tag, set()).add(resp.id)

            try:
                lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, buf.ctypes.data, 4) for q in chunk], cb)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(qs[k::4], k)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in range(4):
            assert seen.get(k, set()) <= {q.id for q in qs[k::4]}

    ts = lg.TestSettings()
    ts.scenario, ts.mode = lg.TestScenario.Offline, lg.TestMode.AccuracyOnly
    (tmp_path / "cb").mkdir()
    start_test(lg, issue, lg.ConstructQSL(64, 64, lambda s: None, lambda s: None),
               dict(scenario="Offline", mode="AccuracyOnly"), tmp_path / "cb")
    assert not errors and sum(len(v) for v in seen.values()) == 64
