"""The system description: what it reads, the MLPerf fields, `mlmeter sysinfo`, and its place in results."""

from __future__ import annotations

import json
import os

from mlmeter.cli.main import main
from mlmeter.system import describe_host, describe_storage


def test_description_matches_what_the_os_reports(tmp_path):
    d = describe_host(tmp_path)
    assert d["cpu"]["logical_cpus"] == os.cpu_count() and d["cpu"]["sockets"] >= 1
    assert d["memory_bytes"] and d["memory"]["total_bytes"] >= d["memory"]["available_bytes"] > 0
    assert d["software"]["packages"]["numpy"] and d["software"]["mlmeter"]
    assert d["storage"]["path"] == str(tmp_path.resolve()) and d["storage"]["filesystem"]
    f = d["mlperf_fields"]
    assert f["host_processor_vcpu_count"] == os.cpu_count() and f["number_of_nodes"] == 1
    assert f["accelerators_per_node"] == len(d["accelerators"])


def test_storage_of_a_missing_path_is_partial_not_an_error(tmp_path):
    st = describe_storage(tmp_path / "nope")
    assert st["mount"] and "device" not in st


def test_sysinfo_cli(capsys, tmp_path):
    assert main(["sysinfo"]) == 0
    assert "cpu " in capsys.readouterr().out
    assert main(["sysinfo", "--json", "--path", str(tmp_path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["storage"]["path"] == str(tmp_path.resolve()) and "mlperf_fields" in d
