"""`pve-gpu-lxc check` reads a running container from the node: the intel-jellyfin container,
booted under real LXC from the conf the real bpg/proxmox provider wrote to the simulated node,
kept running, and probed over the node's SSH exactly as on PVE (`lxc-info -n 210 -s -p`, then
/proc/<pid>/root/etc/group, /proc/<pid>/gid_map and the passed nodes under /proc/<pid>/root/dev).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc_testing.e2e.harness import FACTS, SimEnv
from pve_gpu_lxc_testing.lxc import plan, stand_in_rdev
from pve_gpu_lxc_testing.lxc.running import containers_run_on, start

from .lxc_cases import SEED_ROOTFS_GROUPS
from .test_lxc_example_stacks import node_container

pytestmark = pytest.mark.lxc


def check_running_jellyfin(node: SimEnv, harness, rootfs_groups, tmp_path: Path, capsys) -> tuple[int, str, dict]:
    spec = dataclasses.replace(node_container(node, "intel-jellyfin"), name="210", rootfs_groups=rootfs_groups)
    start(harness, "210", plan(spec, stand_in_rdev))
    env = {**os.environ, **node.env}
    env.pop("SSH_AUTH_SOCK", None)
    report = tmp_path / "check.json"
    with containers_run_on(node.node_root, harness.lxcpath):
        before = node.node_fingerprint()
        capsys.readouterr()
        code = cli.main(["check", "intel-jellyfin", "--no-synth", "--outdir", str(node.work_dir / "cdktf.out"),
                         "--facts", f"pve={FACTS}", "--json", str(report)], environ=env)
        out = capsys.readouterr().out
        assert node.node_fingerprint() == before  # read through /proc/<pid>/root: nothing written
    return code, out, json.loads(report.read_text())


def test_a_running_container_with_the_template_gids_is_clean(harness, applied_node, tmp_path, capsys) -> None:
    code, out, report = check_running_jellyfin(applied_node, harness, SEED_ROOTFS_GROUPS, tmp_path, capsys)
    assert code == 0, out
    assert "CT 210 on pve (proxmox_virtual_environment_container.jellyfin, running): clean" in out
    (ct,) = report["stacks"][0]["containers"]
    assert ct["running"] is True and "in-container" in ct["checked"]


def test_a_wrong_render_gid_inside_the_container_is_found(harness, applied_node, tmp_path, capsys) -> None:
    # the template's render group is 107, but devN gives renderD128 gid 106 (what the stack declared)
    code, out, report = check_running_jellyfin(applied_node, harness, (("video", 44), ("render", 107)),
                                               tmp_path, capsys)
    assert code == 2, out
    lines = [ln.strip() for ln in out.splitlines() if "Fix:" in ln]
    assert lines == [
        "in-container: 'render' is gid 107 in the container's /etc/group, but /dev/dri/renderD128 is given gid "
        "106: members of render cannot open it (VA-API: 'No VA display', transcoding silently falls back to the "
        "CPU). Fix: declare the template's GID, `Template.existing(..., render_gid=107)`, and "
        "`cdktf deploy intel-jellyfin` (devN then carries gid 107); or inside CT 210: `groupmod -g 106 render`."]
    (ct,) = report["stacks"][0]["containers"]
    (finding,) = ct["findings"]
    assert (finding["item"], finding["subject"], finding["expected"], finding["found"]) == (
        "in-container", "render", 106, 107)
