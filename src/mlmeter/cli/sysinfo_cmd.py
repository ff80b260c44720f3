"""``mlmeter sysinfo``: this machine as every result.json records it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlmeter.errors import MlmeterError
from mlmeter.system import describe_host


def add_arguments(si: argparse.ArgumentParser) -> None:
    si.add_argument("--json", action="store_true", help="the full description, with the MLPerf system fields")
    si.add_argument("--path", default=None, help="also describe the storage holding this path")
    si.set_defaults(func=cmd_sysinfo)


def cmd_sysinfo(a: argparse.Namespace) -> int:
    if a.path is not None and not Path(a.path).exists():
        raise MlmeterError(f"--path {a.path}: no such file or directory")
    d = describe_host(a.path)
    if a.json:
        print(json.dumps(d, indent=2))
        return 0
    cpu = d["cpu"]
    print(f"host      {d['hostname']}  ({', '.join(d['virtualization']['hints']) or 'bare metal or undetected'})")
    print(f"cpu       {cpu['model']}: {cpu['sockets']} socket(s), {cpu['physical_cores']} cores, "
          f"{cpu['logical_cpus']} threads ({cpu['usable_cpus']} usable), {cpu['max_mhz'] or '?'} MHz")
    print(f"          caches {', '.join(cpu['caches']) or '?'}; flags {' '.join(cpu['flags'])}")
    print(f"memory    {(d['memory_bytes'] or 0) / 2**30:.1f} GiB")
    print(f"os        {d['operating_system']['distribution'] or ''} (kernel {d['operating_system']['kernel']})")
    accel = d["accelerators"]
    print(f"accel     {', '.join(x['name'] for x in accel) if accel else 'none visible'}")
    if "storage" in d:
        st = d["storage"]
        print(f"storage   {st['path']}: {st.get('filesystem')} on {st.get('device', st.get('source'))}"
              f"{' (rotational)' if st.get('rotational') else ''}")
    sw = d["software"]
    print(f"software  mlmeter {sw['mlmeter']} ({(sw['mlmeter_git_commit'] or 'no git')[:12]}), {sw['python']}; "
          + ", ".join(f"{k} {v}" for k, v in sw["packages"].items()))
    return 0


