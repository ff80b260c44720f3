"""Model download into the cache, against a loopback HTTP server: checksum, no partial files, clear errors."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from mlmeter.inference.download import fetch
from mlmeter.workloads import ModelSource, WorkloadError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"model bytes" * 1000)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_checks_md5_and_caches(server, tmp_path):
    md5 = hashlib.md5(b"model bytes" * 1000).hexdigest()
    src = ModelSource("model.onnx", f"{server}/model.onnx", md5)
    path = fetch(src, tmp_path / "cache")
    assert path.read_bytes() == b"model bytes" * 1000
    assert fetch(ModelSource("model.onnx", "http://127.0.0.1:9/never", md5), tmp_path / "cache") == path  # cached


def test_checksum_mismatch_keeps_nothing(server, tmp_path):
    src = ModelSource("model.onnx", f"{server}/model.onnx", "0" * 32)
    with pytest.raises(WorkloadError, match="checksum mismatch"):
        fetch(src, tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_unreachable_url_says_what_to_do(server, tmp_path):
    with pytest.raises(WorkloadError, match="pass --model-path"):
        fetch(ModelSource("x.onnx", f"{server}/missing.onnx", ""), tmp_path / "cache")
