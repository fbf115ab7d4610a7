"""The example stacks, applied by the real bpg/proxmox provider to the simulated node, booted
under LXC from what the node then holds, and the NVIDIA hookscript run on the host.

Everything is read from the node's files after the apply: `/etc/pve/lxc/<vmid>.conf`
(devN lines, raw `lxc.idmap` lines, `unprivileged`, `hookscript`), the hookscript
snippet bpg uploaded over SSH, and the node's /etc/subuid and /etc/subgid.  Device
nodes are substitutes (/dev/null's numbers under the GPU node names); the NVIDIA
host is faked through the hookscript's PVE_GPU_LXC_SYSROOT seam and a fake
nvidia-modprobe on PATH.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pve_gpu_lxc_testing.e2e.harness import SimEnv
from pve_gpu_lxc_testing.lxc import boot_all, boot_specs, hooks, plan
from pve_gpu_lxc_testing.lxc.model import ContainerSpec
from pve_gpu_lxc_testing.lxc.pvenode import spec_from_node
from pve_gpu_lxc_testing.lxc.render import host_rdev

from ..pvesim.test_api import Client
from .lxc_cases import SEED_LINES, SEED_ROOTFS_GROUPS

pytestmark = pytest.mark.lxc

NVIDIA_NODES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
NVIDIA_DRIVER = "575.64.03"


VMIDS = {"intel-jellyfin": 210, "nvidia-ollama": 220}


def node_container(node: SimEnv, stack: str) -> ContainerSpec:
    """The stack's container as the node holds it, with the node's own subuid/subgid lines."""
    files = node.sim.files
    spec = spec_from_node(files.conf_dir(), VMIDS[stack], name=stack.split("-")[1],
                          read_volume=lambda volid: node.volume_path(volid).read_bytes())
    subuid = tuple(files.path("/etc/subuid").read_text().split())
    subgid = tuple(files.path("/etc/subgid").read_text().split())
    return dataclasses.replace(spec, subuid_lines=subuid, subgid_lines=subgid)


def test_intel_jellyfin_stack_boots_with_the_seed_map_and_render_access(harness, applied_node) -> None:  # type: ignore[no-untyped-def]
    spec = node_container(applied_node, "intel-jellyfin")
    assert "root:108:1" in spec.subgid_lines  # the node allows the render passthrough (facts' subgid)
    # The template (debian-12-standard 12.2-1) has video 44 and render 106, as in the seed.
    spec = dataclasses.replace(spec, rootfs_groups=SEED_ROOTFS_GROUPS)
    result = boot_specs(harness, spec)[spec.name]
    assert result.returncode == 0, result.explain()
    assert result.problems() == [], "\n".join(result.problems()) + "\n" + result.explain()
    seen = result.observed
    assert [r.lxc_value() for r in seen.maps["u"] + seen.maps["g"]] == list(SEED_LINES)
    assert seen.nodes["/dev/dri/renderD128"][:2] == (0, 106)
    assert seen.probes[("in-render", "/dev/dri/renderD128", "w")] is True
    assert seen.probes[("outsider", "/dev/dri/renderD128", "r")] is False


def test_nvidia_ollama_stack_boots_with_the_default_map_and_all_four_nodes(harness, applied_node) -> None:  # type: ignore[no-untyped-def]
    spec = node_container(applied_node, "nvidia-ollama")
    assert tuple(d.path for d in spec.devices) == NVIDIA_NODES
    assert spec.idmap == ()  # no lxc.idmap lines: LXC gets PVE's default map for an unprivileged CT
    result = boot_specs(harness, spec)[spec.name]
    assert result.returncode == 0, result.explain()
    assert result.problems() == [], "\n".join(result.problems()) + "\n" + result.explain()
    seen = result.observed
    assert [r.lxc_value() for r in seen.maps["u"] + seen.maps["g"]] == ["u 0 100000 65536", "g 0 100000 65536"]
    for node in NVIDIA_NODES:
        device = next(d for d in spec.devices if d.path == node)
        assert seen.nodes[node] is not None, f"{node} missing inside"
        assert seen.nodes[node][:2] == (device.uid, device.gid)
        # what the stack promises: any container user can use the GPU nodes
        can_open = (seen.probes[("outsider", node, "r")], seen.probes[("outsider", node, "w")])
        assert can_open == (device.perm & 0o004 != 0, device.perm & 0o002 != 0)


# -- the hookscript, run on the host with Proxmox's arguments --------------------------


@pytest.fixture(scope="module")
def nvidia_hook(applied_node, tmp_path_factory) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    spec = node_container(applied_node, "nvidia-ollama")
    assert spec.hook_script, "the node's CT 220 has no hookscript snippet"
    return hooks.install_script(spec.hook_script, tmp_path_factory.mktemp("snippets")), spec.vm_id


def test_hook_pre_start_passes_with_the_matching_driver_and_makes_no_node(nvidia_hook, fake_host) -> None:  # type: ignore[no-untyped-def]
    script, vmid = nvidia_hook
    host = fake_host(NVIDIA_DRIVER)
    run = hooks.run_hook(script, vmid, "pre-start", host.env())
    assert run.returncode == 0, run.stderr
    assert list((host.sysroot / "dev").iterdir()) == []  # too late for devN: the node's boot makes them


def test_hook_refuses_a_different_host_driver_naming_both_versions(nvidia_hook, fake_host) -> None:  # type: ignore[no-untyped-def]
    script, vmid = nvidia_hook
    host = fake_host("580.65.06", nodes=NVIDIA_NODES)
    run = hooks.run_hook(script, vmid, "pre-start", host.env())
    assert run.returncode != 0
    assert "580.65.06" in run.stderr and NVIDIA_DRIVER in run.stderr, run.stderr
    assert f"CT {vmid}" in run.stderr


def test_hook_refuses_when_the_module_is_not_loaded(nvidia_hook, fake_host) -> None:  # type: ignore[no-untyped-def]
    script, vmid = nvidia_hook
    host = fake_host(None, nodes=NVIDIA_NODES)
    run = hooks.run_hook(script, vmid, "pre-start", host.env())
    assert run.returncode != 0
    assert "not loaded" in run.stderr, run.stderr


@pytest.mark.parametrize("phase", ["post-start", "pre-stop", "post-stop", "some-future-phase"])
def test_hook_other_phases_do_nothing_and_succeed(nvidia_hook, fake_host, phase: str) -> None:  # type: ignore[no-untyped-def]
    script, vmid = nvidia_hook
    host = fake_host("0.0.1", nodes=())  # would fail pre-start
    run = hooks.run_hook(script, vmid, phase, host.env())
    assert run.returncode == 0, run.stderr


def test_after_a_node_reboot_the_container_boots_with_the_nodes_the_boot_made(harness, applied_node) -> None:  # type: ignore[no-untyped-def]
    """The wiring under real LXC: the simulated node reboots (its NVIDIA nodes gone), its boot runs
    host-setup's unit, whose nvidia-modprobe mknods the nodes with the driver's numbers (no driver
    here: the nodes exist, nothing answers behind them); the container then boots under LXC with
    those very nodes, mapped as PVE's devN does."""
    api = Client.root(applied_node.sim)
    assert api.call("POST", "/nodes/pve/status", {"command": "reboot"}).status == 200
    assert api.call("GET", "/nodes/pve/lxc/220/status/current").data["status"] == "running"
    spec = node_container(applied_node, "nvidia-ollama")
    root = applied_node.node_root
    p = plan(spec, rdev_of=lambda path: host_rdev(f"{root}{path}"))
    assert {n.device.path: n.rdev for n in p.nodes} == {
        "/dev/nvidia0": (195, 0), "/dev/nvidiactl": (195, 255), "/dev/nvidia-uvm": (511, 0),
        "/dev/nvidia-uvm-tools": (511, 1)}
    result = boot_all([(spec.name, p)], harness)[spec.name]
    assert result.returncode == 0, result.explain()
    # Inside: each node with the driver's numbers, owner and mode as devN gives them.  Opening one
    # fails whoever tries (no driver answers behind 195:0 here), so the harness's open probes are
    # left out; the stand-in tests above prove the access rules on openable twins.
    for path, rdev in (("/dev/nvidia0", (195, 0)), ("/dev/nvidiactl", (195, 255)),
                       ("/dev/nvidia-uvm", (511, 0)), ("/dev/nvidia-uvm-tools", (511, 1))):
        seen = result.observed.nodes[path]
        assert seen is not None, f"{path} missing inside\n{result.explain()}"
        uid, gid, raw_mode, major, minor = seen
        assert (uid, gid, raw_mode & 0o7777, (major, minor)) == (0, 0, 0o666, rdev), seen
        assert raw_mode & 0o170000 == 0o020000  # a character device
    assert [line for line in result.problems() if "could not open" not in line] == []
