"""Smoke test of the synthesis benchmark (benchmarks/): it still runs, and ours == raw JSON.

Not a timed test: it runs the smallest workload that has every preset (N=3: Intel
with idmap, AMD ROCm, NVIDIA with its hookscript file) once, through the same
fresh-process workers as the real benchmark.
"""

from __future__ import annotations

import pytest
from pve_gpu_lxc.engine import TerraformStack
from pve_gpu_lxc.engine import Testing as CdktfTesting  # renamed: pytest would try to collect `Testing*`

from benchmarks.compare import diff
from benchmarks.synth_benchmark import markdown_table, run_size
from benchmarks.workload import NODES, STACK_SIZE, plan, stacks
from pve_gpu_lxc import GpuContainer, IntelGpu, ProxmoxProvider, Template


def test_workload_spreads_presets_nodes_and_stacks() -> None:
    specs = plan(1000)
    grouped = stacks(specs)
    assert len(grouped) == 10 and all(len(members) <= STACK_SIZE for members in grouped.values())
    assert {s.node for s in specs} == set(NODES)
    assert {s.gpu for s in specs} == {"intel", "amd-rocm", "nvidia"}
    with_idmap = [s for s in specs if s.idmap]
    assert with_idmap and all(s.gpu != "nvidia" for s in with_idmap)
    assert len({(s.node, s.vm_id) for s in specs}) == 1000


def test_diff_names_every_difference() -> None:
    ours = {"s": {"resource": {"ct": {"vm_id": 1, "tags": ["a"]}}, "only": 1}}
    raw = {"s": {"resource": {"ct": {"vm_id": 2, "tags": ["a", "b"]}}}}
    assert diff(ours, ours) == []
    assert diff(ours, raw) == [
        "$.s.only: only in ours",
        "$.s.resource.ct.tags: ours [\"a\"] != raw [\"a\", \"b\"]",
        "$.s.resource.ct.vm_id: ours 1 != raw 2",
    ]
    assert diff(1, True) == ["$: ours 1 != raw true"]  # JSON types differ though Python calls them equal


def test_benchmark_runs_and_ours_equals_raw_cdktf() -> None:
    row = run_size(3, repeat=1)
    assert row.differences == []
    assert row.json_equal
    assert row.ours.json_bytes == row.raw.json_bytes > 0
    for sample in (row.ours, row.raw):
        assert sample.wall_s > 0 and sample.python_peak_mib > 0
        assert sample.node_peak_mib > 0, "jsii's node process was not found: peak RSS would miss it"
    assert "| 3 | 1 |" in markdown_table([row])


def test_provider_check_still_runs_when_the_provider_comes_after_the_container() -> None:
    """Guards the benchmark-driven fast path in GpuContainer: the synth-time provider check is
    skipped only when the stack's provider already exists and allows the container."""
    stack = TerraformStack(CdktfTesting.app(), "late")
    GpuContainer(stack, "ct", node_name="pve", vm_id=300, hostname="ct", gpus=[IntelGpu()],
                 template=Template.existing("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"))
    ProxmoxProvider(stack, "proxmox", environ={"PROXMOX_VE_API_TOKEN": "root@pam!tf=secret"})
    with pytest.raises(RuntimeError, match=r"\[late/ct\] GpuContainer: it sets device passthrough"):
        CdktfTesting.synth(stack, True)
