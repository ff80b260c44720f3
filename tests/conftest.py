"""Shared fixtures: a harness that runs the official package or mlmeter's compat API identically."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Recording:
    outdir: Path
    loads: list[list[int]] = field(default_factory=list)
    unloads: list[list[int]] = field(default_factory=list)
    issued: list[int] = field(default_factory=list)
    calls: int = 0

    def text(self, name: str) -> str:
        return (self.outdir / f"mlperf_log_{name}").read_text()


def run_harness(impl: str, outdir: Path, settings: dict, total: int = 100, perf: int = 64,
                trace: bool = False, payload: bool = False) -> Recording:
    """A typical harness loop, unmodified between the two implementations but for the import."""
    lg = importlib.import_module("mlperf_loadgen" if impl == "official" else "mlmeter.compat.mlperf_loadgen")
    import array

    rec = Recording(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    keep = []

    def issue(qs):
        rec.calls += 1
        responses = []
        for q in qs:
            rec.issued.append(q.index)
            if payload:
                buf = array.array("q", [q.index])
                keep.append(buf)
                addr, n = buf.buffer_info()
                responses.append(lg.QuerySampleResponse(q.id, addr, n * buf.itemsize))
            else:
                responses.append(lg.QuerySampleResponse(q.id, 0, 0))
        lg.QuerySamplesComplete(responses)

    qsl = lg.ConstructQSL(total, perf, lambda s: rec.loads.append(list(s)), lambda s: rec.unloads.append(list(s)))
    start_test(lg, issue, qsl, settings, outdir, trace)
    return rec


def start_test(lg, issue, qsl, settings: dict, outdir: Path, trace: bool = False) -> None:
    """Build TestSettings/LogSettings the way harnesses do and run StartTestWithLogSettings."""
    sut = lg.ConstructSUT(issue, lambda: None)
    ts = lg.TestSettings()
    for k, v in settings.items():
        if k == "scenario":
            v = getattr(lg.TestScenario, v)
        elif k == "mode":
            v = getattr(lg.TestMode, v)
        setattr(ts, k, v)
    ls = lg.LogSettings()
    ls.log_output.outdir = str(outdir)
    ls.enable_trace = trace
    lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def official_available() -> bool:
    try:
        importlib.import_module("mlperf_loadgen")
    except ImportError:
        return False
    return True


requires_official = pytest.mark.skipif(
    not official_available() and not os.environ.get("CI"), reason="mlcommons-loadgen (test extra) not installed"
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Model downloads, caches and the run store go to the test's own directory, never to the user's."""
    monkeypatch.setenv("MLMETER_CACHE", str(tmp_path / "mlmeter-cache"))
    monkeypatch.setenv("MLMETER_STORE", str(tmp_path / "mlmeter-store"))


@pytest.fixture(autouse=True, scope="session")
def _private_store_and_state(tmp_path_factory):
    """The tests never write into the user's real run store or crash folder."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("user-state")
    mp.setenv("MLMETER_STORE", str(root / "store"))
    mp.setenv("MLMETER_STATE", str(root / "state"))
    yield
    mp.undo()
