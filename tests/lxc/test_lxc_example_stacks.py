"""The synthesized example stacks, booted under LXC, and the NVIDIA hookscript run on the host.

Everything is read from `main.py`'s synthesized cdk.tf.json: the container
body (idmap, device_passthrough) and the hook script behind
hook_script_file_id.  Device nodes are stand-ins (/dev/null's numbers under
the GPU node names); the NVIDIA host is faked through the hookscript's
PVE_GPU_LXC_SYSROOT seam and a fake nvidia-modprobe on PATH.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from pve_gpu_lxc_testing.lxc import boot_all, boot_specs, bpg, hooks, plan
from pve_gpu_lxc_testing.lxc.model import ContainerSpec
from pve_gpu_lxc_testing.lxc.render import PVE_STOCK_SUBID, host_rdev

from .lxc_cases import SEED_LINES, SEED_ROOTFS_GROUPS

pytestmark = pytest.mark.lxc

NVIDIA_NODES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
NVIDIA_DRIVER = "575.64.03"


def stack_container(stacks: Path, stack: str) -> tuple[dict, ContainerSpec]:
    doc = bpg.load_document(stacks / stack / "cdk.tf.json")
    (spec,) = bpg.containers(doc).values()
    return doc, spec


def as_on_a_pve_node(doc: dict, spec: ContainerSpec) -> ContainerSpec:
    """Subids a node would have: PVE's stock range plus what the stack tells the user to add."""
    advice = bpg.subid_output(doc, spec.vm_id)
    uid_extra, gid_extra = advice if advice else ((), ())
    return dataclasses.replace(
        spec, subuid_lines=(PVE_STOCK_SUBID, *uid_extra), subgid_lines=(PVE_STOCK_SUBID, *gid_extra)
    )


def test_intel_jellyfin_stack_boots_with_the_seed_map_and_render_access(harness, synthesized) -> None:  # type: ignore[no-untyped-def]
    doc, spec = stack_container(synthesized, "intel-jellyfin")
    assert bpg.subid_output(doc, spec.vm_id) is not None, "the stack no longer outputs its subid lines"
    # The template (debian-12-standard 12.2-1) has video 44 and render 106, as in the seed.
    spec = dataclasses.replace(as_on_a_pve_node(doc, spec), rootfs_groups=SEED_ROOTFS_GROUPS)
    result = boot_specs(harness, spec)[spec.name]
    assert result.returncode == 0, result.explain()
    assert result.problems() == [], "\n".join(result.problems()) + "\n" + result.explain()
    seen = result.observed
    assert [r.lxc_value() for r in seen.maps["u"] + seen.maps["g"]] == list(SEED_LINES)
    assert seen.nodes["/dev/dri/renderD128"][:2] == (0, 106)
    assert seen.probes[("in-render", "/dev/dri/renderD128", "w")] is True
    assert seen.probes[("outsider", "/dev/dri/renderD128", "r")] is False


def test_nvidia_ollama_stack_boots_with_the_default_map_and_all_four_nodes(harness, synthesized) -> None:  # type: ignore[no-untyped-def]
    doc, spec = stack_container(synthesized, "nvidia-ollama")
    assert tuple(d.path for d in spec.devices) == NVIDIA_NODES
    result = boot_specs(harness, as_on_a_pve_node(doc, spec))[spec.name]
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

@pytest.fixture
def fake_host(tmp_path) -> Iterator[Callable[..., hooks.FakeNvidiaHost]]:  # type: ignore[no-untyped-def]
    """Builds FakeNvidiaHosts and removes their device nodes afterwards (pytest keeps tmp dirs)."""
    made: list[hooks.FakeNvidiaHost] = []

    def make(driver_version: str | None, nodes: Sequence[str] = ()) -> hooks.FakeNvidiaHost:
        host = hooks.FakeNvidiaHost(tmp_path / f"host{len(made)}", driver_version, nodes)
        made.append(host)
        return host

    yield make
    for host in made:
        shutil.rmtree(host.root)
        assert not host.root.exists()


@pytest.fixture(scope="module")
def nvidia_hook(synthesized, tmp_path_factory) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    _, spec = stack_container(synthesized, "nvidia-ollama")
    assert spec.hook_script, "the NVIDIA stack has no hook script behind hook_script_file_id"
    return hooks.install_script(spec.hook_script, tmp_path_factory.mktemp("snippets")), spec.vm_id


def test_hook_pre_start_passes_with_matching_driver_and_creates_nodes_via_nvidia_modprobe(nvidia_hook, fake_host) -> None:  # type: ignore[no-untyped-def]
    script, vmid = nvidia_hook
    host = fake_host(NVIDIA_DRIVER, nodes=["/dev/nvidia0"])  # uvm nodes not made yet
    run = hooks.run_hook(script, vmid, "pre-start", host.env())
    assert run.returncode == 0, run.stderr
    assert host.modprobe_calls() == ["-u -c0"]
    for node in NVIDIA_NODES:
        assert (host.sysroot / node.lstrip("/")).is_char_device(), f"{node} was not created"


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


def test_hook_names_missing_nodes_when_nvidia_modprobe_is_absent(nvidia_hook, fake_host) -> None:  # type: ignore[no-untyped-def]
    script, vmid = nvidia_hook
    host = fake_host(NVIDIA_DRIVER, nodes=["/dev/nvidia0", "/dev/nvidiactl"])
    run = hooks.run_hook(script, vmid, "pre-start", host.env(with_modprobe=False))
    assert run.returncode != 0
    assert "/dev/nvidia-uvm" in run.stderr and "/dev/nvidia-uvm-tools" in run.stderr, run.stderr
    assert host.modprobe_calls() == []


@pytest.mark.parametrize("phase", ["post-start", "pre-stop", "post-stop", "some-future-phase"])
def test_hook_other_phases_do_nothing_and_succeed(nvidia_hook, fake_host, phase: str) -> None:  # type: ignore[no-untyped-def]
    script, vmid = nvidia_hook
    host = fake_host("0.0.1", nodes=())  # would fail pre-start
    run = hooks.run_hook(script, vmid, phase, host.env())
    assert run.returncode == 0, run.stderr
    assert host.modprobe_calls() == []


def test_nvidia_start_sequence_after_a_host_reboot(harness, synthesized, nvidia_hook, fake_host) -> None:  # type: ignore[no-untyped-def]
    """PVE's order: hook pre-start, then devN stats the host nodes, then the container starts.

    No NVIDIA node exists yet (as after a reboot); the hook must create all the
    nodes devN needs, or the stat fails and the start with it.
    """
    script, vmid = nvidia_hook
    doc, spec = stack_container(synthesized, "nvidia-ollama")
    host = fake_host(NVIDIA_DRIVER)
    pre = hooks.run_hook(script, vmid, "pre-start", host.env())
    assert pre.returncode == 0, pre.stderr
    p = plan(as_on_a_pve_node(doc, spec), rdev_of=lambda path: host_rdev(f"{host.sysroot}{path}"))
    result = boot_all([(spec.name, p)], harness)[spec.name]
    assert result.returncode == 0, result.explain()
    assert result.problems() == [], "\n".join(result.problems())
    assert sorted(n for n, seen in result.observed.nodes.items() if seen) == sorted(NVIDIA_NODES)
    post = hooks.run_hook(script, vmid, "post-stop", host.env())
    assert post.returncode == 0, post.stderr
