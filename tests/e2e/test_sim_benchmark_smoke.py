"""Smoke test of benchmarks/sim_benchmark.py at N=1: it still runs end to end on the simulated node.

Not a timed test.  It checks what the recorded numbers in docs/benchmarks.md rest on: one
Intel container with an idmap refreshes with 6 API requests (login, the guard's listing of the
cluster: nodes and each node's containers, then the container's config, status, interfaces),
its apply opens 2 SSH connections (bpg's sudo probe and the idmap edit), a refresh opens
none, and destroy leaves the node empty.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import benchmarks.drift_check  # noqa: F401  (the ported drift benchmark still imports)
from benchmarks.sim_benchmark import drift_table, markdown_table, path_pattern, run_size, workload

pytestmark = pytest.mark.e2e


def test_path_pattern_and_workload_mix() -> None:
    assert path_pattern("GET /api2/json/nodes/pve/lxc/1003/config") == "GET /nodes/pve/lxc/{vmid}/config"
    assert path_pattern("GET /api2/json/nodes/pve/tasks/UPID:pve:0001:0002:0003:vzcreate:1000:root@pam:/status") \
        == "GET /nodes/pve/tasks/{upid}/status"
    specs = workload(10)
    assert [s.gpu for s in specs[:2]] == ["intel", "nvidia"]
    assert sum(s.idmap for s in specs) == 3 and not any(s.idmap for s in specs if s.gpu == "nvidia")


def test_sim_benchmark_runs_at_n_1(tmp_path: Path) -> None:
    row = run_size(1, tmp_path, repeat=1, log=lambda _msg: None)
    assert row.refresh.counts.by_pattern == {
        "POST /access/ticket": 1,
        "GET /nodes": 1,  # the guard's listing (README "What is guarded"): once per plan, whatever N
        "GET /nodes/pve/lxc": 1,
        "GET /nodes/pve/lxc/{vmid}/config": 1,
        "GET /nodes/pve/lxc/{vmid}/status/current": 1,
        "GET /nodes/pve/lxc/{vmid}/interfaces": 1,
    }
    assert (row.apply.counts.ssh_logins, row.refresh.counts.ssh_logins) == (2, 0)
    assert row.apply.counts.by_pattern["POST /nodes/pve/lxc/{vmid}/status/reboot"] == 1  # bpg reboots after idmap
    assert row.destroy is not None and row.destroy.counts.by_pattern["DELETE /nodes/pve/lxc/{vmid}"] == 1
    assert row.drift_ratio > 0 and row.profile is not None and row.profile.init_s > 0
    assert "| 1 | 1 |" in markdown_table([row]) and "| 1 |" in drift_table([row])
