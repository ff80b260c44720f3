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
    assert f["accelerators_per_node"] == str(len(d["accelerators"]))  # "0" on a CPU-only host: the checker needs a non-empty value


def test_storage_of_a_missing_path_is_partial_not_an_error(tmp_path):
    st = describe_storage(tmp_path / "nope")
    assert st["mount"] and "device" not in st


def test_sysinfo_cli(capsys, tmp_path):
    assert main(["sysinfo"]) == 0
    assert "cpu " in capsys.readouterr().out
    assert main(["sysinfo", "--json", "--path", str(tmp_path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["storage"]["path"] == str(tmp_path.resolve()) and "mlperf_fields" in d


def test_inventory_reads_a_sysfs_tree_in_mlperf_sysinfo_formats(tmp_path):
    from mlmeter.system import inventory as inv

    for cpu, shared in (("cpu0", "0"), ("cpu1", "1")):
        for idx, (level, kind, size, sh) in enumerate((("1", "Data", "32K", shared), ("2", "Unified", "1024K", shared),
                                                       ("3", "Unified", "32768K", "0-1"))):
            d = tmp_path / "cpu" / cpu / "cache" / f"index{idx}"
            d.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", sh)):
                (d / name).write_text(value + "\n")
    assert inv.cache_summary(tmp_path / "cpu") == "L1d: 64 KiB (2 instances); L2: 2 MiB (2 instances); L3: 32 MiB (1 instance)"
    for name, rot, sectors in (("vda", "1", "536870912"), ("nvme0n1", "0", "1953525168"), ("loop0", "0", "100")):
        (tmp_path / "block" / name / "queue").mkdir(parents=True)
        (tmp_path / "block" / name / "queue" / "rotational").write_text(rot)
        (tmp_path / "block" / name / "size").write_text(sectors)
    assert inv.disks(tmp_path / "block") == [("SSD", 1953525168 * 512), ("HDD", 536870912 * 512)]
    (tmp_path / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\nVERSION_ID="12"\n')
    assert inv.os_release(tmp_path / "os-release") == "debian 12"
