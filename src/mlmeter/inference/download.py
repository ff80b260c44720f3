"""Fetch a model file by URL into the model cache, checking its MD5; never leaves a partial file behind."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from mlmeter.util.atomic import file_mode
from mlmeter.workloads.base import ModelSource, WorkloadError


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(source: ModelSource, cache_dir: Path, *, timeout_s: float = 60.0) -> Path:
    """The cached file for ``source``, downloading it first if needed; raises ``WorkloadError`` with the cause."""
    target = cache_dir / "models" / source.filename
    if target.is_file():
        if source.md5 and md5_of(target) != source.md5:
            raise WorkloadError(
                f"{target}: checksum mismatch (MD5 {md5_of(target)}, expected {source.md5}); delete the file "
                "or pass --model-path"
            )
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{source.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source.url, timeout=timeout_s) as resp:
            os.fchmod(out.fileno(), file_mode())
            for block in iter(lambda: resp.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        if source.md5 and h.hexdigest() != source.md5:
            raise WorkloadError(
                f"download of {source.url}: checksum mismatch (MD5 {h.hexdigest()}, expected {source.md5}); "
                "the file was discarded"
            )
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise WorkloadError(
            f"cannot download {source.url} ({exc}); without network, download it elsewhere and pass "
            f"--model-path, or place it at {target}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
