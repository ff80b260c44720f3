"""What an HTML report was made from: each run directory and the SHA-256 of its ``result.json``, embedded in
the page, so ``mlmeter report --check PAGE`` can say which runs changed since and ``--refresh PAGE`` can make
the page again from them."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from mlmeter.errors import MlmeterError
from mlmeter.report.runs import RunView

_TAG = re.compile(r'<script type="application/json" id="mlmeter-sources">(.*?)</script>', re.S)


def digest(run_dir: Path) -> str | None:
    f = run_dir / "result.json"
    return hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else None


def embed(views: list[RunView]) -> str:
    data = [{"path": str(v.path.resolve()), "sha256": digest(v.path)} for v in views]
    return ('<script type="application/json" id="mlmeter-sources">'
            + json.dumps(data).replace("</", "<\\/") + "</script>")


def read_sources(page: Path) -> list[dict[str, Any]]:
    m = _TAG.search(page.read_text(encoding="utf-8", errors="replace"))
    if m is None:
        raise MlmeterError(f"{page}: not an HTML report made by mlmeter (no list of its runs inside)")
    try:
        data = json.loads(m.group(1))
    except ValueError as exc:
        raise MlmeterError(f"{page}: the list of its runs is damaged ({exc})") from exc
    return [d for d in data if isinstance(d, dict) and "path" in d]


def stale(page: Path) -> list[str]:
    """One line per run of the page that changed or vanished since the page was made (empty: up to date)."""
    out = []
    for s in read_sources(page):
        now = digest(Path(s["path"]))
        if now is None:
            out.append(f"{s['path']}: its result.json is gone")
        elif now != s.get("sha256"):
            out.append(f"{s['path']}: its result.json changed since the report was made")
    return out
