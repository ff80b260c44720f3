"""A seeded fuzzer of user.conf files: only ConfigError may escape mlmeter's parser, and every file it accepts
is read exactly as the official LoadGen reads it (its ``TestSettings.FromConfig`` is the oracle)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from mlmeter.loadgen import config as conf
from mlmeter.loadgen.settings import TestScenario, TestSettings

from .conftest import requires_official

pytestmark = [requires_official, pytest.mark.oracle]

KEYS = ["min_duration", "min_duration", "target_qps", "min_query_count", "max_duration", "min_query_count", "max_query_count", "target_qps", "target_latency",
        "target_latency_percentile", "samples_per_query", "max_async_queries", "performance_sample_count_override",
        "coalesce_queries", "mode", "use_token_latencies", "ttft_latency", "tpot_latency", "print_timestamps",
        "accuracy_log_sampling_target", "performance_issue_same_index", "sample_concatenate_permutation",
        "target_duration", "no_such_key"]
VALUES = ["0", "1", "7", "600000", "1000.5", "7.9", "7.0", "5.", ".5", "1e3", "1E-3", "2.5e+2", "0x1F", "0X10",
          "017", "08", "0x", "-1", "+5", "nan", "inf", "1e400", "9" * 25, "9" * 5000, "18446744073709551615",
          "18446744073709551616", "0x" + "f" * 300, "1" * 400 + ".5", "99", "3", "2", "12.25", "0.99", "1e", "abc",
          "１２", "1_000", "0b101", "1,5"]
GOOD = ["0", "1", "2", "3", "7", "99", "600000", "1000.5", "7.0", "12.25", "0.99", "0x1F", "017", "5.", ".5"]
SCENARIOS = ["*", "*", "Offline", "Server", "SingleStream", "MultiStream", "offline", "Bogus"]
MODELS = ["*", "resnet50", "llama2-70b", "gptj"]


def line(rng: random.Random) -> str:
    key = f"{rng.choice(MODELS)}.{rng.choice(SCENARIOS)}.{rng.choice(KEYS)}"
    value = rng.choice(GOOD) if rng.random() < 0.75 else rng.choice(VALUES)
    shape = rng.random()
    if shape < 0.85:
        return f"{key} = {value}"
    if shape < 0.74:
        return f"{key}={value}"
    if shape < 0.78:
        return f"{key} = {value} # note"
    if shape < 0.82:
        return f"{key} = {value} {rng.choice(VALUES)}"
    if shape < 0.86:
        return f"# {key} = {value}"
    if shape < 0.89:
        return f"\t{key}\t=\t{value}  "
    if shape < 0.92:
        return f"{key} == {value}"
    if shape < 0.95:
        return f"{key.replace('.', '', 1)} = {value}"
    return rng.choice(["", "   ", "#", "=", f"{key}", f"= {value}", "a.b.c.d = 1"])


def mutate(rng: random.Random) -> str:
    text = "\n".join(line(rng) for _ in range(rng.randint(1, 3)))
    r = rng.random()
    if r < 0.05:
        text = "\ufeff" + text
    elif r < 0.10:
        text = text.replace("\n", "\r\n")
    return text + ("\n" if rng.random() < 0.8 else "")


def official_read(lg, path, model, scenario):
    s = lg.TestSettings()
    rc = s.FromConfig(str(path), model, scenario, 1)
    return rc, s


def values(s) -> dict:
    out = {}
    for f in dataclasses.fields(TestSettings):
        if f.name == "completion_timeout_ms":
            continue
        v = getattr(s, f.name)
        out[f.name] = int(v) if f.name in ("scenario", "mode") else v
    return out


def test_fuzzed_user_conf_files(tmp_path):
    import mlperf_loadgen as lg

    warm = tmp_path / "warm.conf"
    warm.write_text("")
    lg.TestSettings().FromConfig(str(warm), "resnet50", "Offline", 1)  # the process's one mlperf.conf pass
    rng = random.Random(20261201)
    counts = {"files": 0, "refused": 0, "accepted": 0, "changed": 0}
    defaults = values(TestSettings())
    path = tmp_path / "user.conf"
    for k in range(6000):
        text = mutate(rng)
        path.write_bytes(text.encode("utf-8"))
        model, scenario = rng.choice(MODELS[1:]), rng.choice(["Offline", "Server", "SingleStream", "MultiStream"])
        ours = TestSettings(scenario=TestScenario[scenario])
        counts["files"] += 1
        try:
            conf.apply(ours, conf.read_file(path), model, scenario, conf.ConfKind.USER)
        except conf.ConfigError:
            counts["refused"] += 1
            continue
        counts["accepted"] += 1
        # a byte-order mark is dropped by mlmeter; the official reads it into the first key: compare without it
        if text.startswith("\ufeff"):
            path.write_bytes(text[1:].encode("utf-8"))
        rc, theirs = official_read(lg, path, model, scenario)
        assert rc == 0, f"case {k}: mlmeter accepted what the official refuses:\n{text}"
        mine = values(ours)
        official = values(theirs)
        official["scenario"] = int(TestScenario[scenario])
        counts["changed"] += any(mine[f] != defaults[f] for f in mine if f != "scenario")
        assert mine == official, f"case {k}:\n{text}\n" + str(
            {f: (mine[f], official[f]) for f in mine if mine[f] != official[f]})
    assert counts["files"] == 6000 and counts["refused"] > 1000 and counts["changed"] > 400, counts
    print(counts)
