"""Token IDs from the server in the accuracy log (``--token-ids``) and the TEST06 audit of ``mlmeter serve``
(``--compliance TEST06``), each verification held against the official ``run_verification.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlmeter.cli.main import main
from mlmeter.serving.openai import Reply, read_event, read_whole

from .inference_oracles import run_official_verification
from .records import record

pytest.importorskip("aiohttp")

from mlmeter.serving.mock import EOS_ID, MockServer, MockSettings, token_id  # noqa: E402

QUICK = ["--min-duration-ms", "500", "--min-query-count", "20", "--quiet"]


def _serve(url: str, out: Path, *extra: str) -> int:
    return main(["serve", "--endpoint", url, "--model", "mock-llm", "--output", str(out), *QUICK, *extra])


def _entries(run: Path) -> list[dict]:
    return json.loads((run / "mlperf_log_accuracy.json").read_text())


def _ids(hex_data: str) -> list[int]:
    return np.frombuffer(bytes.fromhex(hex_data), np.int32).tolist()


@pytest.mark.oracle
@pytest.mark.parametrize(("scenario", "eos_tail"), [("Server", 0), ("SingleStream", 2), ("Offline", 0)])
def test_test06_on_the_mock_agrees_with_the_official_verification(tmp_path, scenario, eos_tail):
    with MockServer(MockSettings(tokens=6, eos_tail=eos_tail)) as m:
        code = _serve(m.url, tmp_path / "r", "--scenario", scenario, "--qps", "50", "--compliance", "TEST06")
    audit = tmp_path / "r" / "TEST06"
    rec = record(audit)
    passed = eos_tail == 0
    assert rec.body["mode"] == "TEST06" and rec.body["compliance"]["passed"] is passed
    assert rec.verdict.value == ("VALID" if passed else "INVALID") and (code == 0) is (passed and
                                                                                 record(tmp_path / "r").verdict.value == "VALID")
    assert [c.name for c in rec.checks if c.decisive] == ["compliance TEST06"]  # its performance is not judged
    assert "sample_concatenate_permutation = 0" in (audit / "audit.config").read_text()
    entries = _entries(audit)
    assert len(entries) == 100  # TEST06 logs every one of its 100 queries
    want = [token_id(f" t{i}") for i in range(6)] + [EOS_ID] * eos_tail
    assert all(_ids(e["data"]) == want and e["token_count"] == len(want) for e in entries)
    if scenario != "Offline":
        assert all(_ids(e["token_data"]) == want[:1] for e in entries)
    run_official_verification("TEST06", audit, audit, tmp_path / "w", "--scenario", scenario)
    theirs = (tmp_path / "w" / "out" / "TEST06" / "verify_accuracy.txt").read_text()
    assert (audit / "verify_accuracy.txt").read_text() == theirs
    assert ("TEST06 verification complete" in theirs) is passed


def test_a_server_that_sends_no_token_ids_fails_the_samples_saying_so(tmp_path, capsys):
    with MockServer(MockSettings(tokens=4, token_ids=False)) as m:
        code = _serve(m.url, tmp_path / "r", "--scenario", "SingleStream", "--token-ids")
    rec = record(tmp_path / "r")
    assert code == 1 and rec.verdict.value == "INVALID"
    s = rec.body["serving"]
    assert s["failed_requests"] == s["requests"] > 0
    assert any("sent no output token IDs" in f and "--api llamacpp" in f for f in s["failures"])


def test_accuracy_with_token_ids_scores_the_text_the_server_sent(tmp_path):
    runs = {}
    with MockServer(MockSettings(echo=True, tokens=64)) as m:
        for name, extra in (("text", []), ("ids", ["--token-ids"])):
            code = _serve(m.url, tmp_path / name, "--scenario", "Offline", "--mode", "accuracy", "--count", "12", *extra)
            runs[name] = record(tmp_path / name)
            assert code == 0, runs[name].reasons
    assert runs["ids"].body["llm_accuracy"]["scores"] == runs["text"].body["llm_accuracy"]["scores"]
    assert runs["ids"].body["llm_accuracy"]["scores"]["rouge1"] >= 99.0
    text = {e["qsl_idx"]: bytes.fromhex(e["data"]).decode() for e in _entries(tmp_path / "text")}
    for e in _entries(tmp_path / "ids"):
        assert _ids(e["data"]) == [token_id(" " + w) for w in text[e["qsl_idx"]].split()]
        assert e["token_count"] == len(text[e["qsl_idx"]].split())


@pytest.mark.parametrize(("args", "message"), [
    (["--compliance", "TEST01"], "mlmeter serve runs TEST06"),
    (["--compliance", "TEST06", "--api", "generate"], "Triton's generate extension does not send"),
    (["--token-ids", "--api", "generate"], "Triton's generate extension does not send"),
    (["--compliance", "TEST06", "--rates", "1,2"], "audits one LoadGen run"),
    (["--compliance", "TEST06", "--concurrency", "2"], "audits one LoadGen run"),
])
def test_audits_and_token_ids_the_run_cannot_have_are_refused_in_one_line(tmp_path, capsys, args, message):
    code = main(["serve", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--output", str(tmp_path / "r"),
                 "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_vllm_token_ids_are_read_from_stream_chunks_and_whole_replies():
    r = Reply()
    for data, at in ((b'{"choices": [{"text": "", "token_ids": [7]}]}', 1),  # a token that is not text yet
                     (b'{"choices": [{"text": " a", "token_ids": [8, 9]}]}', 2),
                     (b'{"choices": [{"text": "", "token_ids": [2], "finish_reason": "stop"}]}', 3),
                     (b'{"choices": [], "usage": {"completion_tokens": 4}}', 4)):
        assert read_event(r, data, at)
    assert r.token_ids == [7, 8, 9, 2] and r.chunk_ns == [2] and r.tokens == 4 and r.token_source == "server usage"
    whole = Reply()
    read_whole(whole, b'{"choices": [{"text": "ab", "token_ids": [3, 4]}]}', 5)
    assert whole.token_ids == [3, 4] and whole.tokens == 2 and whole.token_source == "server token ids"
    bad = Reply()
    assert not read_event(bad, b'{"choices": [{"text": "x", "token_ids": ["7"]}]}', 6)
    assert bad.error is not None and "malformed token IDs" in bad.error


def test_llama_cpp_native_events_give_text_tokens_and_the_end():
    r = Reply()
    assert read_event(r, b'{"content": " K", "tokens": [42], "stop": false, "tokens_predicted": 1}', 1)
    assert read_event(r, b'{"content": "ara", "tokens": [43], "stop": false, "tokens_predicted": 2}', 2)
    assert not read_event(r, b'{"content": "", "tokens": [], "stop": true, "tokens_predicted": 2}', 3)  # the end
    assert r.text == " Kara" and r.token_ids == [42, 43] and r.chunk_ns == [1, 2] and r.usage_tokens == 2


@pytest.mark.parametrize(("routes", "software", "version"), [
    ({"/version": {"version": "0.32.0"}}, "vLLM", "0.32.0"),
    ({"/version": {"version": "x"}, "/props": {"build_info": "b6123-abc", "default_generation_settings": {}}},
     "llama.cpp", "b6123-abc"),
    ({"/v2": {"name": "triton", "version": "2.59.0", "extensions": []}}, "triton", "2.59.0"),
    ({"/info": {"model_id": "m", "version": "3.3.4"}}, "text-generation-inference", "3.3.4"),
    ({}, "uvicorn", None),  # nothing answers: the Server header names it
])
def test_an_endpoint_is_described_by_the_first_route_that_reads_as_its_own(monkeypatch, routes, software, version):
    from mlmeter.serving import server_info

    monkeypatch.setattr(server_info, "_probe", lambda url, headers: routes.get(url.removeprefix("http://h")))
    info = server_info.describe("http://h", {}, {"id": "m", "owned_by": "openai"}, "uvicorn")
    assert info["software"] == software and info["version"] == version and info["model"]["id"] == "m"


def _tokenizer_dir(path: Path, eos_id: int) -> Path:
    """A word-level tokenizer whose ``tokenizer_config.json`` names ``</s>`` (ID ``eos_id``) as its EOS."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(8)]
    words.insert(eos_id, "</s>")
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    path.mkdir()
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "</s>"}}))
    return path


@pytest.mark.parametrize(("eos_id", "passed"), [(2, False), (5, True)])
def test_test06_takes_the_eos_token_from_the_tokenizer(tmp_path, eos_id, passed):
    """The mock ends each reply in two tokens of ID 2: an EOS only for a tokenizer whose EOS is 2."""
    tok = _tokenizer_dir(tmp_path / "tok", eos_id)
    with MockServer(MockSettings(tokens=4, eos_tail=2)) as m:
        _serve(m.url, tmp_path / "r", "--scenario", "SingleStream", "--compliance", "TEST06", "--tokenizer", str(tok))
    assert record(tmp_path / "r" / "TEST06").body["compliance"]["passed"] is passed
